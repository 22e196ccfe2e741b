"""The architecture registry. Importing it imports every module of this package, and each architecture module
registers itself: a new architecture is one file here (plus its networks)."""
from __future__ import annotations

from models.architectures.base import Architecture, ArchitectureOptions, GanTrainer, SamplingNetwork
from models.registry import Registry, import_submodules

_REGISTRY: Registry[Architecture] = Registry("architecture")
register = _REGISTRY.add
get_architecture = _REGISTRY.get
architecture_names = _REGISTRY.names

__all__ = ["Architecture", "ArchitectureOptions", "GanTrainer", "SamplingNetwork", "architecture_names",
           "get_architecture", "register"]

import_submodules(__name__, __path__)  # must follow register(): the modules use it
