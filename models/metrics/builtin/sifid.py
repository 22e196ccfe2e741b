"""SIFID: the Fréchet distance between the position statistics of one real and one generated image's spatial
feature maps, averaged over the pairs (models.metrics.sifid makes them)."""
from __future__ import annotations

from typing import Any

import torch

from models.metrics.frechet import frechet_distance
from models.metrics.registry import PAIRS, Metric, MetricInputs, register


@register
class SingleImageFID(Metric):
    name = "sifid"
    needs = frozenset({PAIRS})

    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]:
        p = inputs.pairs
        assert p is not None
        out: dict[str, Any] = {"pairing": p.how, "num_pairs": len(p.index), "num_real": len(p.real_mean),
                               "num_fake": len(p.fake_mean), "positions": p.positions}
        if not p.index:
            return {"sifid": None, "sifid_std": None, "insufficient_samples": True, **out}
        values = torch.tensor([frechet_distance(p.real_mean[r], p.real_cov[r], p.fake_mean[i], p.fake_cov[i])
                               for i, r in enumerate(p.index)], dtype=torch.float64)
        return {"sifid": float(values.mean()), "sifid_std": float(values.std(correction=0)),
                # With no more positions than channels a covariance is rank-deficient (as FID's with few images).
                "rank_deficient": p.positions - 1 < p.feature_dim, "insufficient_samples": False, **out}
