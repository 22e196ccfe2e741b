"""ResNet generators and PatchGAN discriminators.

G: a 7x7 stem, two stride-2 downsamplings, residual blocks, two 2x upsamplings and a 7x7 head, instance norm and
reflection padding throughout. The upsamplings are nearest-neighbour resizes then 3x3 convolutions rather than the
paper's transposed convolutions: those leave checkerboards, which a translation's mask would pick up as change.
G is fully convolutional: any image whose sides are multiples of 4 keeps its size (models/translation.py pads
the others).

D: the 70x70 PatchGAN at 256 px (three stride-2 4x4 convolutions); at other resolutions the number of stride-2
layers follows log2(resolution) - 5 (at least 1), so that a patch covers about the same share of the image.
"""
from __future__ import annotations

import torch
from torch import nn

DOWNSAMPLINGS = 2
MULTIPLE = 2 ** DOWNSAMPLINGS  # G keeps the size of images whose sides are multiples of this


def default_blocks(resolution: int) -> int:
    return 6 if resolution <= 128 else 9


def patch_layers(resolution: int) -> int:
    """Stride-2 layers of D: 3 at 256 px (70x70 patches), one fewer per halving, at least 1."""
    return max(1, resolution.bit_length() - 1 - 5)


def _norm_relu(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels), nn.ReLU(True)]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"), *_norm_relu(channels),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    def __init__(self, channels: int, width: int, blocks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 7, padding=3, padding_mode="reflect"),
                                   *_norm_relu(width)]
        ch = width
        for _ in range(DOWNSAMPLINGS):
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1, padding_mode="reflect"), *_norm_relu(ch * 2)]
            ch *= 2
        layers += [ResidualBlock(ch) for _ in range(blocks)]
        for _ in range(DOWNSAMPLINGS):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(ch, ch // 2, 3, padding=1, padding_mode="reflect"), *_norm_relu(ch // 2)]
            ch //= 2
        layers += [nn.Conv2d(ch, channels, 7, padding=3, padding_mode="reflect"), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """One LSGAN score per overlapping patch."""

    def __init__(self, channels: int, width: int, resolution: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for k in range(1, patch_layers(resolution) + 1):
            out = width * min(2 ** k, 8)
            stride = 2 if k < patch_layers(resolution) else 1
            layers += [nn.Conv2d(ch, out, 4, stride, 1), nn.InstanceNorm2d(out), nn.LeakyReLU(0.2, True)]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """The paper's initialisation: N(0, 0.02) weights, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)
