"""Train and evaluate the image classifiers of models/classifiers on uint8 images [N, C, R, R]."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import safetensors.torch
import torch
import torchvision.transforms.v2.functional as TF
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import update_bn
from torchmetrics.functional import classification as tm

from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.classifiers import build_classifier, classifier_names
from models.config import config_from_dict, is_int, is_number
from models.data import to_training_range
from models.errors import DataError
from models.monitor import SILENT, Monitor

CLASSIFIER_FORMAT = "defectgen-classifier/1"
MIN_RESOLUTION, MAX_RESOLUTION = 16, 512
MAX_ROTATION_DEGREES = 10.0
CROP_SCALE = (0.8, 1.0)  # area fraction of a random resized crop
CROP_RATIO = (3 / 4, 4 / 3)  # aspect ratio of the crop, log-uniform as in torchvision's RandomResizedCrop


@dataclass
class ClassifierConfig:
    architecture: str
    class_names: list[str]
    channels: int
    resolution: int
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    classical_augmentation: bool = False
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("channels", "resolution", "epochs", "batch_size", "seed"):
            value = getattr(self, name)
            if not is_int(value):
                raise ValueError(f"{name} must be an int, got {value!r}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if not is_number(value) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not isinstance(self.architecture, str) or self.architecture not in classifier_names():
            raise ValueError(f"unknown classifier {self.architecture!r}; known: {classifier_names()}")
        if (not isinstance(self.class_names, list) or not all(isinstance(n, str) for n in self.class_names)
                or len(set(self.class_names)) != len(self.class_names) or len(self.class_names) < 2):
            raise ValueError("class_names must be a list of at least 2 distinct strings")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION:
            raise ValueError(f"resolution must be in [{MIN_RESOLUTION}, {MAX_RESOLUTION}], got {self.resolution}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError("lr must be > 0 and weight_decay >= 0")
        if not isinstance(self.classical_augmentation, bool) or not isinstance(self.device, str):
            raise ValueError("classical_augmentation must be a bool and device a string")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassifierConfig:
        return config_from_dict(cls, data, "classifier config")


def batches_per_epoch(num_images: int, batch_size: int) -> int:
    """How many batches one epoch over `num_images` has: equal-sized batches of at most batch_size, but never
    a batch of one (BatchNorm cannot train on it), so tiny sets may get one batch a little over batch_size."""
    return max(1, min(math.ceil(num_images / batch_size), num_images // 2))


def init_from(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> list[str]:
    """Copy every tensor of `weights` whose name and shape fit `model` (pretrained initialisation); a
    3-channel stem convolution goes into a 1-channel model summed over its input channels. Returns the names
    left as initialised, e.g. the output layer when the class counts differ."""
    state = model.state_dict()
    fresh = []
    for name, target in state.items():
        source = weights.get(name)
        if source is not None and source.dim() == 4 and target.dim() == 4 and source.shape[1] == 3 \
                and target.shape[1] == 1 and source.shape[0] == target.shape[0]:
            source = source.sum(dim=1, keepdim=True)
        if source is None or source.shape != target.shape:
            fresh.append(name)
            continue
        target.copy_(source)
    if len(fresh) == len(state):
        raise DataError("none of the initial weights fit this classifier")
    return fresh


def train_classifier(config: ClassifierConfig, images: torch.Tensor, labels: torch.Tensor, *,
                     monitor: Monitor = SILENT, init_weights: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """Train with AdamW and cross-entropy, from scratch or from `init_weights` (see init_from); returns the
    model in eval mode on config.device.

    Bit-identical for a seed on CPU: initialisation, dropout and shuffling depend on config.seed alone, and the
    caller's global RNG is left as it was. Reports (done batches, total batches) to `monitor` after every batch
    and checks it before every batch (models.monitor.Stopped; the partly trained classifier is discarded).
    DataError for images, labels or initial weights that do not fit the config.
    """
    check_images(images, config.channels, config.resolution, "images")
    if images.shape[0] < 2:
        raise DataError("need at least 2 training images")
    if labels.dtype != torch.long or tuple(labels.shape) != (len(images),):
        raise DataError(f"labels must be a long tensor [{len(images)}], got {labels.dtype} {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= config.num_classes:
        raise DataError(f"labels must be in [0, {config.num_classes})")
    device = torch.device(config.device)
    num_batches = batches_per_epoch(len(images), config.batch_size)
    total = config.epochs * num_batches
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # initialisation and dropout
        model = build_classifier(config.architecture, config.num_classes, config.channels)
        if init_weights is not None:
            init_from(model, init_weights)
        model = model.to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        rng = torch.Generator().manual_seed(config.seed)  # shuffling and augmentation
        images, labels = images.to(device), labels.to(device)
        model.train()
        done = 0
        for _ in range(config.epochs):
            for batch in torch.tensor_split(torch.randperm(len(images), generator=rng), num_batches):
                monitor.check()
                batch = batch.to(device)
                x = to_training_range(images[batch])
                if config.classical_augmentation:
                    x = augment(x, rng)
                loss = F.cross_entropy(model(x), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                done += 1
                monitor.report(done, total)
        # BatchNorm's running averages lag far behind the weights after the few steps a small set gives, which
        # can ruin eval-mode predictions: recompute them from the final weights over the training set.
        update_bn((to_training_range(chunk) for chunk in torch.tensor_split(images, num_batches)), model)
    return model.eval()


def augment(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Per-image random flips, rotation (±10°) and resized crop (scale 0.8-1) in one affine resampling.

    Hand-composed rather than torchvision.transforms.v2 because v2 draws one set of parameters per call, i.e.
    the same transform for the whole batch; the parameters are drawn on the CPU from `rng`.
    """
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.empty(n).uniform_(low, high, generator=rng)

    angle = torch.deg2rad(uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES))
    area = uniform(*CROP_SCALE)
    ratio = torch.exp(uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
    # Crop width and height as fractions of the side (the image spans [-1, 1] in grid coordinates).
    width, height = torch.sqrt(area * ratio).clamp(max=1), torch.sqrt(area / ratio).clamp(max=1)
    shift_x, shift_y = (1 - width) * uniform(-1, 1), (1 - height) * uniform(-1, 1)
    flip_x = torch.where(torch.rand(n, generator=rng) < 0.5, -1.0, 1.0)
    flip_y = torch.where(torch.rand(n, generator=rng) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output grid -> input coordinates: rotate the flipped, scaled output grid, then move it to the crop centre.
    theta = torch.stack([torch.stack([cos * width * flip_x, -sin * height * flip_y, shift_x], 1),
                         torch.stack([sin * width * flip_x, cos * height * flip_y, shift_y], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    # Reflection rather than a constant fill: rotated corners continue the texture instead of adding black.
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, device: str = "cpu", batch_size: int = 256) -> torch.Tensor:
    """Softmax probabilities, float32 [N, K] on the CPU; the model is put in eval mode."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise DataError(f"images must be a uint8 tensor [N, C, R, R], got {images.dtype} {tuple(images.shape)}")
    model.eval()
    chunks = [F.softmax(model(to_training_range(images[start:start + batch_size].to(device))).float(), dim=1).cpu()
              for start in range(0, len(images), batch_size)]
    if not chunks:
        raise DataError("no images to classify")
    return torch.cat(chunks)


def classification_metrics(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracy, macro F1 (over classes present in labels or predictions), per-class precision and recall
    (0 where undefined) and the confusion matrix (rows: true class, columns: predicted)."""
    if probs.dim() != 2 or probs.shape[1] != num_classes or labels.shape != (probs.shape[0],) or not len(labels):
        raise DataError(f"need probs [N, {num_classes}] and labels [N] with N >= 1")
    preds = probs.argmax(dim=1)
    labels = labels.to(preds.device)
    return {
        "accuracy": float(tm.multiclass_accuracy(preds, labels, num_classes, average="micro")),
        "macro_f1": float(tm.multiclass_f1_score(preds, labels, num_classes, average="macro")),
        "precision": tm.multiclass_precision(preds, labels, num_classes, average=None).tolist(),
        "recall": tm.multiclass_recall(preds, labels, num_classes, average=None).tolist(),
        "confusion": tm.multiclass_confusion_matrix(preds, labels, num_classes).tolist(),
    }


def save_classifier(config: ClassifierConfig, model: nn.Module) -> bytes:
    return pack_state({"format": CLASSIFIER_FORMAT, "config": config.to_dict(), "weights": model.state_dict()})


def load_classifier(blob: bytes, device: str = "cpu") -> tuple[ClassifierConfig, nn.Module]:
    """(config with device set to `device`, model in eval mode); CheckpointError for anything that does not fit."""
    tree = unpack_state(blob)
    if tree.get("format") != CLASSIFIER_FORMAT:
        raise CheckpointError(f"unknown classifier format {tree.get('format')!r}")
    weights = tree.get("weights")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError("classifier checkpoint lacks its weights")
    try:
        config = ClassifierConfig.from_dict({**tree["config"], "device": device})
        model = build_classifier(config.architecture, config.num_classes, config.channels)
        model.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"invalid classifier checkpoint: {exc}") from exc
    return config, model.to(device).eval()


def checkpoint_from_state_dict(architecture: str, state_dict: bytes, resolution: int = 224) -> bytes:
    """A classifier checkpoint from a plain state dict of a registered architecture, as safetensors (for
    example torchvision's ImageNet weights), for pretrained initialisation; the input channels and class count
    are read from the stem convolution and the output layer. CheckpointError if the weights do not fit."""
    try:
        weights = safetensors.torch.load(state_dict)
    except Exception as exc:  # safetensors raises its own and various builtin errors for garbage
        raise CheckpointError("not a safetensors state dict") from exc
    try:
        # Names of the stem convolution and the output layer, in module order (safetensors sorts its keys).
        reference = build_classifier(architecture, 2, 3).state_dict()
        matrices = [name for name, t in reference.items() if t.dim() in (2, 4)]
        channels, num_classes = weights[matrices[0]].shape[1], weights[matrices[-1]].shape[0]
        config = ClassifierConfig(architecture=architecture, class_names=[f"class_{i}" for i in range(num_classes)],
                                  channels=channels, resolution=resolution)
        model = build_classifier(architecture, num_classes, channels)
        model.load_state_dict(weights)
    except (IndexError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"these are not {architecture} weights: {exc}") from exc
    return save_classifier(config, model)


def resize_images(images: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """uint8 [N, C, R, R] -> uint8 [N, channels, resolution, resolution]: antialiased bilinear resize; 3 -> 1
    channel by luminance (ITU-R 601), 1 -> 3 by repetition."""
    check_images(images, None, None, "images")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if images.shape[1] == 3 and channels == 1:
        images = TF.rgb_to_grayscale(images)
    elif images.shape[1] == 1 and channels == 3:
        images = TF.grayscale_to_rgb(images)
    if images.shape[-1] != resolution or images.shape[-2] != resolution:
        images = TF.resize(images, [resolution, resolution], interpolation=TF.InterpolationMode.BILINEAR,
                           antialias=True)
    return images.contiguous()


def check_images(images: torch.Tensor, channels: int | None, resolution: int | None, what: str) -> None:
    """DataError unless `images` is uint8 [N, C, R, R] with C in (1, 3), and C, R as given unless None."""
    ok = images.dtype == torch.uint8 and images.dim() == 4 and images.shape[1] in (1, 3)
    if ok and channels is not None:
        ok = tuple(images.shape[1:]) == (channels, resolution, resolution)
    if not ok:
        expected = f"[N, {channels}, {resolution}, {resolution}]" if channels is not None else "[N, 1|3, H, W]"
        raise DataError(f"{what} must be a uint8 tensor {expected}, got {images.dtype} {tuple(images.shape)}")
