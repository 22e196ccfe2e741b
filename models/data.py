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


# crop="random" keeps images at their native size up to this many times the resolution on the long side: the
# bound on memory (N * C * (4R)^2 bytes, more only for aspect ratios beyond 4:1), while a crop still spans at least
# a quarter of an image's side.
MAX_SIDE_FACTOR = 4


def _bounded_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """The native size, upscaled so the short side is R, or downscaled so the long side is MAX_SIDE_FACTOR * R
    (never below R on the short side)."""
    scale = max(resolution / min(width, height), min(1.0, MAX_SIDE_FACTOR * resolution / max(width, height)))
    if scale == 1.0:
        return width, height
    return max(resolution, round(width * scale)), max(resolution, round(height * scale))


class TrainingImages:
    """uint8 images of any sizes of at least RxR, from which a minibatch takes a random RxR crop of each image.

    Held as one zero-padded tensor [N, C, H_max, W_max] beside each image's (height, width), so a batch is one
    gather. Where every image is RxR, batches are the images themselves and draw nothing from the generator.
    """

    def __init__(self, pixels: torch.Tensor, sizes: torch.Tensor, resolution: int) -> None:
        self.pixels, self.sizes, self.resolution = pixels, sizes, resolution
        self.whole = bool((sizes == resolution).all())

    @classmethod
    def from_tensor(cls, images: torch.Tensor, resolution: int) -> TrainingImages:
        """Images [N, C, H, W] of one size."""
        sizes = torch.tensor(images.shape[2:], dtype=torch.long, device=images.device).expand(len(images), 2)
        return cls(images, sizes, resolution)

    @classmethod
    def from_pil(cls, images: Sequence[Image.Image], resolution: int, channels: int) -> TrainingImages:
        """Converted to L or RGB, at native size bounded as _bounded_size says."""
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        mode = "L" if channels == 1 else "RGB"
        arrays = []
        for image in images:
            image = image.convert(mode)
            size = _bounded_size(*image.size, resolution)
            if size != image.size:
                image = image.resize(size, Image.Resampling.BICUBIC)
            arrays.append(np.array(image).reshape(size[1], size[0], channels))
        sizes = torch.tensor([a.shape[:2] for a in arrays], dtype=torch.long).reshape(-1, 2)
        height, width = (sizes.max(0).values.tolist() if arrays else (resolution, resolution))
        pixels = torch.zeros((len(arrays), channels, height, width), dtype=torch.uint8)
        for i, a in enumerate(arrays):
            pixels[i, :, :a.shape[0], :a.shape[1]] = torch.from_numpy(a).permute(2, 0, 1)
        return cls(pixels, sizes, resolution)

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def channels(self) -> int:
        return self.pixels.shape[1]

    def to(self, device: torch.device | str) -> TrainingImages:
        return TrainingImages(self.pixels.to(device), self.sizes.to(device), self.resolution)

    def batch(self, idx: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """uint8 [B, C, R, R]: a crop of each image idx[i], uniform over its positions, drawn from `rng` alone."""
        if self.whole:
            return self.pixels[idx]
        span = self.sizes[idx] - self.resolution + 1  # [B, 2]: the crop positions (top, left) per image
        offset = (torch.rand(span.shape, generator=rng, device=rng.device) * span).long().minimum(span - 1)
        steps = torch.arange(self.resolution, device=idx.device)
        rows = (offset[:, 0, None] + steps)[:, :, None]  # [B, R, 1]
        cols = (offset[:, 1, None] + steps)[:, None, :]  # [B, 1, R]
        # Advanced indices around the channel slice put their broadcast shape first: [B, R, R, C].
        return self.pixels[idx[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()

    def fixed_crops(self, seed: int = 0) -> torch.Tensor:
        """One crop of every image, the same on every call: a real reference set at the crops' scale."""
        idx = torch.arange(len(self), device=self.pixels.device)
        return self.batch(idx, torch.Generator(device=self.pixels.device).manual_seed(seed))


def resample(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, height, width] for size = (width, height), bicubic (antialiased)."""
    channels = images.shape[1]
    out = np.empty((len(images), size[1], size[0], channels), dtype=np.uint8)
    for i, array in enumerate(images.permute(0, 2, 3, 1).numpy()):
        image = Image.fromarray(array.squeeze(-1) if channels == 1 else array)
        out[i] = np.asarray(image.resize(size, Image.Resampling.BICUBIC)).reshape(size[1], size[0], channels)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
