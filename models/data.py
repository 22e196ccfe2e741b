from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image


def images_to_tensor(images: Sequence[Image.Image], resolution: int, channels: int) -> torch.Tensor:
    """uint8 [N, C, R, R]: converted to L (C=1) or RGB (C=3) and resized (antialiased) straight to RxR."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(images), resolution, resolution, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        image = image.convert(mode)
        if image.size != (resolution, resolution):
            # Pillow widens the filter support when shrinking, i.e. this antialiases.
            image = image.resize((resolution, resolution), Image.Resampling.BICUBIC)
        out[i] = np.asarray(image).reshape(resolution, resolution, channels)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def to_training_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] (clamped) -> uint8 [0, 255], rounded."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
