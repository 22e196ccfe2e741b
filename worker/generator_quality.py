"""Generator quality, for evaluate jobs and for evaluation during training.

Real-image features are computed once per dataset content, backbone and image size, then kept in the
object store; a new dataset or new backbone weights give a new key, so nothing stale is ever read.
"""
from __future__ import annotations

from typing import Any

import torch

from core.kinds._backbones import INCEPTION
from core.storage_keys import feature_stats_key
from core.tables import Backbone, Dataset
from core.weights import WeightsError, inception_weights
from models.architectures import get_architecture
from models.data import TrainingImages
from models.metrics.backbones import Backbone as FeatureBackbone
from models.metrics.backbones import load_inception, load_torchscript
from models.metrics.evaluate import evaluate, extract_feature_set
from models.metrics.features import FeatureSet
from models.metrics.registry import get_metric
from models.snapshot import Sampler
from worker.inputs import load_row, load_training_images
from worker.runner import JobContext, JobFailed


def load_backbone(ctx: JobContext, ref: str, device: str) -> FeatureBackbone:
    if ref == INCEPTION:
        try:
            return load_inception(inception_weights(ctx.settings, ctx.store), device=device)
        except WeightsError as exc:
            raise JobFailed("weights_missing", str(exc)) from None
    row = load_row(ctx, Backbone, ref, "backbone")
    return load_torchscript(ctx.store.get_bytes(row.object_key), name=row.name, in_channels=row.in_channels,
                            device=device)


def split_by_share(total: int, counts: list[int]) -> list[int]:
    """`total` spread in proportion to `counts`, largest remainders first, summing exactly to `total`."""
    whole = sum(counts)
    exact = [total * c / whole for c in counts]
    shares = [int(x) for x in exact]
    for i in sorted(range(len(counts)), key=lambda i: exact[i] - shares[i], reverse=True)[: total - sum(shares)]:
        shares[i] += 1
    return shares


class Evaluator:
    """Real features of one dataset at one image size, against which generators are measured: whole images resized
    for a crop="resize" model, crops of native-size images for a crop="random" one."""

    def __init__(self, ctx: JobContext, dataset: Dataset, backbone_ref: str, device: str, resolution: int,
                 channels: int, crop: str = "resize") -> None:
        self.ctx, self.dataset = ctx, dataset
        self.class_names = [c["name"] for c in dataset.classes]
        self.backbone = load_backbone(ctx, backbone_ref, device)
        self.real = self._real_features(resolution, channels, crop)

    def _real_features(self, resolution: int, channels: int, crop: str) -> FeatureSet:
        store = self.ctx.store
        key = feature_stats_key(self.dataset.sha256, self.backbone.fingerprint, resolution, channels, crop)
        if store.exists(key):
            return FeatureSet.from_bytes(store.get_bytes(key))
        images, labels = load_training_images(store, self.dataset, resolution, channels, crop)
        if isinstance(images, TrainingImages):
            # A crop="random" model makes RxR patches at native scale: real patches at that scale are what it is
            # compared with, one fixed crop per image so the statistics can be cached.
            images = images.fixed_crops()
        real = extract_feature_set(self.backbone, images, labels, self.class_names)
        store.put_bytes(key, real.to_bytes())
        return real

    def run(self, sampler: Sampler, metrics: list[str], num_samples: int, seed: int) -> dict[str, Any]:
        """Generated images spread over the model's classes like the dataset's, each class from its seeds."""
        classes = sampler.config.class_names
        counts = {c["name"]: c["count"] for c in self.dataset.classes}
        shares = split_by_share(num_samples, [counts[name] for name in classes])
        names = [name for name, share in zip(classes, shares) for _ in range(share)]
        fake = sampler.generate([classes.index(n) for n in names], list(range(seed, seed + len(names))))
        conditional = get_architecture(sampler.config.architecture).conditional
        fake_labels = torch.tensor([self.class_names.index(n) for n in names]) if conditional else None
        return evaluate(self.backbone, None, None, fake, fake_labels, metrics, self.class_names, real_stats=self.real)


def headline(result: dict[str, Any]) -> dict[str, float | None]:
    """The one figure per metric that a model carries, e.g. {"fid": 41.2, "kid": 0.031}."""
    return {name: entry.get(get_metric(name).headline or name) for name, entry in result["metrics"].items()}
