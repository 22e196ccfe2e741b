"""Named recipes: an architecture with its options and loop settings as a study published them. A train job's
`preset` supplies these values wherever the request does not give its own."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.architectures.dcgan_common import ORIGINAL_RECIPE


@dataclass(frozen=True)
class Preset:
    architecture: str
    values: dict[str, Any]  # architecture options and TrainSettings fields
    description: str


PRESETS = {
    "neu-dcgan": Preset(
        "cdcgan",
        {**ORIGINAL_RECIPE, "resolution": 64, "z_dim": 100, "width": 64, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999,
         "real_label": 0.9, "steps": 2000, "batch_size": 16, "crop": "resize"},
        "The NEU seed study's conditional DCGAN: transposed convolutions, batch-normalised D, BCE with one-sided "
        "label smoothing (0.9), no augmentation, whole images resized to 64 px, 2,000 steps of 16. It collapses "
        "on a few dozen images per class (benchmarks/quality.py); kept to reproduce the study."),
}
