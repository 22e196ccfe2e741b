from __future__ import annotations

import torch
from torch import nn

from models.classifiers import Classifier, register

WIDTHS = (16, 32, 64, 128)


class SmallCNN(nn.Module):
    """Four 3x3 conv-BN-ReLU blocks, max-pooled between them, then global average pooling and a linear head."""

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = channels
        for i, width in enumerate(WIDTHS):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers.append(nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                        nn.BatchNorm2d(width), nn.ReLU(inplace=True)))
            in_channels = width
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(in_channels, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


@register
class SmallCNNClassifier(Classifier):
    name = "small-cnn"

    def build(self, num_classes: int, channels: int) -> nn.Module:
        return SmallCNN(num_classes, channels)

    def target_layer(self, model: nn.Module) -> nn.Module:
        return model.blocks[-1]

    def features(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model.embed(x)
