"""Intra-class diversity: the mean pairwise L2 distance between generated images' features, divided by the same
for real images of the class. About 1 for a generator as varied as the data, near 0 for one that draws the same
picture whatever z is (mode collapse).

Both sides are compared at equal sample counts, min(n_real, n_fake, MAX_SAMPLES) drawn without replacement by a
generator seeded with `seed` (afresh for every class), so that the ratio depends neither on which side has more
images nor on the draw order. The headline ``diversity`` is the mean over the classes that have generated images
(an unconditional generator's images have no class: its ratio is taken over all images); ``min`` and
``per_class`` come with it.

Collapse: a generator whose headline diversity is below COLLAPSE_THRESHOLD is ``collapsed``; classes below it are
listed in ``collapsed_classes`` whatever the headline. The threshold is set against the quality benchmark
(benchmarks/quality.py, auto-backbone features): a fully collapsed conditional DCGAN scored 0.22, classical
augmentation 0.81 and held-out real images about 1.0.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.config import is_int
from models.metrics.features import FeatureSet
from models.metrics.registry import FAKE, REAL, Metric, MetricInputs, register, require

COLLAPSE_THRESHOLD = 0.3
MAX_SAMPLES = 2000  # per side and class: pdist's memory grows with its square


def _draw(x: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    return x[torch.randperm(len(x), generator=generator)[:n]]


def spread_ratio(fake: torch.Tensor, real: torch.Tensor, seed: int = 0) -> float | None:
    """Mean pairwise L2 distance of fake rows over that of real rows, at equal counts; None for fewer than 2
    rows a side or real rows that are all the same."""
    n = min(len(fake), len(real), MAX_SAMPLES)
    if n < 2:
        return None
    generator = torch.Generator().manual_seed(seed)
    real_spread = torch.pdist(_draw(real.double(), n, generator)).mean()
    fake_spread = torch.pdist(_draw(fake.double(), n, generator)).mean()
    return float(fake_spread / real_spread) if real_spread > 0 else None


def pixel_spread_ratio(fake: torch.Tensor, real: torch.Tensor, seed: int = 0) -> float | None:
    """The per-pixel standard deviation across images, averaged over pixels, fake over real, at equal counts:
    near 0 when every image is one picture even where features spread (images [N, C, H, W] of one class)."""
    n = min(len(fake), len(real))
    if n < 2:
        return None
    generator = torch.Generator().manual_seed(seed)
    real_spread = _draw(real.double(), n, generator).std(0).mean()
    fake_spread = _draw(fake.double(), n, generator).std(0).mean()
    return float(fake_spread / real_spread) if real_spread > 0 else None


def diversity(real: FeatureSet, fake: FeatureSet, seed: int = 0) -> dict[str, Any]:
    """The metric's result (see the module docstring) for two feature sets, per class where both are labelled."""
    if real.labels is None or fake.labels is None or real.class_names is None or fake.class_names is None:
        per_class: dict[str, float | None] = {}
        value = spread_ratio(fake.features, real.features, seed)
        values = [] if value is None else [value]
    else:
        per_class = {}
        for index, name in enumerate(fake.class_names):
            members = fake.features[fake.labels == index]
            if len(members) and name in real.class_names:
                real_members = real.features[real.labels == real.class_names.index(name)]
                per_class[name] = spread_ratio(members, real_members, seed)
        values = [v for v in per_class.values() if v is not None]
        value = sum(values) / len(values) if values else None
    return {"diversity": value, "min": min(values) if values else None, "per_class": per_class,
            "collapsed": value is not None and value < COLLAPSE_THRESHOLD, "threshold": COLLAPSE_THRESHOLD,
            "collapsed_classes": [name for name, v in per_class.items() if v is not None and v < COLLAPSE_THRESHOLD],
            "insufficient_samples": value is None, "num_real": real.num_samples, "num_fake": fake.num_samples}


@register
class Diversity(Metric):
    name = "diversity"
    needs = frozenset({REAL, FAKE})
    per_class = True
    defaults = {"seed": 0}

    def check_options(self, options: Mapping[str, Any]) -> None:
        require(is_int(options["seed"]) and 0 <= options["seed"] < 2 ** 63, "diversity seed must be in [0, 2**63)")

    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]:
        assert inputs.real is not None and inputs.fake is not None
        return diversity(inputs.real, inputs.fake, int(options["seed"]))
