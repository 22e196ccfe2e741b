"""Which real image each generated one is compared with by the metrics of pairs (SIFID): a SinGAN model's own
training image (the one its pyramid learnt), else a real image of its class, taken in turn."""
from __future__ import annotations

import torch

from models.architectures import get_architecture
from models.data import resample
from models.metrics.sifid import Pairing
from models.singan.networks import SinGANSampler
from models.snapshot import Sampler


def pairing(sampler: Sampler, names: list[str], seeds: list[int], fake: torch.Tensor, real: torch.Tensor,
            real_labels: torch.Tensor, real_classes: list[str]) -> Pairing:
    """Generated image i is of class names[i] from seed seeds[i]; real_labels index real_classes."""
    network = sampler.network
    if isinstance(network, SinGANSampler):
        size = (fake.shape[-1], fake.shape[-2])
        images = [image if tuple(image.shape[1:]) == fake.shape[-2:] else resample(image[None], size)[0]
                  for image in network.images]
        labels = torch.tensor([sampler.config.class_names.index(name) for name in names])
        index = network.pyramids(sampler.noise(seeds), labels)
        return Pairing(torch.stack(images), index, "own training image")
    if not get_architecture(sampler.config.architecture).class_conditional:
        return Pairing(real, [k % len(real) for k in range(len(names))], "real image (unconditional model)")
    labels = [real_classes.index(name) for name in names]
    members = {label: (real_labels == label).nonzero()[:, 0].tolist() for label in set(labels)}
    taken = dict.fromkeys(members, 0)
    index = []
    for label in labels:
        index.append(members[label][taken[label] % len(members[label])])
        taken[label] += 1
    return Pairing(real, index, "real image of its class")
