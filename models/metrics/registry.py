"""Metric registry; importing this module registers every metric in models/metrics/builtin/.

A metric declares what it needs (``needs``: real features, fake features, fake logits), whether it is also
computed for each class of a conditional model (``per_class``) and its options with their defaults, and
returns a dict of JSON-able values: its numbers, flags (e.g. ``rank_deficient``, ``insufficient_samples``)
and the sample counts that produced them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from models.metrics.errors import MetricsError
from models.metrics.features import FeatureSet
from models.registry import Registry

if TYPE_CHECKING:
    from models.metrics.sifid import PairedStats

REAL = "real"  # real FeatureSet
FAKE = "fake"  # generated FeatureSet
FAKE_LOGITS = "fake_logits"  # Inception logits of the generated images
PAIRS = "pairs"  # spatial feature statistics of each generated image and its paired real image (models.metrics.sifid)
NEEDS = frozenset({REAL, FAKE, FAKE_LOGITS, PAIRS})


@dataclass
class MetricInputs:
    real: FeatureSet | None = None
    fake: FeatureSet | None = None
    fake_logits: torch.Tensor | None = None  # float64 [N, 1008]
    pairs: PairedStats | None = None
    # Shared by the metrics of one evaluation on these inputs (e.g. precision and recall share their k-NN work).
    cache: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    name: ClassVar[str]
    needs: ClassVar[frozenset[str]]
    per_class: ClassVar[bool] = False
    defaults: ClassVar[Mapping[str, Any]] = {}
    headline: ClassVar[str | None] = None  # the value a model carries for it; None: the value named like it

    @abstractmethod
    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]: ...

    def resolve_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise MetricsError(f"unknown options for {self.name!r}: {unknown}; known: {sorted(self.defaults)}")
        resolved = {**self.defaults, **options}
        self.check_options(resolved)
        return resolved

    def check_options(self, options: Mapping[str, Any]) -> None:  # noqa: B027  (an optional hook)
        """Raise MetricsError for unusable option values (before any feature is extracted)."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise MetricsError(message)


_REGISTRY: Registry[Metric] = Registry("metric")
get_metric = _REGISTRY.get
metric_names = _REGISTRY.names


def register(cls: type[Metric]) -> type[Metric]:
    if not cls.needs <= NEEDS:
        raise ValueError(f"metric {cls.name!r} needs unknown inputs {sorted(cls.needs - NEEDS)}")
    return _REGISTRY.add(cls)


import models.metrics.builtin  # noqa: E402,F401  (must follow register(): the modules use it)
