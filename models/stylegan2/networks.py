"""StyleGAN2 generator (mapping + skip synthesis) and residual discriminator with a projection head.

Conditional when num_classes > 0: the class embeddings are G's mapping.embed and D's projection.
"""
from __future__ import annotations

import contextlib
import math
from itertools import pairwise

import torch
from torch import nn

from models.stylegan2.layers import (
    EqualConv2d,
    EqualLinear,
    SynthesisLayer,
    ToRGB,
    downsample2x,
    minibatch_stddev,
    normalize_2nd_moment,
    upsample2x,
)

MAPPING_LR_MULTIPLIER = 0.01
W_AVG_BETA = 0.995


def feature_channels(feature_resolution: int, resolution: int, width: int) -> int:
    return min(width * resolution // feature_resolution, 8 * width)


def discriminator_block_count(resolution: int) -> int:
    """Residual blocks from `resolution` down to 8x8 (the 4x4 epilogue is not one)."""
    return resolution.bit_length() - 3


def _embedding(num_classes: int, dim: int, rng: torch.Generator) -> nn.Embedding:
    embed = nn.Embedding(num_classes, dim)
    nn.init.normal_(embed.weight, generator=rng)
    return embed


class MappingNetwork(nn.Module):
    """z (and the class) -> w. Tracks w_avg per class (one row when unconditional) for truncation, so that
    truncation pulls each sample towards its own class's average instead of erasing the class."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, num_classes: int, rng: torch.Generator) -> None:
        super().__init__()
        self.embed = _embedding(num_classes, w_dim, rng) if num_classes else None
        dims = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * num_layers
        self.layers = nn.Sequential(*(EqualLinear(a, b, rng, lr_multiplier=MAPPING_LR_MULTIPLIER, activate=True)
                                      for a, b in pairwise(dims)))
        self.register_buffer("w_avg", torch.zeros(max(num_classes, 1), w_dim))

    def forward(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0,
                update_w_avg: bool = False) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(labels))], 1)
        w = self.layers(x)
        rows = labels if self.embed is not None else torch.zeros_like(labels)
        if update_w_avg:
            self._track_w_avg(w.detach().float(), rows)
        if truncation_psi != 1:
            w = self.w_avg[rows].to(w.dtype).lerp(w, truncation_psi)
        return w

    def _track_w_avg(self, w: torch.Tensor, rows: torch.Tensor) -> None:
        # A one-hot matrix rather than bincount/index_add: static shapes for torch.compile, no atomics on CUDA.
        one_hot = (rows[:, None] == torch.arange(len(self.w_avg), device=rows.device)).to(w.dtype)
        counts = one_hot.sum(0)[:, None]
        means = (one_hot.t() @ w) / counts.clamp(min=1)
        self.w_avg.copy_(torch.where(counts > 0, means.lerp(self.w_avg, W_AVG_BETA), self.w_avg))


class SynthesisBlock(nn.Module):
    """4x4: learned constant and one convolution; above: upsampling and two convolutions. Each adds its to-RGB
    output to the upsampled image so far (skip architecture)."""

    def __init__(self, in_channels: int, out_channels: int, channels: int, w_dim: int, resolution: int,
                 rng: torch.Generator) -> None:
        super().__init__()
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4, generator=rng))
            self.convs = nn.ModuleList([SynthesisLayer(out_channels, out_channels, w_dim, 4, rng)])
        else:
            self.const = None
            self.convs = nn.ModuleList([
                SynthesisLayer(in_channels, out_channels, w_dim, resolution, rng, upsample=True),
                SynthesisLayer(out_channels, out_channels, w_dim, resolution, rng)])
        self.to_rgb = ToRGB(out_channels, channels, w_dim, rng)

    def forward(self, x: torch.Tensor | None, image: torch.Tensor | None, ws: torch.Tensor,
                noise: list[torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """ws: [N, len(convs) + 1, w_dim]; the last one (to-RGB's) is also the next block's first."""
        if self.const is not None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        for i, conv in enumerate(self.convs):
            x = conv(x, ws[:, i], None if noise is None else noise[i])
        rgb = self.to_rgb(x, ws[:, len(self.convs)])
        image = rgb if image is None else upsample2x(image) + rgb
        return x, image


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, resolution: int, channels: int, width: int, rng: torch.Generator) -> None:
        super().__init__()
        resolutions = [2 ** i for i in range(2, resolution.bit_length())]
        self.blocks = nn.ModuleList(
            SynthesisBlock(feature_channels(r // 2, resolution, width), feature_channels(r, resolution, width),
                           channels, w_dim, r, rng) for r in resolutions)
        self.num_ws = sum(len(block.convs) for block in self.blocks) + 1

    def random_noise(self, n: int, rng: torch.Generator) -> list[torch.Tensor]:
        """Noise inputs for every layer, drawn outside forward so that torch.compile sees no generator."""
        return [torch.randn((n, 1, *layer.noise_const.shape), generator=rng, device=layer.noise_const.device)
                for block in self.blocks for layer in block.convs]

    def forward(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """ws: [N, num_ws, w_dim]; noise: from random_noise, or None for the fixed noise buffers."""
        x = image = None
        start = 0
        for block in self.blocks:  # conv layer i uses ws[:, i] and noise[i]
            layers = len(block.convs)
            block_noise = None if noise is None else noise[start:start + layers]
            x, image = block(x, image, ws[:, start:start + layers + 1], block_noise)
            start += layers
        return image


class Generator(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, mapping_layers: int, num_classes: int, resolution: int,
                 channels: int, width: int, rng: torch.Generator) -> None:
        super().__init__()
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, num_classes, rng)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, width, rng)

    def map(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0,
            update_w_avg: bool = False) -> torch.Tensor:
        """ws [N, num_ws, w_dim]: the same w for every layer (no style mixing)."""
        w = self.mapping(z, labels, truncation_psi, update_w_avg)
        return w.unsqueeze(1).repeat(1, self.synthesis.num_ws, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0,
                noise: list[torch.Tensor] | None = None, update_w_avg: bool = False) -> torch.Tensor:
        return self.synthesis(self.map(z, labels, truncation_psi, update_w_avg), noise)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """Images in [-1, 1] with the fixed noise buffers; bf16 autocast on CUDA. Truncation:
        w = w_avg[class] + psi * (w - w_avg[class]). No layer depends on the train/eval mode."""
        cuda = z.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext():
            images = self(z, labels, truncation_psi)
        return images.float().clamp(-1, 1)


class DiscriminatorBlock(nn.Module):
    """Residual: (conv3x3, downsample, conv3x3) + (downsample, conv1x1), scaled by 1/sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, image_channels: int, rng: torch.Generator,
                 from_rgb: bool) -> None:
        super().__init__()
        self.from_rgb = EqualConv2d(image_channels, in_channels, 1, rng, activate=True) if from_rgb else None
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, rng, activate=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, rng, activate=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, rng, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.from_rgb is not None:
            x = self.from_rgb(x)
        # Downsampling before the convolutions runs them at the lower resolution: a quarter of the work.
        skip = self.skip(downsample2x(x))
        x = self.conv1(downsample2x(self.conv0(x)))
        return (skip + x) * math.sqrt(0.5)


class Projection(nn.Module):
    """Class term of the logit, StyleGAN2-ADA's "cmap" conditioning: <phi(h), embed(y)> / sqrt(cmap_dim)."""

    def __init__(self, features: int, num_classes: int, rng: torch.Generator) -> None:
        super().__init__()
        self.fc = EqualLinear(features, features, rng)
        self.embed = _embedding(num_classes, features, rng)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.fc(h) * self.embed(labels)).sum(1) / math.sqrt(self.embed.embedding_dim)


class Discriminator(nn.Module):
    """blocks[0] includes from-RGB (the unit FreezeD counts); then the 4x4 epilogue: minibatch standard
    deviation, conv, FC, and the logit psi(h) plus, when conditional, the projection term."""

    def __init__(self, resolution: int, channels: int, width: int, num_classes: int, rng: torch.Generator) -> None:
        super().__init__()
        resolutions = [resolution >> i for i in range(discriminator_block_count(resolution))]
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(feature_channels(r, resolution, width), feature_channels(r // 2, resolution, width),
                               channels, rng, from_rgb=i == 0) for i, r in enumerate(resolutions))
        features = feature_channels(4, resolution, width)
        self.conv = EqualConv2d(features + 1, features, 3, rng, activate=True)
        self.fc = EqualLinear(features * 16, features, rng, activate=True)
        self.out = EqualLinear(features, 1, rng)
        self.projection = Projection(features, num_classes, rng) if num_classes else None

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Float32 logits [N]."""
        x = images
        for block in self.blocks:
            x = block(x)
        h = self.fc(self.conv(minibatch_stddev(x)).flatten(1))
        logits = self.out(h).squeeze(1)
        if self.projection is not None:
            logits = logits + self.projection(h, labels)
        return logits.float()
