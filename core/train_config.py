"""A train job's resolved parameters as the GanConfig that models/ trains; shared by the API (to refuse a bad
configuration at submission) and the worker (to train it)."""
from __future__ import annotations

from typing import Any

from models.config import GanConfig
from models.registry import get_architecture

NETWORK_DEFAULTS = {"z_dim": 100, "width": 64}


def gan_config(params: dict[str, Any], class_names: list[str], device: str = "cpu") -> GanConfig:
    """Raises ValueError for a configuration the architecture refuses."""
    architecture = get_architecture(params["architecture"])
    config = GanConfig(
        architecture=params["architecture"], resolution=params["resolution"], channels=params["channels"],
        num_classes=len(class_names), class_names=class_names, steps=params["steps"],
        batch_size=params["batch_size"], z_dim=params["z_dim"], width=params["width"], lr=params["lr"],
        beta1=params["beta1"], beta2=params["beta2"], seed=params["seed"], sample_every=params["sample_every"],
        checkpoint_every=params["checkpoint_every"], device=device,
        options={name: params[name] for name in architecture.option_defaults},
    )
    architecture.check_config(config)
    return config
