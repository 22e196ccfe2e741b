"""Checkerboards and edge stripes: the measures see them, and the default DCGAN generators show neither."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.architectures import get_architecture
from models.artefacts import CHECKERBOARD_LIMIT, EDGE_STRIPE_LIMIT, checkerboard_score, edge_stripe_score
from models.config import GanConfig
from models.data import to_uint8
from models.monitor import SILENT
from models.snapshot import load_sampler
from models.training import GanCallbacks, train_gan

pytestmark = pytest.mark.usefixtures("one_thread")


def smooth_textures(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Blurred noise in [-1, 1]: a texture with neither artefact."""
    noise = torch.rand(n, 1, size // 4, size // 4, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1) * 2 - 1


def test_the_measures_see_each_artefact_and_pass_smooth_textures():
    clean = smooth_textures(16, 32)
    assert checkerboard_score(clean) < CHECKERBOARD_LIMIT and edge_stripe_score(clean) < EDGE_STRIPE_LIMIT
    board = (-1.0) ** (torch.arange(32)[:, None] + torch.arange(32)[None, :])
    assert checkerboard_score(clean + 0.3 * board) > CHECKERBOARD_LIMIT
    striped = clean.clone()
    striped[..., -1] = 1.0  # a bright right edge in every image
    assert edge_stripe_score(striped) > EDGE_STRIPE_LIMIT
    assert checkerboard_score(striped) < CHECKERBOARD_LIMIT


def config(architecture: str, **options) -> GanConfig:
    return GanConfig(architecture=architecture, channels=1, class_names=["a", "b"], steps=120, batch_size=8,
                     sample_every=1000, checkpoint_every=1000, options={"resolution": 32, "width": 8, **options})


def samples(cfg: GanConfig, network=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
    network = network or get_architecture(cfg.architecture).make_trainer(cfg).sampling_network()
    z = torch.randn(64, cfg.options.z_dim, generator=torch.Generator().manual_seed(1))
    return network.sample(z, torch.arange(64) % 2)


@pytest.mark.parametrize("architecture", ["dcgan", "cdcgan"])
def test_resize_convolutions_leave_no_checkerboard_where_transposed_ones_do(architecture):
    default = samples(config(architecture))
    assert checkerboard_score(default) < CHECKERBOARD_LIMIT
    assert edge_stripe_score(default) < EDGE_STRIPE_LIMIT
    assert checkerboard_score(samples(config(architecture, upsample="transpose"))) > CHECKERBOARD_LIMIT


def test_a_trained_default_generator_shows_neither_artefact():
    cfg = config("cdcgan")
    images = to_uint8(smooth_textures(32, 32))
    result = train_gan(cfg, images, torch.arange(32) % 2, GanCallbacks(lambda *_: None, lambda *_: None), SILENT)
    generated = load_sampler(result.snapshot).generate([0, 1] * 32, list(range(64)))
    assert checkerboard_score(generated) < CHECKERBOARD_LIMIT
    assert edge_stripe_score(generated) < EDGE_STRIPE_LIMIT
