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
    "few-shot-textures": Preset(
        "singan",
        {"resolution": 64, "width": 16, "images_per_class": 2, "steps_per_scale": 100},
        "SinGAN sized for a CPU: two pyramids per class, each learning one image, 100 iterations a scale at 64 px "
        "(about 15 minutes for 8 classes on one core). On benchmarks/quality.py's alike photographs its images "
        "score FD ratios of 1.9 to 2.7 and leave a classifier's accuracy as it is (uplift -0.003 to +0.035 in four "
        "runs, none significant), where cdcgan's lower it by 10 points (docs/quality.md). For textured defects "
        "with a few images a class."),
}
