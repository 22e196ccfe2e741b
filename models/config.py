from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

RESOLUTIONS = (28, 32, 64, 128, 256)  # the union; each architecture checks its own
CHANNELS = (1, 3)
ConfigT = TypeVar("ConfigT")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float, not a bool (NaN and infinities included)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def config_from_dict(cls: type[ConfigT], data: Mapping[str, Any], what: str = "config") -> ConfigT:
    """A config dataclass from its dict, naming unknown and missing keys."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {what} keys: {unknown}")
    missing = sorted(name for name, f in fields.items() if name not in data
                     and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    if missing:
        raise ValueError(f"missing {what} keys: {missing}")
    return cls(**data)


@dataclass
class GanConfig:
    architecture: str
    resolution: int
    channels: int
    num_classes: int
    class_names: list[str]
    steps: int
    batch_size: int = 16
    z_dim: int = 100
    width: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    real_label: float | None = None
    seed: int = 0
    sample_every: int = 100
    checkpoint_every: int = 200
    device: str = "cpu"
    # Architecture-specific, JSON-serialisable; Architecture.check_options validates them and adds the defaults.
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("resolution", "channels", "num_classes", "steps", "batch_size", "z_dim", "width",
                     "seed", "sample_every", "checkpoint_every"):
            value = getattr(self, name)
            if not is_int(value):
                raise ValueError(f"{name} must be an int, got {value!r}")
        for name in ("lr", "beta1", "beta2", "real_label"):
            value = getattr(self, name)
            if value is None and name == "real_label":
                continue
            if not is_number(value):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not isinstance(self.architecture, str) or not isinstance(self.device, str):
            raise ValueError("architecture and device must be strings")
        if self.resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution}")
        if self.channels not in CHANNELS:
            raise ValueError(f"channels must be one of {CHANNELS}, got {self.channels}")
        if (not isinstance(self.class_names, list) or not all(isinstance(n, str) for n in self.class_names)
                or len(set(self.class_names)) != len(self.class_names)):
            raise ValueError("class_names must be a list of distinct strings")
        if self.num_classes < 1 or len(self.class_names) != self.num_classes:
            raise ValueError("num_classes must be >= 1 and equal len(class_names)")
        for name in ("steps", "batch_size", "z_dim", "width", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if not self.lr > 0 or not 0 <= self.beta1 < 1 or not 0 <= self.beta2 < 1:
            raise ValueError("lr must be > 0 and betas in [0, 1)")
        if self.real_label is not None and not 0 < self.real_label <= 1:
            raise ValueError("real_label must be in (0, 1]")
        if not isinstance(self.options, dict) or not all(isinstance(k, str) for k in self.options):
            raise ValueError("options must be a dict with string keys")
        try:
            json.dumps(self.options, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"options must be JSON-serialisable: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GanConfig:
        return config_from_dict(cls, data)
