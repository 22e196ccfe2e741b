"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"), policy
"color,translation,cutout", applied to every image the discriminator sees. Images are in [-1, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def diff_augment(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    return _cutout(_translation(_colour(images.float(), rng), rng), rng)


def _colour(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    def rand() -> torch.Tensor:
        return torch.rand((x.shape[0], 1, 1, 1), generator=rng, device=x.device)

    x = x + (rand() - 0.5)  # brightness
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (rand() * 2) + mean  # saturation (a no-op for one channel)
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (rand() + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Shifts by up to TRANSLATION_RATIO of the size, whole pixels, filling with zeros."""
    n, c, h, w = x.shape
    shift = int(h * TRANSLATION_RATIO + 0.5)
    offsets = torch.randint(-shift, shift + 1, (n, 2), generator=rng, device=x.device)
    padded = F.pad(x, [shift] * 4)
    rows = torch.arange(h, device=x.device) + shift + offsets[:, :1]  # [n, h]
    cols = torch.arange(w, device=x.device) + shift + offsets[:, 1:]  # [n, w]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def _cutout(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Zeroes a square of CUTOUT_RATIO of the size, centred anywhere in the image (clipped at its borders)."""
    n, _, h, w = x.shape
    size = int(h * CUTOUT_RATIO + 0.5)
    centres = torch.randint(0, h, (n, 2), generator=rng, device=x.device)
    top_left = (centres - size // 2)[:, :, None]
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    inside_y = (ys >= top_left[:, 0]) & (ys < top_left[:, 0] + size)  # [n, h]
    inside_x = (xs >= top_left[:, 1]) & (xs < top_left[:, 1] + size)  # [n, w]
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
    return x * keep[:, None].to(x.dtype)
