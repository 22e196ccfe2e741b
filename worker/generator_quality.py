"""Generator quality, for evaluate jobs and for evaluation during training.

Real-image features are computed once per dataset content, backbone and image size, then kept in the
object store; a new dataset or new backbone weights give a new key, so nothing stale is ever read. So is the
"auto" backbone: trained on the training split of the images compared with (core.splits.stratified_split with
the augmentation report's default test fraction and AUTO_SPLIT_SEED, so a default report's test images stay
unseen) and stored under the digest of those images, labels and size; the real features it is measured against
are all the dataset's, as for every backbone.
"""
from __future__ import annotations

from typing import Any

import torch

from core.kinds._backbones import AUTO, INCEPTION
from core.splits import DEFAULT_TEST_FRACTION, stratified_split
from core.storage_keys import auto_backbone_key, feature_stats_key
from core.tables import Backbone, Dataset
from core.weights import WeightsError, inception_weights
from models.architectures import get_architecture
from models.data import TrainingImages
from models.metrics.auto import AutoBackbone, auto_backbone_digest, load_auto_backbone, train_auto_backbone
from models.metrics.backbones import Backbone as FeatureBackbone
from models.metrics.backbones import load_inception, load_torchscript
from models.metrics.evaluate import evaluate, extract_feature_set
from models.metrics.features import FeatureSet
from models.metrics.registry import PAIRS, get_metric
from models.monitor import Monitor
from models.snapshot import Sampler
from worker.inputs import load_row, load_training_images
from worker.pairing import pairing
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


AUTO_SPLIT_SEED = 0


AUTO_SPLIT = (DEFAULT_TEST_FRACTION, AUTO_SPLIT_SEED)


def auto_backbone(ctx: JobContext, images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                  device: str, split: tuple[float, int] = AUTO_SPLIT) -> AutoBackbone:
    """The auto backbone for these images (a dataset's, all of them), trained once per content on the training
    part of `split` (test fraction, seed): a sweep that holds other images out trains one that never saw them."""
    train, _ = stratified_split(labels, *split)
    images, labels = images[train], labels[train]
    key = auto_backbone_key(auto_backbone_digest(images, labels, class_names))
    if ctx.store.exists(key):
        return load_auto_backbone(ctx.store.get_bytes(key), device=device)
    blob = train_auto_backbone(images, labels, class_names, device=device, monitor=Monitor(None, ctx.should_stop))
    ctx.store.put_bytes(key, blob)
    return load_auto_backbone(blob, device=device)


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
                 channels: int, crop: str = "resize",
                 loaded: tuple[torch.Tensor | TrainingImages, torch.Tensor] | None = None,
                 auto_split: tuple[float, int] = AUTO_SPLIT) -> None:
        """`loaded`: the dataset as load_training_images gave it for this size and crop, where the caller has it
        (a train job), so that it is not decoded again. `auto_split`: the split the auto backbone trains on."""
        self.ctx, self.dataset = ctx, dataset
        self.class_names = [c["name"] for c in dataset.classes]
        self.size = (resolution, channels, crop)
        self._loaded = loaded
        self._images: tuple[torch.Tensor, torch.Tensor] | None = None
        if backbone_ref == AUTO:
            self.backbone: FeatureBackbone = auto_backbone(ctx, *self.images(), self.class_names, device, auto_split)
        else:
            self.backbone = load_backbone(ctx, backbone_ref, device)
        self.real = self._real_features()

    def images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The real images generators are compared with, and their labels; decoded once, when first needed."""
        if self._images is None:
            images, labels = self._loaded or load_training_images(self.ctx.store, self.dataset, *self.size)
            if isinstance(images, TrainingImages):
                # A crop="random" model makes RxR patches at native scale: real patches at that scale are what it
                # is compared with, one fixed crop per image so the statistics can be cached.
                images = images.fixed_crops()
            self._images = (images, labels)
        return self._images

    def _real_features(self) -> FeatureSet:
        store = self.ctx.store
        key = feature_stats_key(self.dataset.sha256, self.backbone.fingerprint, *self.size)
        if store.exists(key):
            return FeatureSet.from_bytes(store.get_bytes(key))
        real = extract_feature_set(self.backbone, *self.images(), self.class_names)
        store.put_bytes(key, real.to_bytes())
        return real

    def run(self, sampler: Sampler, metrics: list[str], num_samples: int, seed: int,
            real: FeatureSet | None = None) -> dict[str, Any]:
        """Generated images spread over the model's classes like the dataset's, each class from its seeds, against
        all the dataset's images or `real` (features of some of them in this backbone)."""
        classes = sampler.config.class_names
        counts = {c["name"]: c["count"] for c in self.dataset.classes}
        shares = split_by_share(num_samples, [counts[name] for name in classes])
        names = [name for name, share in zip(classes, shares) for _ in range(share)]
        labels, seeds = [classes.index(n) for n in names], list(range(seed, seed + len(names)))
        fake = sampler.generate(labels, seeds)
        conditional = get_architecture(sampler.config.architecture).class_conditional
        fake_labels = torch.tensor([self.class_names.index(n) for n in names]) if conditional else None
        pairs = None
        if any(PAIRS in get_metric(name).needs for name in metrics):  # SIFID
            pairs = pairing(sampler, names, seeds, fake, *self.images(), self.class_names)
        return evaluate(self.backbone, None, None, fake, fake_labels, metrics, self.class_names,
                        real_stats=self.real if real is None else real, pairing=pairs)


def headline(result: dict[str, Any]) -> dict[str, float | None]:
    """The one figure per metric that a model carries, e.g. {"fid": 41.2, "kid": 0.031}."""
    return {name: entry.get(get_metric(name).headline or name) for name, entry in result["metrics"].items()}
