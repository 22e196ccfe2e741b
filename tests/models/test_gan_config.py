from __future__ import annotations

import json

import pytest

from models.config import GanConfig
from models.registry import Architecture, architecture_names, get_architecture, register


def make_config(**overrides) -> GanConfig:
    values = dict(architecture="cdcgan", resolution=32, channels=1, num_classes=2, class_names=["a", "b"],
                  steps=5, width=8)
    values.update(overrides)
    return GanConfig(**values)


def test_config_dict_round_trip_through_json():
    config = make_config(real_label=0.8, device="cpu", seed=7)
    data = json.loads(json.dumps(config.to_dict()))
    assert GanConfig.from_dict(data) == config
    config = make_config(architecture="stylegan2-ada", options={"w_dim": 16, "r1_gamma": None, "augment": "none"})
    assert GanConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_options_default_to_empty_and_may_be_missing_from_old_dicts():
    data = make_config().to_dict()
    assert data["options"] == {}
    del data["options"]
    assert GanConfig.from_dict(data) == make_config()


def test_config_defaults_follow_the_dcgan_recipe():
    config = make_config()
    assert (config.batch_size, config.z_dim, config.lr, config.beta1, config.beta2) == (16, 100, 2e-4, 0.5, 0.999)
    assert config.real_label is None


def test_from_dict_rejects_unknown_and_missing_keys():
    data = make_config().to_dict()
    with pytest.raises(ValueError, match="unknown config keys"):
        GanConfig.from_dict({**data, "extra": 1})
    del data["steps"]
    with pytest.raises(ValueError, match="missing config keys"):
        GanConfig.from_dict(data)


@pytest.mark.parametrize("overrides", [
    {"resolution": 48}, {"channels": 2}, {"num_classes": 3}, {"class_names": ["a", "a"]}, {"steps": 0},
    {"batch_size": 0}, {"lr": 0.0}, {"beta1": 1.0}, {"real_label": 1.5}, {"width": 8.0}, {"steps": True}, {"seed": -1},
    {"resolution": 512}, {"options": [1]}, {"options": {1: "a"}}, {"options": {"a": object()}},
])
def test_config_validation(overrides):
    with pytest.raises(ValueError):
        make_config(**overrides)


def test_registry_knows_both_architectures():
    assert {"dcgan", "cdcgan"} <= set(architecture_names())
    dcgan, cdcgan = get_architecture("dcgan"), get_architecture("cdcgan")
    assert (dcgan.name, dcgan.conditional, cdcgan.name, cdcgan.conditional) == ("dcgan", False, "cdcgan", True)
    assert dcgan.resolutions == cdcgan.resolutions == (28, 32, 64, 128)
    with pytest.raises(KeyError, match="unknown architecture"):
        get_architecture("nope")


def test_register_refuses_a_second_class_under_a_taken_name():
    class Impostor(Architecture):
        name = "dcgan"
        conditional = False
        resolutions = (32,)

        def make_trainer(self, config):
            raise AssertionError

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    assert type(get_architecture("dcgan")).__name__ == "DCGAN"


def test_make_trainer_rejects_a_config_for_another_architecture():
    with pytest.raises(ValueError):
        get_architecture("dcgan").make_trainer(make_config(architecture="cdcgan"))


@pytest.mark.parametrize(("architecture", "real_label", "expected"), [
    ("dcgan", None, 1.0), ("cdcgan", None, 0.9), ("cdcgan", 0.8, 0.8), ("dcgan", 0.95, 0.95),
])
def test_effective_real_label(architecture, real_label, expected):
    trainer = get_architecture(architecture).make_trainer(make_config(architecture=architecture,
                                                                      real_label=real_label))
    assert trainer.real_label == expected
