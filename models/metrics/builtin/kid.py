"""KID: the unbiased MMD² estimate with the cubic polynomial kernel k(x, y) = (xᵀy / D + 1)³, averaged over
random subsets.

The estimator is torch-fidelity's (after Binkowski et al.), subset for subset: subsets of
min(n_fake, n_real, subset_size) drawn without replacement by numpy's RandomState(seed), fake then real for each
subset, the mean and population std over subsets. The kernel matrices are computed once over all samples in
float64 and each subset's sums are read off them, instead of three new kernel matrices per subset.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from models.config import is_int
from models.metrics.registry import FAKE, REAL, Metric, MetricInputs, register, require

# Above this many kernel entries (float64: 8 bytes each) the kernels are computed per subset instead.
MAX_KERNEL_ENTRIES = 1 << 24


def kernel_inception_distance(fake: torch.Tensor, real: torch.Tensor, *, subset_size: int = 1000,
                              num_subsets: int = 100, seed: int = 2020, degree: int = 3,
                              gamma: float | None = None, coef0: float = 1.0) -> dict[str, Any]:
    """{"kid", "kid_std", "subset_size", "num_subsets"}; kid is None when fewer than 2 samples per side."""
    x = torch.as_tensor(fake).to(torch.float64)
    y = torch.as_tensor(real).to(torch.float64)
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"feature shapes {tuple(x.shape)} and {tuple(y.shape)} do not match")
    n_x, n_y, dim = x.shape[0], y.shape[0], x.shape[1]
    m = min(n_x, n_y, subset_size)
    if m < 2:
        return {"kid": None, "kid_std": None, "subset_size": m, "num_subsets": 0}
    if num_subsets < 1:
        raise ValueError("num_subsets must be at least 1")
    gamma = 1.0 / dim if gamma is None else gamma

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T * gamma + coef0) ** degree

    rng = np.random.RandomState(seed)
    subsets = [(rng.choice(n_x, m, replace=False), rng.choice(n_y, m, replace=False)) for _ in range(num_subsets)]
    idx_x = torch.from_numpy(np.stack([s[0] for s in subsets]))
    idx_y = torch.from_numpy(np.stack([s[1] for s in subsets]))

    if n_x * n_x + n_y * n_y + n_x * n_y <= MAX_KERNEL_ENTRIES:
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        # 0/1 subset indicators: sum over a subset's block of K is w K wᵀ, all subsets in one matmul.
        w_x = torch.zeros(num_subsets, n_x, dtype=torch.float64).scatter_(1, idx_x, 1.0)
        w_y = torch.zeros(num_subsets, n_y, dtype=torch.float64).scatter_(1, idx_y, 1.0)
        sum_xx = ((w_x @ k_xx) * w_x).sum(1) - w_x @ k_xx.diagonal()
        sum_yy = ((w_y @ k_yy) * w_y).sum(1) - w_y @ k_yy.diagonal()
        sum_xy = ((w_x @ k_xy) * w_y).sum(1)
    else:
        sums = []
        for ix, iy in zip(idx_x, idx_y):
            xs, ys = x[ix], y[iy]
            k_xx, k_yy = kernel(xs, xs), kernel(ys, ys)
            sums.append((k_xx.sum() - k_xx.diagonal().sum(), k_yy.sum() - k_yy.diagonal().sum(),
                         kernel(xs, ys).sum()))
        sum_xx, sum_yy, sum_xy = (torch.stack(col) for col in zip(*sums))
    mmd2 = (sum_xx + sum_yy) / (m * (m - 1)) - 2 * sum_xy / (m * m)
    return {"kid": float(mmd2.mean()), "kid_std": float(mmd2.std(correction=0)), "subset_size": m,
            "num_subsets": num_subsets}


@register
class KernelInceptionDistance(Metric):
    name = "kid"
    needs = frozenset({REAL, FAKE})
    per_class = True
    defaults = {"subset_size": 1000, "num_subsets": 100, "seed": 2020}

    def check_options(self, options: Mapping[str, Any]) -> None:
        require(is_int(options["subset_size"]) and options["subset_size"] >= 2, "kid subset_size must be >= 2")
        require(is_int(options["num_subsets"]) and options["num_subsets"] >= 1, "kid num_subsets must be >= 1")
        require(is_int(options["seed"]) and 0 <= options["seed"] < 2 ** 32, "kid seed must be in [0, 2**32)")

    def compute(self, inputs: MetricInputs, **options: Any) -> dict[str, Any]:
        real, fake = inputs.real, inputs.fake
        assert real is not None and fake is not None
        result = kernel_inception_distance(fake.features, real.features, subset_size=int(options["subset_size"]),
                                           num_subsets=int(options["num_subsets"]), seed=int(options["seed"]))
        # Small negative values are valid for this unbiased estimator: they are reported as they are.
        return {**result, "insufficient_samples": result["kid"] is None, "num_real": real.num_samples,
                "num_fake": fake.num_samples}
