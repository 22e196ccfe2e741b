from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from models.architectures.base import ArchitectureOptions

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


class TrainSettings(BaseModel):
    """The training loop's settings, the same for every architecture."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(2000, ge=1, le=1_000_000, description="Training steps (minibatches).")
    batch_size: int = Field(16, ge=1, le=1024)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    sample_every: int = Field(200, ge=1, description="Write a sample grid every N steps.")
    checkpoint_every: int = Field(200, ge=1, description="Write a resumable checkpoint every N steps.")
    # "resize" is what a config written before crops existed meant; the service chooses its own default.
    crop: Literal["random", "resize"] = Field("resize", description="random: minibatches take random RxR crops "
                                                                    "of native-size images (models.data."
                                                                    "TrainingImages); resize: images resized to "
                                                                    "RxR.")


# The flat fields of configs written before architectures declared their options; they are options now.
_LEGACY_OPTION_FIELDS = ("resolution", "z_dim", "width", "lr", "beta1", "beta2", "real_label")


class GanConfig(TrainSettings):
    """Everything a GAN training run is: the loop's settings, the data's shape and the architecture's options."""

    architecture: str
    channels: Literal[1, 3]
    class_names: list[str] = Field(min_length=1)
    device: str = "cpu"
    options: SerializeAsAny[ArchitectureOptions]

    @model_validator(mode="before")
    @classmethod
    def _architecture_options(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("options", {}), dict):
            from models.architectures import get_architecture  # the architectures import this module

            try:
                architecture = get_architecture(data.get("architecture"))
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
            data = {**data, "options": architecture.Options.model_validate(data.get("options", {}))}
        return data

    @field_validator("class_names")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("class names must be distinct")
        return names

    @model_validator(mode="after")
    def _fits_architecture(self) -> GanConfig:
        from models.architectures import get_architecture

        architecture = get_architecture(self.architecture)
        if not isinstance(self.options, architecture.Options):
            raise ValueError(f"options are {type(self.options).__name__}, not {self.architecture}'s")
        architecture.check_config(self)
        return self

    @property
    def resolution(self) -> int:
        return self.options.resolution  # type: ignore[attr-defined]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GanConfig:
        """Also reads the flat configs of models registered before options were declared."""
        data = dict(data)
        if "resolution" in data:
            options = {name: data.pop(name) for name in _LEGACY_OPTION_FIELDS if name in data}
            if options.get("real_label") is None:
                options.pop("real_label", None)
            data.pop("num_classes", None)
            data["options"] = {**options, **data.get("options", {})}
        from models.architectures import get_architecture

        with contextlib.suppress(KeyError):  # an unknown architecture is model_validate's to report
            stored = get_architecture(data.get("architecture")).stored_defaults
            data["options"] = {**stored, **data.get("options", {})}
        return cls.model_validate(data)

    def replace(self, **changes: Any) -> GanConfig:
        return self.model_copy(update=changes)
