"""Image classifier registry; importing this package registers every classifier module in it.

Each classifier is an nn.Module taking float images in [-1, 1] of shape [N, channels, R, R] and returning logits
[N, num_classes]. Its registration also names the layer that Grad-CAM explains (the last convolutional block)
and computes the penultimate embedding (the input of the final linear layer), used to find near-copies.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from models.registry import Registry, import_submodules


class Classifier(ABC):
    name: ClassVar[str]

    @abstractmethod
    def build(self, num_classes: int, channels: int) -> nn.Module: ...

    @abstractmethod
    def target_layer(self, model: nn.Module) -> nn.Module: ...

    @abstractmethod
    def features(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor: ...


_REGISTRY: Registry[Classifier] = Registry("classifier", unknown_error=ValueError)
register = _REGISTRY.add
classifier_names = _REGISTRY.names
_get = _REGISTRY.get


def build_classifier(name: str, num_classes: int, channels: int) -> nn.Module:
    """A freshly initialised classifier (global torch RNG; seed it, e.g. under torch.random.fork_rng)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return _get(name).build(num_classes, channels)


def gradcam_target_layer(name: str, model: nn.Module) -> nn.Module:
    return _get(name).target_layer(model)


def classifier_features(name: str, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Penultimate embedding [N, D] of float images in [-1, 1]; runs in the model's current mode, with grad."""
    return _get(name).features(model, x)


def first_conv(in_channels: int, conv: nn.Conv2d) -> nn.Conv2d:
    """A copy of torchvision's stem convolution for `in_channels` inputs, initialised as torchvision does."""
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    bias=conv.bias is not None)
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    return new


import_submodules(__name__, __path__)
