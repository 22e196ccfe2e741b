"""Equalised-learning-rate layers, modulated convolution, resampling and minibatch standard deviation.

Equalised learning rate: parameters are stored N(0, 1) and scaled by 1/sqrt(fan_in) at run time, so that Adam's
step size is the same for every layer whatever its fan-in.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2)  # keeps the second moment of the activations through leaky ReLU(0.2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(1, keepdim=True) + eps).rsqrt()


# Bilinear 2x resampling with half-pixel centres (align_corners=False) is exactly the [1, 3, 3, 1] FIR resampling
# of the reference implementation: upsampling weights the two nearest pixels 3/4 and 1/4, and antialiased
# downsampling widens the triangle filter to [1, 3, 3, 1] / 8. Only the borders differ (clamped, not zero-padded).
def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    # In float32: antialiased interpolation lacks bfloat16 kernels on some devices (CPU, at least).
    return F.interpolate(x.float(), scale_factor=0.5, mode="bilinear", align_corners=False, antialias=True).to(x.dtype)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0) -> torch.Tensor:
    """Convolution with the weight scaled per sample and input channel by `styles` [N, I] and, with demodulate,
    normalised per sample and output channel to unit L2 norm.

    Computed without per-sample weights: scaling the input channels, one shared-weight convolution and scaling
    the output channels give the same result as a grouped convolution with N modulated weights.
    """
    x = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)
    if demodulate:
        # ||w[o] * s||^2 = sum_i s_i^2 * sum_k w[o, i, k]^2
        coefficients = (styles.square() @ weight.square().sum((2, 3)).t() + 1e-8).rsqrt()
        x = x * coefficients[:, :, None, None]
    return x


def minibatch_stddev(x: torch.Tensor, max_group: int = 4) -> torch.Tensor:
    """Appends one channel: the standard deviation over groups of samples, averaged over features and pixels."""
    n, c, h, w = x.shape
    # The group must divide the batch; with a batch divisible by 4 (or smaller than 4) it is min(4, n).
    group = next(g for g in range(min(max_group, n), 0, -1) if n % g == 0)
    y = x.float().reshape(group, -1, c, h, w)  # sample i is in group i % (n / group)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean((1, 2, 3))
    y = y.reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, y.to(x.dtype)], 1)


class EqualLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, rng: torch.Generator, bias_init: float = 0.0,
                 lr_multiplier: float = 1.0, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features, generator=rng) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_multiplier))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.lr_multiplier = lr_multiplier
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_multiplier)
        return lrelu(x) if self.activate else x


class EqualConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, rng: torch.Generator,
                 bias: bool = True, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size, generator=rng))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2)
        return lrelu(x) if self.activate else x


class SynthesisLayer(nn.Module):
    """Optional 2x upsampling, modulated and demodulated 3x3 convolution, noise, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, rng: torch.Generator,
                 upsample: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, rng, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3, generator=rng))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution, generator=rng))
        self.upsample = upsample

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """noise: [N, 1, R, R], or None for the fixed noise buffer."""
        if self.upsample:
            x = upsample2x(x)
        # The weight gain is left out: demodulation cancels it.
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=True, padding=1)
        noise = self.noise_const if noise is None else noise
        return lrelu(x + noise * self.noise_strength + self.bias[:, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation."""

    def __init__(self, in_channels: int, channels: int, w_dim: int, rng: torch.Generator) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, rng, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, in_channels, 1, 1, generator=rng))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        return modulated_conv2d(x, self.weight, styles, demodulate=False) + self.bias[:, None, None]
