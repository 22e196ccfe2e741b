from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from models.architectures import Architecture, architecture_names, get_architecture, register
from models.architectures.dcgan_common import ORIGINAL_RECIPE
from models.config import GanConfig

# For each option of any architecture, a value its Options must refuse.
WRONG_VALUES = {
    "resolution": 48, "z_dim": 0, "width": 1025, "lr": 0.0, "beta1": 1.0, "beta2": -0.1, "real_label": 1.5,
    "mapping_layers": 9, "w_dim": 0, "augment": "sometimes", "ada_target": 1.0, "ada_images": 0,
    "ada_interval": 0, "r1_gamma": -1.0, "r1_interval": 0, "pl_weight": float("inf"), "pl_interval": 0,
    "ema_images": -1.0, "freeze_d": -1, "compile": "maybe", "upsample": "bilinear", "d_norm": "layer",
    "minibatch_std": "often", "loss": "wasserstein", "reconstruction_weight": -1.0, "mode_seeking": -1.0,
    "resnet_blocks": 0, "lambda_cycle": -1.0, "lambda_identity": float("nan"), "pool_size": -1, "decay_fraction": 1.5,
    "hidden": 0, "gamma": 0.0, "lambda_k": 1.5, "lr_decay_every": -1,
    "min_size": 11, "scale_factor": 1.0, "alpha": -1.0, "steps_per_scale": 0, "images_per_class": 17,
}


def make_config(**overrides) -> GanConfig:
    values = dict(architecture="cdcgan", channels=1, class_names=["a", "b"], steps=5,
                  options={"resolution": 32, "width": 8})
    values.update(overrides)
    return GanConfig(**values)


def test_config_dict_round_trip_through_json():
    config = make_config(device="cpu", seed=7, options={"resolution": 32, "real_label": 0.8})
    assert GanConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    config = make_config(architecture="stylegan2-ada", options={"w_dim": 16, "r1_gamma": None, "augment": "none"})
    assert GanConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_defaults_live_in_the_options():
    dcgan, cdcgan = make_config(architecture="dcgan", options={}), make_config(options={})
    assert (dcgan.batch_size, dcgan.steps, dcgan.resolution) == (16, 5, 64)
    assert (dcgan.options.z_dim, dcgan.options.lr, dcgan.options.beta1, dcgan.options.beta2) == (100, 2e-4, 0.5, 0.999)
    assert (dcgan.options.real_label, cdcgan.options.real_label) == (1.0, 0.9)
    stylegan = make_config(architecture="stylegan2-ada", options={}).options
    assert (stylegan.lr, stylegan.beta1, stylegan.beta2, stylegan.augment, stylegan.w_dim) == (0.0025, 0.0, 0.99,
                                                                                               "ada", 256)


def test_old_flat_config_dicts_load():
    old = {"architecture": "cdcgan", "resolution": 28, "channels": 1, "num_classes": 2, "class_names": ["a", "b"],
           "steps": 5, "batch_size": 4, "z_dim": 16, "width": 8, "lr": 1e-3, "beta1": 0.5, "beta2": 0.999,
           "seed": 3, "sample_every": 2, "checkpoint_every": 3, "device": "cpu", "real_label": None, "options": {}}
    assert GanConfig.from_dict(old) == make_config(
        steps=5, batch_size=4, seed=3, sample_every=2, checkpoint_every=3,
        options={"resolution": 28, "z_dim": 16, "width": 8, "lr": 1e-3, **ORIGINAL_RECIPE})
    del old["options"]  # older still: from before architecture options
    old["real_label"] = 0.8
    assert GanConfig.from_dict(old).options.real_label == 0.8
    old_stylegan = {**old, "architecture": "stylegan2-ada", "resolution": 32, "lr": 0.0025, "beta1": 0.0,
                    "beta2": 0.99, "real_label": None, "options": {"w_dim": 16, "augment": "none"}}
    options = GanConfig.from_dict(old_stylegan).options
    assert (options.resolution, options.z_dim, options.w_dim, options.augment) == (32, 16, 16, "none")


def test_from_dict_rejects_unknown_and_missing_keys():
    data = make_config().to_dict()
    with pytest.raises(ValidationError, match="extra"):
        GanConfig.from_dict({**data, "extra": 1})
    with pytest.raises(ValidationError, match="nope"):
        GanConfig.from_dict({**data, "options": {"nope": 1}})
    del data["channels"]
    with pytest.raises(ValidationError, match="channels"):
        GanConfig.from_dict(data)


@pytest.mark.parametrize("overrides", [
    {"channels": 2}, {"class_names": ["a", "a"]}, {"class_names": []}, {"steps": 0}, {"batch_size": 0},
    {"seed": -1}, {"architecture": "stylegan9"}, {"options": {"resolution": 512}},
    {"options": {"w_dim": 16}},  # a StyleGAN option
])
def test_config_validation(overrides):
    with pytest.raises(ValueError):
        make_config(**overrides)


@pytest.mark.parametrize("name", architecture_names())
def test_each_option_refuses_a_wrong_value_by_name(name):
    options = get_architecture(name).Options
    assert set(options.model_fields) <= set(WRONG_VALUES), "add a wrong value for each new option"
    for field in options.model_fields:
        with pytest.raises(ValidationError) as caught:
            options(**{field: WRONG_VALUES[field]})
        assert [error["loc"] for error in caught.value.errors()] == [(field,)], field


def test_options_are_frozen():
    with pytest.raises(ValidationError):
        make_config().options.width = 4


def test_registry_knows_the_architectures():
    assert {"dcgan", "cdcgan", "stylegan2-ada"} <= set(architecture_names())
    dcgan, cdcgan = get_architecture("dcgan"), get_architecture("cdcgan")
    assert (dcgan.name, dcgan.conditional, cdcgan.name, cdcgan.conditional) == ("dcgan", False, "cdcgan", True)
    assert dcgan.resolutions == cdcgan.resolutions == (28, 32, 64, 128)
    with pytest.raises(KeyError, match="unknown architecture"):
        get_architecture("nope")


def test_register_refuses_a_second_class_under_a_taken_name():
    class Impostor(Architecture):
        name = "dcgan"
        conditional = False

        def make_trainer(self, config):
            raise AssertionError

        def make_sampler(self, config):
            raise AssertionError

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    assert type(get_architecture("dcgan")).__name__ == "DCGAN"
