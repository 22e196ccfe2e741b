"""The "auto" backbone: the penultimate features of a small CNN trained on a dataset's own classes, for quality
metrics with nothing imported (no Inception weights, no domain backbone).

The caller chooses the images it learns from (the service: the dataset's training split) and caches the trained
weights under ``auto_backbone_digest`` of them: the same images, labels, class names and size give the same key,
and the training recipe is part of the digest. Training is bit-identical on the CPU for the same inputs. The
fingerprint is the sha256 of the weights, so feature statistics cached under it are never mixed up with
another auto backbone's. A classifier needs two classes at least: a one-class dataset has no auto backbone.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

import torch

from models.checkpoint import CheckpointError
from models.classification import ClassifierConfig, load_classifier, resize_images, save_classifier, train_classifier
from models.classifiers import classifier_features
from models.data import to_training_range
from models.metrics.backbones import Backbone, canonical_state_dict, state_dict_fingerprint
from models.metrics.errors import MetricsError
from models.monitor import SILENT, Monitor

AUTO_NAME = "auto"
ARCHITECTURE = "small-cnn"
EPOCHS = 40  # what benchmarks/quality.py measured its FD ratio and diversity with
BATCH_SIZE = 128  # images per forward pass: the CNN is small
_DIGEST_VERSION = b"defectgen-auto-backbone/1\0"


class AutoBackbone(Backbone):
    def __init__(self, config: ClassifierConfig, model: torch.nn.Module, device: str | torch.device,
                 batch_size: int | None) -> None:
        super().__init__(device, batch_size or BATCH_SIZE)
        self.name = AUTO_NAME
        self.in_channels = config.channels
        self.resolution = config.resolution
        self.model = model.to(self.device).eval()
        self.fingerprint = state_dict_fingerprint(canonical_state_dict(model.state_dict()))
        probe = torch.zeros(2, config.channels, config.resolution, config.resolution, device=self.device)
        with torch.inference_mode():
            self.feature_dim = int(classifier_features(ARCHITECTURE, self.model, probe).shape[1])

    def _run(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if batch.shape[-2:] != (self.resolution, self.resolution):
            batch = resize_images(batch, self.resolution, self.in_channels)
        return classifier_features(ARCHITECTURE, self.model, to_training_range(batch)), None


def _config(images: torch.Tensor, class_names: Sequence[str], device: str) -> ClassifierConfig:
    return ClassifierConfig(architecture=ARCHITECTURE, class_names=list(class_names), channels=int(images.shape[1]),
                            resolution=int(images.shape[-1]), epochs=EPOCHS, classical_augmentation=True,
                            device=device)


def auto_backbone_digest(images: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str]) -> str:
    """sha256 of what an auto backbone learns from (uint8 images [N, C, R, R], labels [N]) and how."""
    recipe = {k: v for k, v in _config(images, class_names, "cpu").to_dict().items() if k != "device"}
    digest = hashlib.sha256(_DIGEST_VERSION)
    digest.update(json.dumps([recipe, list(images.shape)], sort_keys=True).encode() + b"\0")
    digest.update(images.contiguous().cpu().reshape(-1).numpy())
    digest.update(labels.to(torch.int64).contiguous().cpu().numpy())
    return digest.hexdigest()


def train_auto_backbone(images: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], *,
                        device: str = "cpu", monitor: Monitor = SILENT) -> bytes:
    """The trained CNN as a classifier checkpoint (models.classification); MetricsError for fewer than 2
    classes. Stops with models.monitor.Stopped when `monitor` asks."""
    if len(class_names) < 2:
        raise MetricsError("the auto backbone is a classifier of the dataset's classes and needs at least 2")
    config = _config(images, class_names, device)
    model = train_classifier(config, images, labels, monitor=monitor)
    return save_classifier(dataclasses.replace(config, device="cpu"), model)


def load_auto_backbone(blob: bytes, *, device: str | torch.device = "cpu",
                       batch_size: int | None = None) -> AutoBackbone:
    try:
        config, model = load_classifier(blob, str(device))
    except CheckpointError as exc:
        raise MetricsError(f"not an auto backbone: {exc}") from None
    if config.architecture != ARCHITECTURE:
        raise MetricsError(f"not an auto backbone: a {config.architecture} classifier")
    return AutoBackbone(config, model, device, batch_size)
