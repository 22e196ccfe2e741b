"""Inception Score of the generated images, with torch-fidelity's maths (logits without the fc bias, shuffled
with RandomState(seed), mean and std over splits)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.metrics.registry import FAKE_LOGITS, Metric, MetricInputs, register, require


@register
class InceptionScore(Metric):
    name = "is"
    needs = frozenset({FAKE_LOGITS})
    defaults = {"splits": 10, "seed": 2020}

    def check_options(self, options: Mapping[str, Any]) -> None:
        splits, seed = options["splits"], options["seed"]
        require(isinstance(splits, int) and not isinstance(splits, bool) and splits >= 1, "is splits must be >= 1")
        require(isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2 ** 32,
                "is seed must be in [0, 2**32)")

    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]:
        from torch_fidelity.metric_isc import isc_features_to_metric

        logits = inputs.fake_logits
        assert logits is not None
        n = int(logits.shape[0])
        splits = min(int(options["splits"]), n)
        if n < 2:
            return {"is": None, "is_std": None, "splits": splits, "insufficient_samples": True, "num_fake": n}
        out = isc_features_to_metric(logits, splits=splits, shuffle=True, rng_seed=int(options["seed"]))
        return {"is": float(out["inception_score_mean"]), "is_std": float(out["inception_score_std"]),
                "splits": splits, "insufficient_samples": False, "num_fake": n}
