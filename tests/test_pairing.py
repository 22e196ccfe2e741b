"""The real image SIFID pairs with each generated one (worker/pairing.py), on untrained tiny networks."""
from __future__ import annotations

import torch

from models.architectures import get_architecture
from models.config import GanConfig
from models.snapshot import Sampler
from worker.pairing import pairing


def sampler(architecture: str, options: dict) -> Sampler:
    config = GanConfig(architecture=architecture, channels=1, class_names=["a", "b"], options=options)
    return Sampler(config, get_architecture(architecture).make_sampler(config), torch.device("cpu"))


def test_a_conditional_model_pairs_with_real_images_of_the_class_in_turn():
    s = sampler("cdcgan", {"resolution": 32, "width": 4, "z_dim": 4})
    real = torch.arange(5, dtype=torch.uint8).reshape(5, 1, 1, 1).expand(5, 1, 32, 32)
    real_labels = torch.tensor([1, 0, 1, 0, 1])  # in the dataset's class order, ["b", "a"]
    names = ["a", "a", "a", "b", "b"]
    fake = torch.zeros(5, 1, 32, 32, dtype=torch.uint8)
    result = pairing(s, names, list(range(5)), fake, real, real_labels, ["b", "a"])
    assert result.how == "real image of its class"
    assert result.index == [0, 2, 4, 1, 3]  # "a" is label 0 of the dataset: images 0, 2, 4; "b": 1, 3


def test_an_unconditional_model_takes_real_images_in_turn():
    s = sampler("dcgan", {"resolution": 32, "width": 4, "z_dim": 4})
    real = torch.zeros(2, 1, 32, 32, dtype=torch.uint8)
    result = pairing(s, ["a", "b", "a"], [0, 1, 2], real[:1].expand(3, -1, -1, -1), real, torch.tensor([0, 1]),
                     ["a", "b"])
    assert (result.how, result.index) == ("real image (unconditional model)", [0, 1, 0])


def test_a_singan_model_pairs_each_image_with_its_pyramids_training_image():
    s = sampler("singan", {"resolution": 32, "min_size": 20, "width": 4, "images_per_class": 2})
    network = s.network
    for k in range(4):
        network.images[k] = torch.full((1, 32, 40 if k == 3 else 32), 10 * k, dtype=torch.uint8)
    seeds = list(range(12))
    names = ["a"] * 6 + ["b"] * 6
    fake = torch.zeros(12, 1, 32, 32, dtype=torch.uint8)
    result = pairing(s, names, seeds, fake, torch.zeros(0), torch.zeros(0), ["a", "b"])
    assert result.how == "own training image"
    labels = torch.tensor([0] * 6 + [1] * 6)
    assert result.index == network.pyramids(s.noise(seeds), labels)
    assert set(result.index[:6]) <= {0, 1} and set(result.index[6:]) <= {2, 3}
    assert result.real.shape == (4, 1, 32, 32)  # the 32x40 one resized to the generated size
    assert result.real[:, 0, 0, 0].tolist() == [0, 10, 20, 30]
