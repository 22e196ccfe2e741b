from __future__ import annotations

import pytest
import torch

from models.architectures import architecture_names, get_architecture
from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.config import GanConfig
from models.monitor import Monitor
from models.snapshot import load_sampler, model_info, read_pretrained
from models.training import GanCallbacks, TrainResult, train_gan

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["a", "b", "c"]
# Tiny networks of every architecture; a new architecture adds itself here.
TINY_OPTIONS = {
    "dcgan": {"resolution": 32, "z_dim": 8, "width": 4},
    "cdcgan": {"resolution": 28, "z_dim": 8, "width": 8},
    "stylegan2-ada": {"resolution": 32, "z_dim": 8, "width": 2, "w_dim": 8, "ema_images": 20},
    "fastgan": {"resolution": 64, "z_dim": 8, "width": 1, "ema_images": 20},
    "cfastgan": {"resolution": 64, "z_dim": 8, "width": 1, "ema_images": 20},
    "cyclegan": {"resolution": 32, "width": 2, "resnet_blocks": 1},  # a translator: source a, targets b and c
    "began": {"resolution": 32, "z_dim": 8, "width": 2, "hidden": 8},
    "cbegan": {"resolution": 32, "z_dim": 8, "width": 2, "hidden": 8},
    "singan": {"resolution": 32, "min_size": 32, "width": 2, "steps_per_scale": 1},  # 1 scale: 3 steps
}
# The config fields that were top-level before architecture options.
LEGACY_FLAT = ("resolution", "z_dim", "width", "lr", "beta1", "beta2", "real_label")


def make_config(architecture: str = "cdcgan") -> GanConfig:
    return GanConfig(architecture=architecture, channels=1, class_names=CLASSES, steps=3, batch_size=4,
                     options=TINY_OPTIONS[architecture])


