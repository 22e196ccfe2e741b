"""BEGAN's networks: conv + ELU, no normalisation, nearest-neighbour upsampling. G is the same network as D's
decoder; D is an encoder to an embedding of `hidden` values followed by that decoder.

Conditional (num_classes > 0): G and D's decoder each take a learned class embedding beside their code, so that D
reconstructs an image well only as an image of the class it is told.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

START = 8  # the decoder's first feature map, and the encoder's last, are START x START
CLASS_EMBED = 32


def stage_count(resolution: int) -> int:
    stages = int(math.log2(resolution // START))
    if START << stages != resolution:
        raise ValueError(f"unsupported resolution {resolution}")
    return stages


class _ExpELU(torch.autograd.Function):
    """ELU through exp: e = exp(min(x, 0)), y = e - 1 + max(x, 0), dy/dx = e."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        e = x.clamp(max=0).exp_()
        ctx.save_for_backward(e)
        return (e - 1).add_(x.clamp(min=0))

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (e,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * e


class ELU(nn.Module):
    """nn.ELU, but on the CPU through exp: torch's CPU expm1 (which nn.ELU uses) is not vectorised and took a
    third of a training step; exp is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x) if x.device.type != "cpu" else _ExpELU.apply(x)


def _convs(ch: int) -> list[nn.Module]:
    return [nn.Conv2d(ch, ch, 3, 1, 1), ELU(), nn.Conv2d(ch, ch, 3, 1, 1), ELU()]


class Decoder(nn.Module):
    """code [N, code_dim] (and labels [N]) -> images [N, C, R, R], linear output."""

    def __init__(self, code_dim: int, channels: int, resolution: int, width: int, num_classes: int = 0) -> None:
        super().__init__()
        self.width = width
        self.embed = nn.Embedding(num_classes, CLASS_EMBED) if num_classes else None
        self.fc = nn.Linear(code_dim + (CLASS_EMBED if num_classes else 0), width * START * START)
        layers: list[nn.Module] = []
        for _ in range(stage_count(resolution)):
            layers += [*_convs(width), nn.Upsample(scale_factor=2, mode="nearest")]
        layers += [*_convs(width), nn.Conv2d(width, channels, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            code = torch.cat([code, self.embed(labels)], 1)
        return self.net(self.fc(code).view(-1, self.width, START, START))


class Encoder(nn.Module):
    """images -> embedding [N, hidden]; stage k has width * (k + 1) channels, halving the size between stages."""

    def __init__(self, channels: int, resolution: int, width: int, hidden: int) -> None:
        super().__init__()
        stages = stage_count(resolution)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), ELU()]
        for k in range(stages):
            layers += [*_convs(width * (k + 1)),
                       nn.Conv2d(width * (k + 1), width * (k + 2), 3, 2, 1), ELU()]
        layers += _convs(width * (stages + 1))
        self.net = nn.Sequential(*layers)
        self.fc = nn.Linear(width * (stages + 1) * START * START, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x).flatten(1))


class Generator(Decoder):
    """A decoder whose code is z."""

    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """No-grad images in [-1, 1] from standard normal z (what generation draws), mapped through the normal CDF
        to BEGAN's uniform z in [-1, 1]; truncation scales z by psi first. No layer here behaves differently in
        eval mode, so the mode is left alone."""
        with torch.no_grad():
            uniform = torch.erf(z * truncation_psi / math.sqrt(2))
            return self(uniform, labels if self.embed is not None else None).clamp(-1, 1)


class Discriminator(nn.Module):
    """The autoencoder: reconstruction of x, given its class when conditional."""

    def __init__(self, channels: int, resolution: int, width: int, hidden: int, num_classes: int = 0) -> None:
        super().__init__()
        self.encoder = Encoder(channels, resolution, width, hidden)
        self.decoder = Decoder(hidden, channels, resolution, width, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.encoder(x), labels)
