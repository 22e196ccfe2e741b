"""One generator per class, one job, one model: any unconditional architecture that sets `per_class = True`
gets one trainer (G, D, optimisers) per class, each built for a one-class config with seed `seed + k`, and a
sampling network that routes each row to its class's generator. models.training draws each minibatch from one
class (classes take turns: models.training._draw_batch).

Network weights are kept under the class index ("0.<key>", "1.<key>", ...), so a model's weights remain a flat map
of names to tensors; every other piece of a trainer's state (optimisers, counters) becomes a list, one per class.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from models.architectures.base import GanTrainer, SamplingNetwork

if TYPE_CHECKING:
    from models.config import GanConfig

Weights = dict[str, torch.Tensor]


def class_config(config: GanConfig, k: int) -> GanConfig:
    """The one-class config class k's networks are built for."""
    return config.replace(class_names=[config.class_names[k]], seed=config.seed + k)


def per_class_trainer(make: Callable[[Any, GanConfig], GanTrainer]) -> Callable[[Any, GanConfig], GanTrainer]:
    def make_trainer(self: Any, config: GanConfig) -> GanTrainer:
        return PerClassTrainer([make(self, class_config(config, k)) for k in range(config.num_classes)])
    return make_trainer


def per_class_sampler(make: Callable[[Any, GanConfig], SamplingNetwork],
                      ) -> Callable[[Any, GanConfig], SamplingNetwork]:
    def make_sampler(self: Any, config: GanConfig) -> SamplingNetwork:
        return PerClassSampler([make(self, class_config(config, k)) for k in range(config.num_classes)])
    return make_sampler


def join(parts: list[Weights]) -> Weights:
    return {f"{k}.{name}": value for k, part in enumerate(parts) for name, value in part.items()}


def split(weights: Weights, count: int | None = None) -> list[Weights]:
    """The inverse of join; `count` classes where given, else as many as the keys name (KeyError otherwise)."""
    parts: dict[int, Weights] = {}
    for key, value in weights.items():
        prefix, _, name = key.partition(".")
        if not prefix.isdigit() or not name:
            raise KeyError(f"{key!r} is not under a class index")
        parts.setdefault(int(prefix), {})[name] = value
    count = len(parts) if count is None else count
    if set(parts) != set(range(count)):
        raise KeyError(f"weights for classes {sorted(parts)}, expected 0..{count - 1}")
    return [parts[k] for k in range(count)]


def _is_weights(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, torch.Tensor) for v in value.values())


class PerClassSampler:
    def __init__(self, networks: list[SamplingNetwork]) -> None:
        self.networks = networks

    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """Row i from the generator of class labels[i]."""
        rows = [(labels == k).nonzero()[:, 0] for k in range(len(self.networks))]
        parts = [(r, net.sample(z[r], labels[r] * 0, truncation_psi)) for r, net in zip(rows, self.networks) if len(r)]
        if not parts:
            return self.networks[0].sample(z, labels, truncation_psi)
        order = torch.cat([r for r, _ in parts])
        return torch.cat([images for _, images in parts])[torch.argsort(order)]

    def state_dict(self) -> Weights:
        return join([net.state_dict() for net in self.networks])

    def load_state_dict(self, state: Weights) -> None:
        for net, part in zip(self.networks, split(state, len(self.networks))):
            net.load_state_dict(part)


class PerClassTrainer:
    """Each minibatch trains the networks of its one class."""

    def __init__(self, trainers: list[GanTrainer]) -> None:
        self.trainers = trainers
        self._sampler = PerClassSampler([t.sampling_network() for t in trainers])

    def train_step(self, real: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        low, high = labels.aminmax()
        k, last = int(low), int(high)
        if k != last:
            raise ValueError(f"a minibatch of one generator per class holds one class, got {k} to {last}")
        return self.trainers[k].train_step(real, labels * 0, generator)

    def sampling_network(self) -> PerClassSampler:
        return self._sampler

    def discriminator_state(self) -> Weights:
        return join([t.discriminator_state() for t in self.trainers])

    def state_dict(self) -> dict:
        """Each network's weights joined under the class indices; everything else a list over the classes."""
        states = [t.state_dict() for t in self.trainers]
        return {key: join([s[key] for s in states]) if _is_weights(value) else [s[key] for s in states]
                for key, value in states[0].items()}

    def load_state_dict(self, state: dict) -> None:
        count = len(self.trainers)
        columns = {}
        for key, value in state.items():
            if isinstance(value, dict):
                columns[key] = split(value, count)
            elif isinstance(value, list) and len(value) == count:
                columns[key] = value
            else:
                raise ValueError(f"{key!r} is not a state per class for {count} classes")
        for k, trainer in enumerate(self.trainers):
            trainer.load_state_dict({key: column[k] for key, column in columns.items()})

    def load_pretrained(self, generator: Weights, discriminator: Weights | None, keep_classes: bool) -> None:
        """Class k starts from the base model's class k; with other classes, from its class k modulo its number of
        classes (a one-class base model: every class from its one generator)."""
        generators = split(generator, len(self.trainers) if keep_classes else None)
        discriminators = None if discriminator is None else split(discriminator, len(generators))
        for k, trainer in enumerate(self.trainers):
            base = k % len(generators)
            trainer.load_pretrained(generators[base], None if discriminators is None else discriminators[base],
                                    keep_classes=True)
