from __future__ import annotations

import pytest
import torch

from models.augment.ada import AdaController, ada_augment
from models.augment.diffaugment import diff_augment

AUGMENTS = {"ada": lambda x, rng: ada_augment(x, 1.0, rng), "diffaugment": diff_augment}


def images(channels: int = 3, n: int = 6, size: int = 16) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_ada_with_p_zero_is_the_identity_and_draws_nothing():
    x, gen = images(), rng()
    state = gen.get_state()
    assert ada_augment(x, 0.0, gen) is x
    assert torch.equal(gen.get_state(), state)


@pytest.mark.parametrize("name", list(AUGMENTS))
@pytest.mark.parametrize("channels", [1, 3])
def test_augment_changes_every_image_and_is_reproducible(name, channels):
    augment, x = AUGMENTS[name], images(channels)
    out = augment(x, rng(3))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert all(not torch.allclose(a, b) for a, b in zip(out, x))
    assert torch.equal(augment(x, rng(3)), out)
    assert not torch.equal(augment(x, rng(4)), out)


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_gradients_flow_to_the_input(name):
    x = images().requires_grad_(True)
    (AUGMENTS[name](x, rng()) * torch.randn(x.shape, generator=rng(9))).sum().backward()
    assert x.grad is not None and all(g.abs().sum() > 0 for g in x.grad)


def test_ada_leaves_unselected_images_untouched():
    x = images(n=64)
    out = ada_augment(x, 0.02, rng(5))
    same = [torch.equal(a, b) for a, b in zip(out, x)]
    assert 0 < sum(same) < len(same)  # each of 11 transforms picks an image with probability 0.02


def test_ada_p_one_applies_the_colour_transforms_to_one_channel_images():
    x = torch.zeros(8, 1, 8, 8)
    out = ada_augment(x, 1.0, rng())
    assert out.flatten(1).std(1).max() < 1e-5  # a constant image stays constant under geometry
    assert (out[:, 0, 0, 0] != 0).all()  # brightness moved it


def drive(controller: AdaController, r_t: float, updates: int, images_per_update: int = 16) -> list[float]:
    """Feeds logits whose mean sign is r_t (a multiple of 0.25) over two minibatches per update."""
    positives = round(4 * (1 + r_t))
    logits = torch.tensor([3.0] * positives + [-0.5] * (8 - positives))
    ps = []
    for _ in range(updates):
        controller.accumulate(logits[:4])
        controller.accumulate(logits[4:])
        ps.append(controller.update(images_per_update))
    return ps


def test_controller_p_rises_when_overfitting_and_falls_otherwise():
    controller = AdaController(target=0.6, speed_images=160)
    assert drive(controller, 1.0, 3) == pytest.approx([0.1, 0.2, 0.3])  # r_t > target
    assert drive(controller, 0.5, 2) == pytest.approx([0.2, 0.1])  # r_t < target
    assert drive(AdaController(target=0.5, speed_images=160), 0.5, 2) == [0.0, 0.0]  # r_t == target


def test_controller_clamps_p_to_zero_and_one():
    controller = AdaController(target=0.6, speed_images=160)
    assert drive(controller, -1.0, 2) == [0.0, 0.0]
    assert drive(controller, 1.0, 12)[-2:] == [1.0, 1.0]
    assert drive(controller, -1.0, 12)[-2:] == [0.0, 0.0]


@pytest.mark.parametrize("speed_images", [64, 800])
def test_controller_speed_is_ada_images_from_zero_to_one(speed_images):
    controller = AdaController(target=0.6, speed_images=speed_images)
    updates = speed_images // 16
    ps = drive(controller, 1.0, updates)
    assert ps[-2] < 1 and ps[-1] == pytest.approx(1.0)


def test_controller_without_logits_keeps_p_and_state_round_trips():
    controller = AdaController(target=0.6, speed_images=160)
    drive(controller, 1.0, 2)
    assert controller.update(16) == pytest.approx(0.2)
    controller.accumulate(torch.tensor([1.0, 2.0, 0.5]))
    restored = AdaController(target=0.6, speed_images=160)
    restored.load_state_dict(controller.state_dict())
    assert restored.update(16) == controller.update(16) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        restored.load_state_dict({**controller.state_dict(), "p": 1.5})
