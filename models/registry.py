"""Architecture registry; importing this module registers every architecture in models/architectures/."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from models.config import GanConfig
from models.plugins import Registry


class GanTrainer(Protocol):
    generator: nn.Module

    def train_step(self, real: torch.Tensor, labels: torch.Tensor,
                   generator: torch.Generator) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def load_weights(self, state: dict, keep_classes: bool = True) -> None:
        """Networks only. keep_classes=False: the class-dependent parameters (class embeddings, projection
        heads) keep their fresh initialisation; every other weight is loaded strictly."""

    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor: ...


class Architecture(ABC):
    name: ClassVar[str]
    conditional: ClassVar[bool]
    resolutions: ClassVar[tuple[int, ...]]
    hyperparameter_defaults: ClassVar[dict[str, float]]  # "lr", "beta1", "beta2"
    option_defaults: ClassVar[dict[str, Any]] = {}  # every option accepted, with its default
    shape_options: ClassVar[tuple[str, ...]] = ()  # options that change tensor shapes: a fine-tune keeps them
    # True where a one-class model has no class inputs at all, so it cannot be fine-tuned onto several classes
    # (or the reverse).
    one_class_is_unconditional: ClassVar[bool] = False

    @abstractmethod
    def make_trainer(self, config: GanConfig) -> GanTrainer: ...

    def check_config(self, config: GanConfig) -> None:
        if config.architecture != self.name:
            raise ValueError(f"config is for {config.architecture!r}, not {self.name!r}")
        if config.resolution not in self.resolutions:
            raise ValueError(f"{self.name} does not support resolution {config.resolution}")
        self.check_options(config.options)

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with `options`; ValueError for an unknown name (subclasses check values)."""
        unknown = sorted(set(options) - set(self.option_defaults))
        if unknown:
            accepted = f"it accepts {sorted(self.option_defaults)}" if self.option_defaults else "it has none"
            raise ValueError(f"{self.name} does not accept the options {unknown}; {accepted}")
        return {**self.option_defaults, **options}


_REGISTRY: Registry[Architecture] = Registry("architecture")
register = _REGISTRY.add
get_architecture = _REGISTRY.get
architecture_names = _REGISTRY.names


import models.architectures  # noqa: E402,F401  (must follow register(): the modules use it)