def train(config: GanConfig) -> TrainResult:
    r = config.resolution
    images = torch.randint(0, 256, (9, 1, r, r), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    callbacks = GanCallbacks(lambda *a: None, lambda *a: None)
    return train_gan(config, images, torch.arange(9) % 3, callbacks, Monitor())


def legacy_checkpoint(result: TrainResult) -> bytes:
    """The training checkpoint as models registered before snapshots were: with the old flat config."""
    tree = unpack_state(result.checkpoint)
    config = tree["config"]
    options = config.pop("options")
    config.update({name: options.pop(name, None) for name in LEGACY_FLAT}, num_classes=len(config["class_names"]),
                  options=options)
    return pack_state(tree)


@pytest.fixture(scope="module")
def trained() -> dict[str, TrainResult]:
    assert set(TINY_OPTIONS) == set(architecture_names())
    return {name: train(make_config(name)) for name in TINY_OPTIONS}


@pytest.fixture(scope="module")
def blob(trained) -> bytes:
    return trained["cdcgan"].snapshot


def retouched(blob: bytes, edit) -> bytes:
    tree = unpack_state(blob)
    edit(tree)
    return pack_state(tree)


@pytest.mark.parametrize("architecture", list(TINY_OPTIONS))
def test_a_snapshot_holds_the_sampling_network_alone(trained, architecture):
    tree = unpack_state(trained[architecture].snapshot)
    assert set(tree) == {"format", "config", "step", "generator"}
    assert (tree["format"], tree["step"], tree["config"]) == ("defectgen-generator/1", 3,
                                                             trained[architecture].config.to_dict())
    assert getattr(trained[architecture].config.options, "augment", None) != "auto"  # decided for the data
    sampler = get_architecture(architecture).make_sampler(make_config(architecture))
    assert tree["generator"].keys() == sampler.state_dict().keys()
    assert not any(word in key for key in tree["generator"] for word in ("opt", "discriminator", "exp_avg"))
    d_tree = unpack_state(trained[architecture].discriminator)
    assert set(d_tree) == {"format", "discriminator"} and d_tree["format"] == "defectgen-discriminator/1"
    assert d_tree["discriminator"].keys() == unpack_state(trained[architecture].checkpoint)["trainer"][
        "discriminator"].keys()


@pytest.mark.parametrize("architecture", [name for name in TINY_OPTIONS  # singan: never had a flat config
                                          if not get_architecture(name).translator and name != "singan"])
def test_a_snapshot_generates_what_the_legacy_checkpoint_of_the_same_trainer_does(trained, architecture):
    legacy = legacy_checkpoint(trained[architecture])
    assert "resolution" in unpack_state(legacy)["config"]
    labels, seeds = [0, 1, 2, 1, 0], [3, 4, 5, 6, 3]
    for psi in (1.0, 0.6):
        expected = load_sampler(legacy).generate(labels, seeds, psi)
        assert torch.equal(load_sampler(trained[architecture].snapshot).generate(labels, seeds, psi), expected)
    info = model_info(legacy)
    assert (info["format"], info["step"], info["config"]) == ("defectgen-gan/1", 3,
                                                             trained[architecture].config.to_dict())


def test_a_legacy_checkpoint_gives_both_networks_for_fine_tuning(trained):
    trainer_state = unpack_state(trained["stylegan2-ada"].checkpoint)["trainer"]
    assert any(not torch.equal(trainer_state["generator"][k], v) for k, v in trainer_state["g_ema"].items())
    base = read_pretrained(legacy_checkpoint(trained["stylegan2-ada"]))
    assert base.config == make_config("stylegan2-ada")
    for key, value in trainer_state["g_ema"].items():
        assert torch.equal(base.generator[key], value), key
    assert all(torch.equal(base.discriminator[k], v) for k, v in trainer_state["discriminator"].items())
    assert read_pretrained(trained["stylegan2-ada"].snapshot).discriminator is None


def test_generate_shape_and_dtype(blob):
    sampler = load_sampler(blob)
    assert sampler.config.class_names == CLASSES
    images = sampler.generate([0, 1, 2, 0, 1], [10, 11, 12, 13, 14])
    assert images.shape == (5, 1, 28, 28) and images.dtype == torch.uint8
    assert sampler.generate([], []).shape == (0, 1, 28, 28)


def test_same_seed_same_image_and_different_seeds_differ(blob):
    sampler = load_sampler(blob)
    first = sampler.generate([1, 1, 1], [5, 5, 6])
    assert torch.equal(first[0], first[1])
    assert not torch.equal(first[0], first[2])
    assert torch.equal(load_sampler(blob).generate([1], [5])[0], first[0])


def test_each_image_is_reproducible_alone_whatever_the_batch(blob):
    sampler = load_sampler(blob)
    n = 70  # spans two internal chunks
    labels = [i % 3 for i in range(n)]
    seeds = [1000 + 7 * i for i in range(n)]
    batch = sampler.generate(labels, seeds)
    for i in (0, 2, 63, 64, 69):
        assert torch.equal(sampler.generate([labels[i]], [seeds[i]])[0], batch[i]), i
    assert torch.equal(sampler.generate(labels[60:68], seeds[60:68]), batch[60:68])


def test_truncation_psi_zero_collapses_each_class_to_one_image(blob):
    images = load_sampler(blob).generate([2, 2, 0], [1, 2, 3], truncation_psi=0.0)
    assert torch.equal(images[0], images[1])
    assert not torch.equal(images[0], images[2])


def test_generate_rejects_bad_arguments(blob):
    sampler = load_sampler(blob)
    with pytest.raises(ValueError):
        sampler.generate([0, 1], [1])
    with pytest.raises(ValueError):
        sampler.generate([3], [1])


def test_model_info(trained, blob):
    assert model_info(blob) == {"format": "defectgen-generator/1", "step": 3,
                                "config": trained["cdcgan"].config.to_dict()}
    assert model_info(trained["cdcgan"].checkpoint)["format"] == "defectgen-gan/1"


def _set(key, value, where="config"):
    return lambda tree: (tree[where] if where else tree).__setitem__(key, value)


@pytest.mark.parametrize("edit", [
    _set("architecture", "stylegan9"),
    _set("surprise", 1),
    _set("channels", 3),  # the nets no longer fit the tensors
    _set("class_names", ["a", "b"]),
    _set("options", {"resolution": 28, "z_dim": 8, "width": 16}),
    _set("options", {"resolution": 48}),
    _set("format", "other/1", None),
    _set("format", "defectgen-discriminator/1", None),
    _set("step", 99, None),
    _set("step", True, None),
    lambda tree: tree.__delitem__("generator"),
    lambda tree: tree["generator"].popitem(),
    _set("net.0.weight", torch.zeros(1), "generator"),
    _set("generator", {"net.0.weight": "not a tensor"}, None),
])
def test_model_info_rejects_invalid_snapshots(blob, edit):
    with pytest.raises(CheckpointError):
        model_info(retouched(blob, edit))


@pytest.mark.parametrize("edit", [
    lambda tree: tree.__delitem__("trainer"),
    lambda tree: tree["trainer"]["generator"].popitem(),
    lambda tree: tree["trainer"].__delitem__("discriminator"),
])
def test_model_info_rejects_invalid_training_checkpoints(trained, edit):
    with pytest.raises(CheckpointError):
        model_info(retouched(trained["cdcgan"].checkpoint, edit))


def test_read_pretrained_rejects_a_bad_discriminator_blob(trained):
    snapshot = trained["cdcgan"].snapshot
    with pytest.raises(CheckpointError, match="format"):
        read_pretrained(snapshot, snapshot)
    with pytest.raises(CheckpointError):
        read_pretrained(snapshot, retouched(trained["cdcgan"].discriminator, lambda t: t.__delitem__("discriminator")))


@pytest.mark.parametrize("garbage", [b"", b"not a checkpoint", b"\x80\x04\x95" + b"\x00" * 50])
def test_garbage_is_rejected(garbage):
    with pytest.raises(CheckpointError):
        model_info(garbage)
    with pytest.raises(CheckpointError):
        load_sampler(garbage)
