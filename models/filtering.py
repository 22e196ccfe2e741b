"""Filtered generation: keep generated images by what a classifier trained on the real images says about them,
and drop near-copies of training images."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from models.classification import check_images, predict_proba
from models.classifiers import classifier_features
from models.data import to_training_range
from models.errors import DataError
from models.metrics.builtin.memorisation import nearest_distances

FilterMode = Literal["confident", "informative"]
FILTER_MODES: tuple[str, ...] = ("confident", "informative")
FEATURE_BATCH = 256


def score_images(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(probability of each image's label [N], predicted class [N]) for uint8 images at the model's input size."""
    probs = predict_proba(model, images, device)
    if labels.shape != (len(images),) or labels.dtype != torch.long:
        raise DataError(f"labels must be a long tensor [{len(images)}]")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise DataError(f"labels must be in [0, {probs.shape[1]})")
    return probs.gather(1, labels[:, None]).squeeze(1), probs.argmax(dim=1)


def keep_mask(mode: FilterMode, threshold: float, label_prob: torch.Tensor, predicted: torch.Tensor,
              labels: torch.Tensor) -> torch.Tensor:
    """confident: the classifier gives the label at least `threshold`. informative: the classifier still predicts
    the label but with probability below `threshold`, i.e. correctly labelled images it finds hard (the ones
    that add most to a training set)."""
    if mode not in FILTER_MODES:
        raise ValueError(f"unknown filter mode {mode!r}; known: {list(FILTER_MODES)}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if mode == "confident":
        return label_prob >= threshold
    return (predicted == labels.to(predicted.device)) & (label_prob < threshold)


class NearCopyDetector:
    """The memorisation measure of models/metrics/builtin/memorisation.py in a classifier's penultimate features:
    ratio = distance to the nearest training image / median distance of a training image to its nearest other
    one; a near-copy has ratio < threshold. The training images' features are computed once."""

    def __init__(self, model_name: str, model: nn.Module, train_images: torch.Tensor, threshold: float = 0.3,
                 device: str = "cpu") -> None:
        if threshold <= 0:
            raise ValueError("threshold must be > 0")
        check_images(train_images, None, None, "train images")
        if len(train_images) < 2:
            raise DataError("need at least 2 training images for a distance scale")
        self.model_name, self.model, self.threshold, self.device = model_name, model, threshold, device
        self.reference = _features(model_name, model, train_images, device)
        train_nn, _ = nearest_distances(self.reference, self.reference, exclude_self=True)
        self.scale = train_nn.quantile(0.5)
        if self.scale <= 0:
            raise DataError("more than half the training images have an exact duplicate: no distance scale")

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(near-copy flags [N], ratios [N])."""
        check_images(images, None, None, "images")
        if len(images) == 0:
            return torch.zeros(0, dtype=torch.bool), torch.zeros(0, dtype=torch.float64)
        distances, _ = nearest_distances(_features(self.model_name, self.model, images, self.device), self.reference)
        ratios = distances / self.scale
        return ratios < self.threshold, ratios


@torch.no_grad()
def _features(model_name: str, model: nn.Module, images: torch.Tensor, device: str) -> torch.Tensor:
    model.eval()
    return torch.cat([classifier_features(model_name, model, to_training_range(chunk.to(device))).double().cpu()
                      for chunk in images.split(FEATURE_BATCH)])
