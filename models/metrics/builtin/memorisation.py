"""Memorisation: how close generated images come to the training images, against how close real images come
to each other.

For each generated image, d = the distance (in backbone features) to its nearest training image; the scale is
the median over training images of the distance to their nearest *other* training image. ratio = d / scale:
about 1 for a new image like the training ones, near 0 for a copy. A generated image is a near-copy when its
ratio is below ``threshold``; the batch is ``flagged`` when more than ``max_near_copy_fraction`` of it are
near-copies. The same fraction among the training images themselves (duplicates in the data set) is reported
as a baseline.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.metrics.registry import FAKE, REAL, Metric, MetricInputs, register, require

_CHUNK = 1024
_EXAMPLES = 10


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor,
                      exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to, and index of, the nearest reference row for every query row (float64, chunked).
    exclude_self: queries are the reference itself and row i may not match itself."""
    distances, indices = [], []
    for start in range(0, queries.shape[0], _CHUNK):
        block = torch.cdist(queries[start:start + _CHUNK], reference)
        if exclude_self:
            rows = torch.arange(block.shape[0])
            block[rows, rows + start] = float("inf")
        d, i = block.min(dim=1)
        distances.append(d)
        indices.append(i)
    return torch.cat(distances), torch.cat(indices)


@register
class Memorisation(Metric):
    name = "memorisation"
    needs = frozenset({REAL, FAKE})
    defaults = {"threshold": 0.3, "max_near_copy_fraction": 0.05}
    headline = "near_copy_fraction"

    def check_options(self, options: Mapping[str, Any]) -> None:
        threshold, fraction = options["threshold"], options["max_near_copy_fraction"]
        require(_is_number(threshold) and threshold > 0, "memorisation threshold must be > 0")
        require(_is_number(fraction) and 0 <= fraction <= 1, "max_near_copy_fraction must be in [0, 1]")

    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]:
        real, fake = inputs.real, inputs.fake
        assert real is not None and fake is not None
        threshold = float(options["threshold"])
        max_fraction = float(options["max_near_copy_fraction"])
        out: dict[str, Any] = {"threshold": threshold, "num_real": real.num_samples, "num_fake": fake.num_samples}
        if real.num_samples < 2 or fake.num_samples < 1:
            return {"nn_ratio_median": None, "near_copy_fraction": None, "flagged": None,
                    "insufficient_samples": True, **out}
        real_nn, _ = nearest_distances(real.features, real.features, exclude_self=True)
        scale = real_nn.quantile(0.5)
        fake_nn, nearest = nearest_distances(fake.features, real.features)
        if scale <= 0:  # more than half the training images have an exact duplicate: no usable scale
            return {"nn_ratio_median": None, "near_copy_fraction": None, "flagged": None,
                    "insufficient_samples": False, "degenerate_real_set": True,
                    "real_nn_distance_median": float(scale), **out}
        ratio = fake_nn / scale
        near = ratio < threshold
        fraction = float(near.double().mean())
        near_index = near.nonzero().flatten()
        order = near_index[ratio[near_index].argsort()][:_EXAMPLES].tolist()
        return {
            "nn_ratio_median": float(ratio.quantile(0.5)),
            "nn_ratio_min": float(ratio.min()),
            "near_copy_fraction": fraction,
            "near_copies": int(near.sum()),
            "flagged": fraction > max_fraction,
            "real_near_copy_fraction": float((real_nn / scale < threshold).double().mean()),
            "real_nn_distance_median": float(scale),
            "fake_nn_distance_median": float(fake_nn.quantile(0.5)),
            "near_copy_examples": [{"fake": i, "real": int(nearest[i]), "ratio": float(ratio[i])} for i in order],
            "max_near_copy_fraction": max_fraction,
            "insufficient_samples": False,
            **out,
        }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
