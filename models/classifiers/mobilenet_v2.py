from __future__ import annotations

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from models.classifiers import Classifier, first_conv, register


@register
class MobileNetV2(Classifier):
    """torchvision's MobileNetV2 (randomly initialised) with a first convolution for 1 or 3 channels."""

    name = "mobilenet_v2"

    def build(self, num_classes: int, channels: int) -> nn.Module:
        model = torchvision.models.mobilenet_v2(weights=None, num_classes=num_classes)
        if channels != 3:
            model.features[0][0] = first_conv(channels, model.features[0][0])
        return model

    def target_layer(self, model: nn.Module) -> nn.Module:
        return model.features[-1]

    def features(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        # As torchvision's forward, minus the dropout and linear layer of `classifier`.
        return torch.flatten(F.adaptive_avg_pool2d(model.features(x), 1), 1)
