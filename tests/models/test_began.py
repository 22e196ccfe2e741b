"""BEGAN and cBEGAN: training and generation, the equilibrium k_t, M_global, the lr decay and resuming."""
from __future__ import annotations

import math

import pytest
import torch

from models.began.networks import ELU
from models.checkpoint import unpack_state
from models.config import GanConfig
from models.monitor import Stopped
from models.snapshot import load_sampler, read_pretrained
from models.training import TrainResult, train_gan
from tests.models.recording import Recorder

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["a", "b"]
STEPS = 8


def make_config(architecture: str = "began", channels: int = 1, classes: list[str] = CLASSES, seed: int = 0,
                **options: object) -> GanConfig:
    return GanConfig(architecture=architecture, channels=channels, class_names=classes, steps=STEPS, batch_size=4,
                     sample_every=4, checkpoint_every=4, seed=seed,
                     options={"resolution": 32, "width": 8, "z_dim": 8, "hidden": 8, **options})


def run(config: GanConfig, recorder: Recorder | None = None, **kwargs: object) -> tuple[TrainResult, Recorder]:
    recorder = recorder or Recorder()
    gen = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (6, config.channels, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.arange(6) % 2
    return train_gan(config, images, labels, recorder.callbacks(), recorder.monitor(), **kwargs), recorder


def start(config: GanConfig, **kwargs: object) -> dict[str, torch.Tensor]:
    """The networks a run starts from: those of the checkpoint a stop before its first step hands over."""
    with pytest.raises(Stopped) as caught:
        run(config, Recorder(stop_after=0), **kwargs)
    trainer = unpack_state(caught.value.state)["trainer"]
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in trainer[net].items()}


@pytest.mark.parametrize(("architecture", "channels"), [("began", 1), ("cbegan", 3)])
def test_trains_and_generates(architecture, channels):
    result, rec = run(make_config(architecture, channels))
    assert len(rec.progress) == STEPS and list(rec.samples) == [4, 8]
    for metrics in rec.progress:
        assert {"loss_g", "loss_d", "m_global", "k_t", "lr"} <= set(metrics)
        assert all(math.isfinite(v) for v in metrics.values())
    sampler = load_sampler(result.snapshot)
    images = sampler.generate([0, 1, 0], [5, 5, 6])
    assert images.shape == (3, channels, 32, 32) and images.dtype == torch.uint8
    assert not torch.equal(images[0], images[2])  # z matters
    # cBEGAN's images depend on the class; BEGAN ignores it
    assert torch.equal(images[0], images[1]) == (architecture == "began")


def test_k_t_follows_the_equilibrium_and_stays_in_0_1():
    # a lambda_k of 1 moves k_t to a bound within a step or two: k_t rises to 1 with gamma 1 (G's images are
    # reconstructed better than the real ones at first), and stays at 0 with gamma near 0
    for gamma, bound in ((1.0, 1.0), (0.01, 0.0)):
        _, rec = run(make_config(gamma=gamma, lambda_k=1.0))
        ks = [m["k_t"] for m in rec.progress]
        assert ks[0] == 0.0 and all(0.0 <= k <= 1.0 for k in ks)
        assert ks[-1] == bound, ks
        for before, after in zip(rec.progress, rec.progress[1:]):
            balance = gamma * before["loss_real"] - before["loss_fake"]
            assert after["k_t"] == pytest.approx(min(max(before["k_t"] + balance, 0.0), 1.0), abs=1e-12)
            assert before["m_global"] == pytest.approx(before["loss_real"] + abs(balance), abs=1e-12)


def test_lr_halves_when_m_global_stalls():
    _, rec = run(make_config(lr_decay_every=1))
    best, lr, halvings = math.inf, 1e-4, 0
    for metrics in rec.progress:
        if metrics["m_global"] >= best:
            lr, halvings = lr / 2, halvings + 1
        best = min(best, metrics["m_global"])
        assert metrics["lr"] == lr
    assert 0 < halvings < STEPS - 1  # both branches taken
    _, rec = run(make_config(lr_decay_every=0))
    assert {m["lr"] for m in rec.progress} == {1e-4}


@pytest.mark.parametrize("architecture", ["began", "cbegan"])
def test_resume_is_bit_identical(architecture):
    # stopped mid-way through an lr-decay window, with k_t away from 0 and the lr already halved once
    config = make_config(architecture, lr_decay_every=2, lambda_k=0.1)
    full, full_rec = run(config)
    assert full_rec.progress[4]["lr"] < 1e-4 and full_rec.progress[4]["k_t"] > 0
    recorder = Recorder(stop_after=5)
    with pytest.raises(Stopped) as caught:
        run(config, recorder)
    torch.rand(10)  # the caller's global RNG use in between must not matter
    resumed, rec = run(config, resume_from=caught.value.state)
    assert rec.progress == full_rec.progress[5:]
    assert (resumed.checkpoint, resumed.snapshot, resumed.discriminator) == (
        full.checkpoint, full.snapshot, full.discriminator)
    equilibrium = unpack_state(resumed.checkpoint)["trainer"]["equilibrium"]
    assert equilibrium["k"] == pytest.approx(
        min(max(full_rec.progress[-1]["k_t"] + 0.1 * (0.5 * full_rec.progress[-1]["loss_real"]
                                                     - full_rec.progress[-1]["loss_fake"]), 0), 1), abs=1e-12)


def test_the_cpu_elu_is_torchs_elu():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64).requires_grad_(True)
    ours = ELU()(x)
    (grad,) = torch.autograd.grad(ours.sum(), x)
    theirs = torch.nn.functional.elu(x)
    (expected,) = torch.autograd.grad(theirs.sum(), x)
    assert torch.allclose(ours, theirs, atol=1e-12) and torch.allclose(grad, expected, atol=1e-12)


def test_a_fine_tune_onto_other_classes_keeps_all_but_the_class_embeddings():
    source, _ = run(make_config("cbegan", seed=1))
    config = make_config("cbegan", classes=["x", "y", "z"], seed=2)
    base = read_pretrained(source.snapshot, source.discriminator)
    fresh, started = start(config), start(config, pretrained=base)
    trained = {f"{net}.{k}": v for net, weights in (("generator", base.generator),
                                                    ("discriminator", base.discriminator)) for k, v in weights.items()}
    embeddings = {k for k in started if "embed" in k.split(".")}
    assert embeddings == {"generator.embed.weight", "discriminator.decoder.embed.weight"}
    for key, value in started.items():
        assert torch.equal(value, (fresh if key in embeddings else trained)[key]), key
