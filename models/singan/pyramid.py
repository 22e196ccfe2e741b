"""Scale sizes and resizing. Scales are indexed coarse to fine here (0 = coarsest); the API counts like the paper,
N = coarsest and 0 = finest."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Five unpadded 3x3 convolutions: D's receptive field, and the padding G's input gets.
RECEPTIVE_FIELD = 11
PAD = RECEPTIVE_FIELD // 2


def scale_count(resolution: int, min_size: int, scale_factor: float) -> int:
    """Scales from a short side of `min_size` up to `resolution`, each about `scale_factor` of the next."""
    if min_size >= resolution:
        return 1
    return math.ceil(round(math.log(min_size / resolution) / math.log(scale_factor), 9)) + 1


def scale_sizes(height: int, width: int, count: int, short_side: int, min_size: int) -> list[tuple[int, int]]:
    """(height, width) per scale, coarse to fine: the finest is (height, width), the coarsest's short side is
    min_size * min(height, width) / short_side, the ratio between scales constant."""
    if count == 1:
        return [(height, width)]
    ratio = (min_size / short_side) ** (1 / (count - 1))
    sizes = []
    for i in range(count):
        f = ratio ** (count - 1 - i)
        sizes.append((max(1, round(height * f)), max(1, round(width * f))))
    return sizes


def downsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """float [B, C, H, W] -> [B, C, *size], bicubic and antialiased (the real image at a coarser scale)."""
    if tuple(image.shape[-2:]) == size:
        return image
    return F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True).clamp_(-1, 1)


def upsample(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A coarser scale's image at the next scale's size (bilinear)."""
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)
