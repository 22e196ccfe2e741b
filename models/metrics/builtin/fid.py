"""FID: the Fréchet distance between Gaussians fitted to real and generated features (float64)."""
from __future__ import annotations

from typing import Any

from models.metrics.frechet import frechet_distance_fitted
from models.metrics.registry import FAKE, REAL, Metric, MetricInputs, register


@register
class FrechetInceptionDistance(Metric):
    name = "fid"
    needs = frozenset({REAL, FAKE})
    per_class = True

    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]:
        real, fake = inputs.real, inputs.fake
        assert real is not None and fake is not None
        n_real, n_fake, dim = real.num_samples, fake.num_samples, real.feature_dim
        out: dict[str, Any] = {"num_real": n_real, "num_fake": n_fake}
        if min(n_real, n_fake) < 2:
            return {"fid": None, "insufficient_samples": True, **out}
        fid = frechet_distance_fitted(real.features - real.mean, real.mean, real.covariance,
                                      fake.features - fake.mean, fake.mean, fake.covariance)
        # With n <= D samples a covariance has rank n - 1 < D: FID is then computed exactly for those
        # statistics, but it is strongly biased upwards and not comparable across sample counts.
        return {"fid": fid, "rank_deficient": min(n_real, n_fake) - 1 < dim, "insufficient_samples": False, **out}
