from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from models.config import GanConfig, is_int, is_number
from models.registry import Architecture, register
from models.stylegan2.networks import discriminator_block_count
from models.stylegan2.trainer import StyleGAN2Trainer

AUGMENTS = ("ada", "diffaugment", "none")


def _int_in(low: int, high: int | None = None) -> Callable[[Any], bool]:
    return lambda v: is_int(v) and low <= v and (high is None or v <= high)


def _number(v: Any) -> bool:
    return is_number(v) and math.isfinite(v)


# option -> (valid, what a valid value is)
OPTION_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "mapping_layers": (_int_in(1, 8), "an int in [1, 8]"),
    "w_dim": (_int_in(1), "an int >= 1"),
    "augment": (lambda v: isinstance(v, str) and v in AUGMENTS, f"one of {list(AUGMENTS)}"),
    "ada_target": (lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)"),
    "ada_images": (_int_in(1), "an int >= 1"),
    "ada_interval": (_int_in(1), "an int >= 1"),
    "r1_gamma": (lambda v: v is None or _number(v) and v >= 0, "null (0.0002 * resolution^2 / batch_size) or >= 0"),
    "r1_interval": (_int_in(1), "an int >= 1"),
    "pl_weight": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "pl_interval": (_int_in(1), "an int >= 1"),
    "ema_images": (lambda v: _number(v) and v >= 1, "a number >= 1"),
    "freeze_d": (_int_in(0), "an int >= 0"),
    "compile": (lambda v: isinstance(v, bool), "true or false"),
}


@register
class StyleGAN2ADA(Architecture):
    """StyleGAN2 with adaptive discriminator augmentation; class-conditional when there is more than one class."""

    name = "stylegan2-ada"
    conditional = True
    resolutions = (32, 64, 128, 256)
    hyperparameter_defaults = {"lr": 0.0025, "beta1": 0.0, "beta2": 0.99}
    option_defaults = {
        "mapping_layers": 2, "w_dim": 256, "augment": "ada", "ada_target": 0.6, "ada_images": 500_000,
        "ada_interval": 4, "r1_gamma": None, "r1_interval": 16, "pl_weight": 0.0, "pl_interval": 4,
        "ema_images": 10_000, "freeze_d": 0, "compile": False,
    }
    shape_options = ("mapping_layers", "w_dim")
    one_class_is_unconditional = True

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        merged = super().check_options(options)
        for name, (valid, requirement) in OPTION_CHECKS.items():
            if not valid(merged[name]):
                raise ValueError(f"{self.name} option {name!r} must be {requirement}, got {merged[name]!r}")
        return merged

    def check_config(self, config: GanConfig) -> None:
        super().check_config(config)
        blocks = discriminator_block_count(config.resolution)
        if self.check_options(config.options)["freeze_d"] > blocks:
            raise ValueError(f"{self.name} option 'freeze_d' must be <= {blocks}, the number of discriminator "
                             f"blocks at resolution {config.resolution}")
        if config.real_label is not None:
            raise ValueError(f"{self.name} does not use real_label")

    def make_trainer(self, config: GanConfig) -> StyleGAN2Trainer:
        self.check_config(config)
        return StyleGAN2Trainer(config, self.check_options(config.options))
