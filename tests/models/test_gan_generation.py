from __future__ import annotations

import pytest
import torch

from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.config import GanConfig
from models.generation import checkpoint_info, load_sampler
from models.training import TrainCallbacks, train_gan

CLASSES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def blob() -> bytes:
    config = GanConfig("cdcgan", 28, 1, 3, CLASSES, steps=3, batch_size=4, width=8)
    images = torch.randint(0, 256, (9, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    callbacks = TrainCallbacks(lambda *a: None, lambda: False, lambda *a: None, lambda *a: None)
    return train_gan(config, images, torch.arange(9) % 3, callbacks).checkpoint


def retouched(blob: bytes, edit) -> bytes:
    tree = unpack_state(blob)
    edit(tree)
    return pack_state(tree)


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


def test_checkpoint_info(blob):
    info = checkpoint_info(blob)
    assert info["step"] == 3
    assert info["config"] == GanConfig("cdcgan", 28, 1, 3, CLASSES, steps=3, batch_size=4, width=8).to_dict()


def test_a_checkpoint_from_before_options_loads(blob):
    old = retouched(blob, lambda tree: tree["config"].pop("options"))
    assert checkpoint_info(old)["config"]["options"] == {}
    assert torch.equal(load_sampler(old).generate([1], [5]), load_sampler(blob).generate([1], [5]))


def _set_config(key, value):
    return lambda tree: tree["config"].__setitem__(key, value)


@pytest.mark.parametrize("edit", [
    _set_config("architecture", "stylegan9"),
    _set_config("resolution", 48),
    _set_config("surprise", 1),
    _set_config("width", 16),  # nets no longer fit the tensors
    _set_config("num_classes", 4),
    lambda tree: tree.__setitem__("format", "other/1"),
    lambda tree: tree.__setitem__("step", 99),
    lambda tree: tree.__delitem__("trainer"),
    lambda tree: tree["trainer"]["generator"].popitem(),
    lambda tree: tree["trainer"]["discriminator"].__setitem__("net.0.weight", torch.zeros(1)),
    lambda tree: tree["trainer"]["opt_d"]["param_groups"].append(tree["trainer"]["opt_d"]["param_groups"][0]),
])
def test_checkpoint_info_rejects_invalid_checkpoints(blob, edit):
    with pytest.raises(CheckpointError):
        checkpoint_info(retouched(blob, edit))


@pytest.mark.parametrize("garbage", [b"", b"not a checkpoint", b"\x80\x04\x95" + b"\x00" * 50])
def test_garbage_is_rejected(garbage):
    with pytest.raises(CheckpointError):
        checkpoint_info(garbage)
    with pytest.raises(CheckpointError):
        load_sampler(garbage)
