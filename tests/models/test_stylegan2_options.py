from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.architectures import get_architecture
from models.config import GanConfig

STYLEGAN = get_architecture("stylegan2-ada")
Options = STYLEGAN.Options


def make_config(architecture: str = "stylegan2-ada", **options) -> GanConfig:
    return GanConfig(architecture=architecture, channels=3, class_names=["a", "b"], steps=1,
                     options={"resolution": 32, "width": 2, "z_dim": 8, **options})


def test_defaults_and_class_attributes():
    defaults = Options()
    assert (defaults.augment, defaults.w_dim, defaults.r1_gamma, defaults.freeze_d) == ("ada", 256, None, 0)
    assert (defaults.lr, defaults.beta1, defaults.beta2) == (0.0025, 0.0, 0.99)
    assert STYLEGAN.shape_options == ("resolution", "z_dim", "width", "mapping_layers", "w_dim")
    assert STYLEGAN.resolutions == (32, 64, 128, 256) and STYLEGAN.conditional
    assert STYLEGAN.one_class_is_unconditional and STYLEGAN.sampler_state_key == "g_ema"
    for name in ("dcgan", "cdcgan"):
        assert get_architecture(name).shape_options == ("resolution", "z_dim", "width", "upsample", "d_norm",
                                                        "minibatch_std")


@pytest.mark.parametrize("options", [
    {"mapping_layers": 0}, {"mapping_layers": 2.5}, {"w_dim": 0}, {"augment": None}, {"ada_target": 0},
    {"ada_target": "high"}, {"r1_gamma": float("nan")}, {"pl_weight": -0.5}, {"ema_images": float("inf")},
    {"compile": 2}, {"resolution": 28},
])
def test_out_of_range_options_are_rejected_by_name(options):
    (name,) = options
    with pytest.raises(ValidationError, match=name):
        Options(**options)
    with pytest.raises(ValidationError, match=name):
        make_config(**options)


def test_unknown_options_are_rejected():
    with pytest.raises(ValidationError, match="w_dims"):
        Options(w_dims=8)
    with pytest.raises(ValidationError, match="real_label"):
        Options(real_label=0.9)
    for name in ("dcgan", "cdcgan"):
        with pytest.raises(ValidationError, match="mapping_layers"):
            make_config(name, mapping_layers=2)


@pytest.mark.parametrize(("resolution", "blocks"), [(32, 3), (256, 6)])
def test_freeze_d_is_bounded_by_the_discriminator_blocks(resolution, blocks):
    assert Options(resolution=resolution, freeze_d=blocks).freeze_d == blocks
    with pytest.raises(ValidationError, match="freeze_d"):
        Options(resolution=resolution, freeze_d=blocks + 1)
