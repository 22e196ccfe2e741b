"""Improved precision and recall (Kynkäänniemi et al. 2019) on k-NN manifolds (k = 3), with torch-fidelity's
maths: precision is the fraction of generated samples inside some real sample's k-NN ball, recall the fraction
of real samples inside some generated sample's ball. Both are also computed for each class (beside diversity)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.metrics.registry import FAKE, REAL, Metric, MetricInputs, register, require


def _precision_recall(inputs: MetricInputs, k: int) -> dict[str, Any]:
    key = f"precision_recall:{k}"
    if key not in inputs.cache:
        from torch_fidelity.metric_prc import prc_features_to_metric

        real, fake = inputs.real, inputs.fake
        assert real is not None and fake is not None
        counts = {"k": k, "num_real": real.num_samples, "num_fake": fake.num_samples}
        if min(real.num_samples, fake.num_samples) <= k:  # a k-NN ball needs k other samples
            inputs.cache[key] = {"precision": None, "recall": None, "insufficient_samples": True, **counts}
        else:
            # torch-fidelity's convention: features_1 generated, features_2 real.
            out = prc_features_to_metric(fake.features, real.features, prc_neighborhood=k, prc_batch_size=10000,
                                         save_cpu_ram=False, verbose=False)
            inputs.cache[key] = {"precision": float(out["precision"]), "recall": float(out["recall"]),
                                 "insufficient_samples": False, **counts}
    return inputs.cache[key]


def _check_k(options: Mapping[str, Any]) -> None:
    k = options["k"]
    require(isinstance(k, int) and not isinstance(k, bool) and k >= 1, "k must be an integer >= 1")


class _Manifold(Metric):
    """Precision and recall come from one k-NN computation; each metric keeps its own figure."""

    needs = frozenset({REAL, FAKE})
    per_class = True
    defaults = {"k": 3}
    other: str

    def check_options(self, options: Mapping[str, Any]) -> None:
        _check_k(options)

    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]:
        out = _precision_recall(inputs, int(options["k"]))
        return {k: v for k, v in out.items() if k != self.other}


@register
class Precision(_Manifold):
    name = "precision"
    other = "recall"


@register
class Recall(_Manifold):
    name = "recall"
    other = "precision"
