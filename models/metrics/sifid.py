"""SIFID's inputs: the spatial feature map of each image, its positions the samples (Shaham et al., 2019).

The default map is Inception's 192-channel block after the second max-pool (35x35 positions at Inception's
299x299 input), from the imported FID weights, unpooled. A domain backbone (TorchScript) takes part when it has a
`spatial_features` method: uint8 [N, C, H, W] -> float [N, D, H', W'].

Each generated image is paired with one real image (Pairing): its own training image for a SinGAN model, else one
of its class. The statistics of a real image used by several pairs are computed once.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from models.metrics.backbones import Backbone, InceptionBackbone, TorchScriptBackbone, _exact_fp32
from models.metrics.errors import MetricsError
from models.metrics.frechet import covariance
from models.monitor import SILENT, Monitor

INCEPTION_SPATIAL_DIM = 192
# torch-fidelity's FeatureExtractorInceptionV3 layers, input to the second max-pool.
_INCEPTION_STEM = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                   "MaxPool_2")
SPATIAL_METHOD = "spatial_features"


@dataclass(frozen=True)
class Pairing:
    real: torch.Tensor  # uint8 [M, C, H, W]
    index: list[int]  # for generated image i, its real image real[index[i]]
    how: str  # what a pair is, for the result: "own training image", "real image of its class", ...


@dataclass(frozen=True)
class PairedStats:
    """Per-image position statistics (float64): real_*[index[i]] pairs with fake_*[i]."""

    real_mean: list[torch.Tensor]
    real_cov: list[torch.Tensor]
    fake_mean: list[torch.Tensor]
    fake_cov: list[torch.Tensor]
    index: list[int]
    how: str
    positions: int
    feature_dim: int


def _inception_map(backbone: InceptionBackbone, batch: torch.Tensor) -> torch.Tensor:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    module = backbone.module
    size = module.INPUT_IMAGE_SIZE
    x = interpolate_bilinear_2d_like_tensorflow1x(batch.float(), size=(size, size), align_corners=False)
    x = (x - 128) / 128
    if backbone.fast:
        x = x.contiguous(memory_format=torch.channels_last)
    for name in _INCEPTION_STEM:
        x = getattr(module, name)(x)
    return x


def spatial_maps(backbone: Backbone, images: torch.Tensor, *, monitor: Monitor = SILENT) -> torch.Tensor:
    """float64 [N, D, H', W'] on the CPU, in batches of backbone.batch_size (images done reported to `monitor`)."""
    if isinstance(backbone, InceptionBackbone):
        run = _inception_map
    elif isinstance(backbone, TorchScriptBackbone) and hasattr(backbone.module, SPATIAL_METHOD):
        def run(b: Backbone, batch: torch.Tensor) -> torch.Tensor:
            return getattr(b.module, SPATIAL_METHOD)(batch)  # type: ignore[attr-defined]
    else:
        raise MetricsError(f"backbone {backbone.name!r} exposes no spatial feature map: SIFID needs Inception or a "
                           f"TorchScript backbone with a {SPATIAL_METHOD}() method")
    images = backbone._check_images(images)
    maps = []
    with torch.inference_mode(), _exact_fp32(backbone.device):
        for start in range(0, len(images), backbone.batch_size):
            monitor.check()
            batch = images[start:start + backbone.batch_size].to(backbone.device)
            if batch.shape[1] == 1 and backbone.in_channels == 3:
                batch = batch.expand(-1, 3, -1, -1)
            out = run(backbone, batch)
            if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != len(batch):
                raise MetricsError(f"backbone {backbone.name!r} returned a spatial map that is not [N, D, H, W]")
            maps.append(out.to("cpu", torch.float64))
            monitor.report(start + len(batch), len(images))
    return torch.cat(maps)


def position_stats(feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of one image's map [D, H, W] over its H*W positions."""
    positions = feature_map.flatten(1).T
    if len(positions) < 2:
        raise MetricsError(f"a spatial map of {tuple(feature_map.shape[1:])} has too few positions")
    mean = positions.mean(0)
    return mean, covariance(positions, mean)


def paired_stats(backbone: Backbone, pairing: Pairing, fake: torch.Tensor, *,
                 monitor: Monitor = SILENT) -> PairedStats:
    if len(pairing.index) != len(fake) or not all(0 <= i < len(pairing.real) for i in pairing.index):
        raise MetricsError("every generated image needs one paired real image")
    used = sorted(set(pairing.index))
    real_maps = spatial_maps(backbone, pairing.real[used], monitor=monitor.part(0, len(used) + len(fake)))
    fake_maps = spatial_maps(backbone, fake, monitor=monitor.part(len(used), len(used) + len(fake)))
    real = dict(zip(used, (position_stats(m) for m in real_maps)))
    fakes = [position_stats(m) for m in fake_maps]
    return PairedStats([real[i][0] for i in used], [real[i][1] for i in used], [m for m, _ in fakes],
                       [c for _, c in fakes], [used.index(i) for i in pairing.index], pairing.how,
                       int(fake_maps[0, 0].numel()) if len(fake) else 0, int(fake_maps.shape[1]) if len(fake) else 0)
