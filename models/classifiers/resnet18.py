from __future__ import annotations

import torch
import torchvision
from torch import nn

from models.classifiers import Classifier, first_conv, register


@register
class ResNet18(Classifier):
    """torchvision's ResNet-18 (ImageNet stem, randomly initialised) with a stem for 1 or 3 channels."""

    name = "resnet18"

    def build(self, num_classes: int, channels: int) -> nn.Module:
        model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        if channels != 3:
            model.conv1 = first_conv(channels, model.conv1)
        return model

    def target_layer(self, model: nn.Module) -> nn.Module:
        return model.layer4[-1]

    def features(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
        return torch.flatten(model.avgpool(x), 1)
