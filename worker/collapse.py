"""The collapse flag: intra-class diversity (models/metrics/builtin/diversity.py) measured while a generator
trains, carried by its model and repeated by every generate job that uses it.

A train job measures PROBE_PER_CLASS images per class, drawn from the same seeds at every sample grid, in the
auto backbone's features against all the dataset's real images. The model's diversity is that of the snapshot
it registers; below COLLAPSE_THRESHOLD the model is flagged "collapsed". An evaluate job that measures diversity
sets the model's flag afresh from its own figure.
"""
from __future__ import annotations

from typing import Any

import torch

from core.kinds._backbones import AUTO
from core.tables import RegisteredModel
from models.architectures import SamplingNetwork, get_architecture
from models.config import GanConfig
from models.metrics.builtin.diversity import COLLAPSE_THRESHOLD, diversity, pixel_spread_ratio
from models.metrics.features import FeatureSet
from models.snapshot import Sampler
from worker.generator_quality import Evaluator
from worker.runner import JobContext

PROBE_PER_CLASS = 16
COLLAPSED = "collapsed"


def collapse_flags(value: float | None) -> list[str]:
    return [COLLAPSED] if value is not None and value < COLLAPSE_THRESHOLD else []


def model_warnings(model: RegisteredModel) -> list[str]:
    if COLLAPSED not in (model.flags or []):
        return []
    value = model.metrics.get("diversity")
    shown = f"{value:.3g}" if isinstance(value, (int, float)) else "unknown"
    return [f"model {model.id} is flagged as collapsed: diversity {shown} < {COLLAPSE_THRESHOLD}"]


def figures(result: dict[str, Any]) -> dict[str, float]:
    """The numbers of a probe's result that go into a job's metrics."""
    return {name: result[name] for name in ("diversity", "pixel_spread") if result.get(name) is not None}


class DiversityProbe:
    """Diversity of a generator's images in the auto backbone's features; a GanCallbacks.measure."""

    def __init__(self, ctx: JobContext, evaluator: Evaluator, config: GanConfig) -> None:
        self.ctx, self.evaluator, self.config = ctx, evaluator, config
        self.labels = [c for c in range(config.num_classes) for _ in range(PROBE_PER_CLASS)]
        self.conditional = get_architecture(config.architecture).class_conditional
        self.latest: dict[str, Any] = {}

    def measure(self, sampler: Sampler) -> dict[str, Any]:
        """The diversity metric's result, with the pixel spread ratio ("pixel_spread") beside it."""
        backbone, real = self.evaluator.backbone, self.evaluator.real
        images = sampler.generate(self.labels, list(range(len(self.labels))))
        labels = torch.tensor(self.labels) if self.conditional else None
        fake = FeatureSet.from_features(backbone.features(images), backbone=backbone.name,
                                        backbone_fingerprint=backbone.fingerprint, labels=labels,
                                        class_names=self.evaluator.class_names if self.conditional else None)
        return {**diversity(real, fake), "pixel_spread": self._pixel_spread(images, labels),
                "backbone": AUTO, "backbone_fingerprint": backbone.fingerprint}

    def _pixel_spread(self, images: torch.Tensor, labels: torch.Tensor | None) -> float | None:
        real, real_labels = self.evaluator.images()
        if labels is None:
            return pixel_spread_ratio(images, real)
        ratios = [pixel_spread_ratio(images[labels == c], real[real_labels == c]) for c in labels.unique().tolist()]
        values = [r for r in ratios if r is not None]
        return sum(values) / len(values) if values else None

    def __call__(self, step: int, network: SamplingNetwork) -> dict[str, float]:
        self.latest = self.measure(Sampler(self.config, network, torch.device(self.config.device)))
        self.ctx.event("diversity", self.latest, step)
        return figures(self.latest)
