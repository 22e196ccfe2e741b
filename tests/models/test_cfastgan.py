"""The class-conditional FastGAN (cfastgan): one G and a projection D shared by every class."""
from __future__ import annotations

import pytest
import torch

from models.architectures import get_architecture
from models.checkpoint import unpack_state
from models.fastgan.networks import Discriminator, Generator
from models.snapshot import load_sampler, read_pretrained
from tests.models.test_fastgan import OPTIONS, make_config, run, stopped

pytestmark = pytest.mark.usefixtures("one_thread")


def config(**overrides):  # type: ignore[no-untyped-def]
    return make_config(architecture="cfastgan", **{"options": {**OPTIONS, "width": 4}, **overrides})


@pytest.fixture(scope="module")
def full():  # type: ignore[no-untyped-def]
    return run(config())


def test_g_and_d_read_the_labels():
    g, d = Generator(8, 1, 64, 4, num_classes=3).eval(), Discriminator(1, 64, 4, num_classes=3).eval()
    z = torch.randn(1, 8).repeat(4, 1)
    labels = torch.tensor([0, 0, 2, 2])
    images = g(z, labels=labels)
    assert torch.equal(images[0], images[1]) and not torch.equal(images[0], images[2])
    same = images[:2].repeat(2, 1, 1, 1)
    logits = d(same, labels)
    assert logits.shape == (4, 25) and not torch.allclose(logits[0], logits[2])
    assert {key.split(".")[0] for key in g.state_dict() if "embed" in key} == {"embed"}


def test_every_minibatch_mixes_classes_and_every_class_has_its_images(full):
    result, rec = full
    assert rec.progress[-1]["augment_p"] == 1.0 and "recon" in rec.progress[-1]
    sampler = load_sampler(result.snapshot)
    z = sampler.noise([7, 7, 7])
    images = sampler._network.sample(z, torch.tensor([0, 1, 0]))  # floats: 4 tiny steps barely move uint8 pixels
    assert torch.equal(images[0], images[2]) and not torch.equal(images[0], images[1])
    assert not any(key[0].isdigit() for key in unpack_state(result.snapshot)["generator"])  # one network


@pytest.mark.parametrize("stop_after", [2, 3])
def test_resume_is_bit_identical(full, stop_after):
    resumed, rec = run(config(), resume_from=stopped(config(), stop_after))
    assert rec.progress == full[1].progress[stop_after:]
    assert (resumed.checkpoint, resumed.snapshot) == (full[0].checkpoint, full[0].snapshot)


def test_fine_tune_onto_other_classes_keeps_all_but_the_class_embeddings(full):
    pretrained = read_pretrained(full[0].snapshot, full[0].discriminator)
    tuned = unpack_state(stopped(config(seed=5, class_names=["x", "y", "z"]), 0, pretrained=pretrained))["trainer"]
    for net, weights in (("generator", pretrained.generator), ("discriminator", pretrained.discriminator)):
        shared = {k for k in weights if not k.startswith("embed.")}
        assert all(torch.equal(tuned[net][k], weights[k]) for k in shared), net
        assert tuned[net]["embed.weight" if net == "generator" else "embed.parametrizations.weight.original"
                          ].shape[0] == 3


def test_it_is_registered_as_conditional_with_fastgan_options():
    architecture = get_architecture("cfastgan")
    assert architecture.conditional and not architecture.per_class
    assert set(architecture.Options.model_fields) == set(get_architecture("fastgan").Options.model_fields)
    assert architecture.Options().mode_seeking == 0.3 and get_architecture("fastgan").Options().mode_seeking == 0
    assert config(options={**OPTIONS, "resolution": 128}).resolution == 128


def test_mode_seeking_enters_g_s_loss(full):
    without, rec = run(config(options={**OPTIONS, "width": 4, "mode_seeking": 0.0}))
    assert rec.progress[0]["loss_g"] != full[1].progress[0]["loss_g"]  # the default's term is in G's loss at once
    assert without.snapshot != full[0].snapshot
