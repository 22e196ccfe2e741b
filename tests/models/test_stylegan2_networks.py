from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.architectures import get_architecture
from models.config import GanConfig
from models.stylegan2.layers import modulated_conv2d

pytestmark = pytest.mark.usefixtures("one_thread")

Z_DIM = 8
STYLEGAN = get_architecture("stylegan2-ada")


def make_config(resolution: int = 32, channels: int = 1, num_classes: int = 3, **options) -> GanConfig:
    return GanConfig(architecture="stylegan2-ada", channels=channels, class_names=[f"c{i}" for i in range(num_classes)],
                     steps=1, batch_size=4,
                     options={"resolution": resolution, "z_dim": Z_DIM, "width": 2, "w_dim": 8, **options})


def make_trainer(resolution: int = 32, channels: int = 1, num_classes: int = 3, **options):
    return STYLEGAN.make_trainer(make_config(resolution, channels, num_classes, **options))


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [1, 3])
def test_shapes_and_gradients(resolution, channels, num_classes):
    trainer = make_trainer(resolution, channels, num_classes)
    generator, discriminator = trainer.generator, trainer.discriminator
    assert (generator.mapping.embed is None) == (num_classes == 1)
    assert (discriminator.projection is None) == (num_classes == 1)
    labels = torch.tensor([0, 1, 2, 0]) % num_classes
    noise = generator.synthesis.random_noise(4, torch.Generator().manual_seed(0))
    images = generator(torch.randn(4, Z_DIM), labels, noise=noise)
    assert images.shape == (4, channels, resolution, resolution) and images.dtype == torch.float32
    logits = discriminator(images, labels)
    assert logits.shape == (4,) and logits.dtype == torch.float32
    logits.sum().backward()
    for net in (generator, discriminator):
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.isfinite().all() and p.grad.abs().sum() > 0, name
    sample = trainer.sampling_network().sample(torch.randn(4, Z_DIM), labels, truncation_psi=0.5)
    assert sample.shape == (4, channels, resolution, resolution) and sample.abs().max() <= 1


def test_channels_follow_the_width_and_resolution():
    trainer = make_trainer(resolution=64)
    convs = [block.convs[-1].weight.shape[0] for block in trainer.generator.synthesis.blocks]
    assert convs == [16, 16, 8, 4, 2]  # min(width * 64 / r, 8 * width) at r = 4 ... 64
    assert [block.conv1.weight.shape[0] for block in trainer.discriminator.blocks] == [4, 8, 16, 16]
    assert trainer.generator.synthesis.num_ws == 10


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_equals_per_sample_weights_with_a_grouped_conv(demodulate):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 8, 8, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 5, 3, 3, generator=gen, dtype=torch.float64)
    styles = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    per_sample = weight[None] * styles[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        per_sample = per_sample * (per_sample.square().sum((2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    reference = F.conv2d(x.reshape(1, 15, 8, 8), per_sample.reshape(12, 5, 3, 3), padding=1, groups=3)
    fast = modulated_conv2d(x, weight, styles, demodulate=demodulate, padding=1)
    assert torch.allclose(fast, reference.reshape(3, 4, 8, 8), rtol=1e-10, atol=1e-10)


def test_conditional_generator_depends_on_the_label_and_unconditional_does_not():
    z = torch.randn(1, Z_DIM).repeat(2, 1)
    labels = torch.tensor([0, 1])
    cond = make_trainer(num_classes=2).sampling_network().sample(z, labels)
    plain = make_trainer(num_classes=1).sampling_network().sample(z, labels)
    assert not torch.equal(cond[0], cond[1])
    assert torch.equal(plain[0], plain[1])


def test_truncation_pulls_w_towards_the_class_average():
    trainer = make_trainer(num_classes=2)
    mapping = trainer.g_ema.mapping
    mapping.w_avg.copy_(torch.randn(2, 8))
    z, labels = torch.randn(4, Z_DIM), torch.tensor([0, 1, 1, 0])
    w, w_avg = mapping(z, labels), mapping.w_avg[labels]
    assert torch.allclose(mapping(z, labels, truncation_psi=0.25), w_avg + 0.25 * (w - w_avg))
    collapsed = trainer.sampling_network().sample(z, labels, truncation_psi=0.0)
    assert torch.equal(collapsed[0], collapsed[3]) and torch.equal(collapsed[1], collapsed[2])
    assert not torch.equal(collapsed[0], collapsed[1])


def test_w_avg_tracks_each_class_in_the_batch():
    mapping = make_trainer(num_classes=3).generator.mapping
    z, labels = torch.randn(4, Z_DIM), torch.tensor([0, 0, 2, 2])
    w = mapping(z, labels, update_w_avg=True).detach()
    assert torch.allclose(mapping.w_avg[0], 0.005 * w[:2].mean(0))
    assert torch.equal(mapping.w_avg[1], torch.zeros(8))  # absent from the batch: unchanged
    assert torch.allclose(mapping.w_avg[2], 0.005 * w[2:].mean(0))


def test_sample_uses_fixed_noise_and_leaves_the_nets_in_their_modes():
    trainer = make_trainer()
    z, labels = torch.randn(2, Z_DIM), torch.tensor([0, 1])
    assert trainer.sampling_network() is trainer.g_ema
    assert torch.equal(trainer.g_ema.sample(z, labels), trainer.g_ema.sample(z, labels))
    assert trainer.generator.training and not trainer.g_ema.training


@pytest.mark.parametrize("num_classes", [1, 3])
def test_the_sampler_alone_is_g_ema_without_the_trainer(num_classes):
    config = make_config(num_classes=num_classes)
    trainer = STYLEGAN.make_trainer(config)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    sampler = STYLEGAN.make_sampler(config)
    assert torch.equal(torch.rand(3), expected_next)
    assert not sampler.training
    assert all(torch.equal(v, trainer.g_ema.state_dict()[k]) for k, v in sampler.state_dict().items())
    z, labels = torch.randn(3, Z_DIM), torch.tensor([0, 1, 2]) % num_classes
    assert torch.equal(sampler.sample(z, labels, 0.5), trainer.g_ema.sample(z, labels, 0.5))


def test_weights_depend_only_on_the_seed_and_leave_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = make_trainer()
    assert torch.equal(torch.rand(3), expected_next)
    b = make_trainer()
    for (name, pa), pb in zip(a.discriminator.state_dict().items(), b.discriminator.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert all(torch.equal(x, y) for x, y in zip(a.generator.parameters(), a.g_ema.parameters()))
