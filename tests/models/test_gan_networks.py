from __future__ import annotations

import pytest
import torch

import models.architectures.dcgan_common as dcgan_common
from models.architectures import get_architecture
from models.config import GanConfig
from models.mode_seeking import mode_seeking_loss

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["a", "b", "c"]


def make_config(architecture: str, resolution: int, channels: int, seed: int = 0, **options) -> GanConfig:
    return GanConfig(architecture=architecture, channels=channels, class_names=CLASSES, steps=1, seed=seed,
                     options={"resolution": resolution, "width": 8, **options})


def make_trainer(architecture: str, resolution: int, channels: int, seed: int = 0, **options):
    return get_architecture(architecture).make_trainer(make_config(architecture, resolution, channels, seed,
                                                                   **options))


@pytest.mark.parametrize("architecture", ["dcgan", "cdcgan"])
@pytest.mark.parametrize("resolution", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_gradient_flow(architecture, resolution, channels):
    trainer = make_trainer(architecture, resolution, channels)
    labels = torch.tensor([0, 1, 2, 0])
    z = torch.randn(4, 100)
    images = trainer.sampling_network().sample(z, labels)
    assert images.shape == (4, channels, resolution, resolution)
    assert images.dtype == torch.float32 and images.abs().max() <= 1
    real = torch.rand(4, channels, resolution, resolution) * 2 - 1
    assert trainer.discriminator(real, labels).shape == (4,)

    nets = {"G": trainer.generator, "D": trainer.discriminator}
    before = {(n, p): t.detach().clone() for n, net in nets.items() for p, t in net.named_parameters()}
    metrics = trainer.train_step(real, labels, torch.Generator().manual_seed(0))
    assert set(metrics) >= {"loss_g", "loss_d", "d_real", "d_fake"}
    assert all(isinstance(v, float) and v == v for v in metrics.values())
    # Adam moves a parameter only if it received a non-zero gradient (every class is in the batch).
    frozen = [key for key, old in before.items()
              if torch.equal(old, dict(nets[key[0]].named_parameters())[key[1]].detach())]
    assert frozen == []
    assert all(p.requires_grad for p in trainer.discriminator.parameters())


def test_conditional_generator_depends_on_the_label_and_unconditional_does_not():
    z = torch.randn(1, 100).repeat(2, 1)
    labels = torch.tensor([0, 1])
    cond = make_trainer("cdcgan", 32, 1).sampling_network().sample(z, labels)
    plain = make_trainer("dcgan", 32, 1).sampling_network().sample(z, labels)
    assert not torch.equal(cond[0], cond[1])
    assert torch.equal(plain[0], plain[1])


def test_truncation_scales_the_noise():
    trainer = make_trainer("cdcgan", 32, 1)
    z, labels = torch.randn(2, 100), torch.tensor([0, 1])
    generator = trainer.sampling_network()
    assert torch.equal(generator.sample(z, labels, truncation_psi=0.5), generator.sample(z * 0.5, labels))
    assert trainer.generator.training  # sample() restores the mode


@pytest.mark.parametrize("architecture", ["dcgan", "cdcgan"])
def test_the_sampler_alone_is_the_trainers_generator_in_eval_mode(architecture):
    config = make_config(architecture, 28, 1)
    trainer = get_architecture(architecture).make_trainer(config)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    sampler = get_architecture(architecture).make_sampler(config)
    assert torch.equal(torch.rand(3), expected_next)
    assert not sampler.training
    sampler.load_state_dict(trainer.generator.state_dict())
    z, labels = torch.randn(3, 100), torch.tensor([0, 1, 2])
    assert torch.equal(sampler.sample(z, labels, 0.7), trainer.sampling_network().sample(z, labels, 0.7))


def test_weights_depend_only_on_the_seed_and_leave_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = make_trainer("cdcgan", 28, 1, seed=5)
    assert torch.equal(torch.rand(3), expected_next)
    b = make_trainer("cdcgan", 28, 1, seed=5)
    c = make_trainer("cdcgan", 28, 1, seed=6)
    for (name, pa), pb, pc in zip(a.generator.named_parameters(), b.generator.parameters(),
                                  c.generator.parameters()):
        assert torch.equal(pa, pb), name
        assert name.endswith(".bias") or not torch.equal(pa, pc), name


@pytest.mark.parametrize(("architecture", "options", "expected"), [
    ("dcgan", {}, 1.0), ("cdcgan", {}, 0.9), ("cdcgan", {"real_label": 0.7}, 0.7),
    ("dcgan", {"real_label": 0.95}, 0.95),
])
def test_discriminator_real_targets(monkeypatch, architecture, options, expected):
    bce = dcgan_common.F.binary_cross_entropy_with_logits
    targets = []

    def spy(logits, target, *args, **kwargs):
        targets.append(target.detach().clone())
        return bce(logits, target, *args, **kwargs)

    monkeypatch.setattr(dcgan_common.F, "binary_cross_entropy_with_logits", spy)
    trainer = make_trainer(architecture, 28, 1, loss="bce", augment="none", **options)
    trainer.train_step(torch.zeros(4, 1, 28, 28), torch.tensor([0, 1, 2, 0]), torch.Generator().manual_seed(0))
    real_targets, fake_targets, generator_targets = targets
    assert torch.allclose(real_targets, torch.full((4,), expected))
    assert torch.equal(fake_targets, torch.zeros(4))
    assert torch.equal(generator_targets, torch.ones(4))  # smoothing is one-sided


def test_the_minibatch_feature_sees_a_class_whose_images_are_all_alike():
    one_picture = torch.rand(1, 4, 3, 3).repeat(3, 1, 1, 1)
    varied = torch.rand(3, 4, 3, 3)
    x, labels = torch.cat([one_picture, varied]), torch.tensor([0, 0, 0, 1, 1, 1])
    feature = dcgan_common.MinibatchStd()(x, labels)[:, -1, 0, 0]
    assert feature[:3].max() < 1e-3 < feature[3:].min()  # class 0 collapsed, class 1 not
    mixed = dcgan_common.MinibatchStd()(torch.cat([one_picture[:2], varied[:2]]))[:, -1, 0, 0]
    assert mixed.min() > 1e-3  # without labels, the mix of classes hides it


def test_mode_seeking_penalises_a_generator_that_ignores_z():
    z = torch.randn(8, 16)
    ignoring = torch.rand(1, 1, 8, 8).repeat(8, 1, 1, 1)
    following = torch.rand(8, 1, 8, 8)
    assert mode_seeking_loss(ignoring, z) > 100 * mode_seeking_loss(following, z)
