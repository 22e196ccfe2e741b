from __future__ import annotations

import pytest

from models.config import GanConfig
from models.registry import get_architecture

STYLEGAN = get_architecture("stylegan2-ada")


def make_config(resolution: int = 32, architecture: str = "stylegan2-ada", **options) -> GanConfig:
    return GanConfig(architecture, resolution, 3, 2, ["a", "b"], steps=1, width=2, z_dim=8, options=options)


def test_defaults_and_class_attributes():
    assert STYLEGAN.check_options({}) == STYLEGAN.option_defaults
    assert STYLEGAN.option_defaults["augment"] == "ada" and STYLEGAN.option_defaults["w_dim"] == 256
    assert STYLEGAN.check_options({"w_dim": 16, "r1_gamma": 0})["w_dim"] == 16
    assert STYLEGAN.shape_options == ("mapping_layers", "w_dim")
    assert STYLEGAN.hyperparameter_defaults == {"lr": 0.0025, "beta1": 0.0, "beta2": 0.99}
    assert STYLEGAN.resolutions == (32, 64, 128, 256) and STYLEGAN.conditional
    for name in ("dcgan", "cdcgan"):
        dcgan = get_architecture(name)
        assert dcgan.hyperparameter_defaults == {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999}
        assert (dcgan.option_defaults, dcgan.shape_options, dcgan.check_options({})) == ({}, (), {})


@pytest.mark.parametrize("options", [
    {"mapping_layers": 0}, {"mapping_layers": 9}, {"mapping_layers": 2.0}, {"w_dim": 0}, {"w_dim": True},
    {"augment": "sometimes"}, {"augment": None}, {"ada_target": 0}, {"ada_target": 1.0}, {"ada_target": "0.6"},
    {"ada_images": 0}, {"ada_interval": 0}, {"r1_gamma": -1.0}, {"r1_interval": 0},
    {"pl_weight": -0.5}, {"pl_interval": 0}, {"ema_images": 0.5}, {"freeze_d": -1}, {"compile": 1},
])
def test_out_of_range_options_are_rejected_by_name(options):
    (name,) = options
    with pytest.raises(ValueError, match=name):
        STYLEGAN.check_options(options)
    with pytest.raises(ValueError, match=name):
        STYLEGAN.make_trainer(make_config(**options))


def test_non_finite_numbers_are_rejected():
    with pytest.raises(ValueError, match="r1_gamma"):
        STYLEGAN.check_options({"r1_gamma": float("nan")})
    with pytest.raises(ValueError, match="JSON"):
        make_config(pl_weight=float("inf"))


def test_unknown_options_are_rejected():
    with pytest.raises(ValueError, match="w_dims"):
        STYLEGAN.check_options({"w_dims": 8})
    for name in ("dcgan", "cdcgan"):
        with pytest.raises(ValueError, match="augment"):
            get_architecture(name).check_options({"augment": "ada"})
        with pytest.raises(ValueError, match="augment"):
            get_architecture(name).make_trainer(make_config(architecture=name, augment="ada"))


@pytest.mark.parametrize(("resolution", "blocks"), [(32, 3), (256, 6)])
def test_freeze_d_is_bounded_by_the_discriminator_blocks(resolution, blocks):
    STYLEGAN.check_config(make_config(resolution, freeze_d=blocks))
    with pytest.raises(ValueError, match="freeze_d"):
        STYLEGAN.check_config(make_config(resolution, freeze_d=blocks + 1))


def test_config_checks():
    with pytest.raises(ValueError, match="resolution"):
        STYLEGAN.check_config(make_config(28))
    with pytest.raises(ValueError, match="real_label"):
        STYLEGAN.check_config(GanConfig("stylegan2-ada", 32, 1, 1, ["a"], steps=1, real_label=0.9))
