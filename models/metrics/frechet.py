"""The Fréchet distance between two Gaussians, in float64 torch.

    d² = |mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½)

tr((S1 S2)^½) is the sum of the square roots of the eigenvalues of S1 S2, which are real and >= 0 for
covariances. Two exact ways to get them without scipy's general (Schur) matrix square root:

* from covariances: with S1 = V diag(l) Vᵀ and R = V diag(√l), S1 S2 is similar to the symmetric PSD matrix
  Rᵀ S2 R, so one symmetric eigendecomposition and one symmetric eigenvalue solve give the trace.
* from features, when a covariance is rank-deficient (fewer samples than dimensions): with A and B the centred
  features, S1 = AᵀA/(n1-1) and S2 = BᵀB/(n2-1), the non-zero eigenvalues of S1 S2 are the squared singular
  values of B Aᵀ/√((n1-1)(n2-1)), so the trace is that matrix's nuclear norm: an [n2, n1] SVD instead of two
  [D, D] eigenproblems, and the structurally zero eigenvalues never appear (their rounding noise would
  otherwise be amplified by the square root).

Eigenvalues that rounding makes slightly negative are taken as 0 (the real part of their square root, as scipy
and torch-fidelity do). The distance itself is returned as computed: a tiny negative value is not hidden.
"""
from __future__ import annotations

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance from means and covariances (any rank)."""
    mu1, sigma1, mu2, sigma2 = (_f64(x) for x in (mu1, sigma1, mu2, sigma2))
    _check_stats(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    value = diff @ diff + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(value)


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr((S1 S2)^½) for symmetric PSD S1, S2 (float64)."""
    lam, vectors = torch.linalg.eigh(_symmetric(sigma1))
    root = vectors * lam.clamp_min(0).sqrt()  # R with R Rᵀ = S1
    inner = root.T @ sigma2 @ root
    return torch.linalg.eigvalsh(_symmetric(inner)).clamp_min(0).sqrt().sum()


def frechet_distance_from_features(features1: ArrayLike, features2: ArrayLike) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets [N, D] (unbiased covariances)."""
    x1, x2 = _f64(features1), _f64(features2)
    mu1, mu2 = x1.mean(0), x2.mean(0)
    return frechet_distance_fitted(x1 - mu1, mu1, covariance(x1, mu1), x2 - mu2, mu2, covariance(x2, mu2))


def frechet_distance_fitted(centred1: torch.Tensor, mu1: torch.Tensor, sigma1: torch.Tensor,
                            centred2: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet distance when both the features (centred) and their statistics are at hand: the SVD of the
    [n2, n1] cross product when it is no larger than [D, D] (then at least one covariance is rank-deficient,
    and this route is both exact and cheaper), else the covariance route."""
    (n1, dim), n2 = centred1.shape, centred2.shape[0]
    if n1 < 2 or n2 < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples on each side")
    if n1 * n2 > dim * dim:
        return frechet_distance(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    tr_sqrt = torch.linalg.svdvals(centred2 @ centred1.T).sum() / ((n1 - 1) * (n2 - 1)) ** 0.5
    return float(diff @ diff + sigma1.trace() + sigma2.trace() - 2 * tr_sqrt)


def covariance(features: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Unbiased (n - 1) covariance [D, D] in float64, exactly symmetric. NaN for fewer than 2 samples."""
    x = _f64(features)
    n, dim = x.shape
    if n < 2:
        return torch.full((dim, dim), float("nan"), dtype=torch.float64)
    centred = x - (x.mean(0) if mean is None else mean)
    return _symmetric(centred.T @ centred / (n - 1))


def _symmetric(matrix: torch.Tensor) -> torch.Tensor:
    return (matrix + matrix.T) / 2


def _f64(x: ArrayLike) -> torch.Tensor:
    return torch.as_tensor(x).to(torch.float64)


def _check_stats(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> None:
    dim = mu1.shape[0] if mu1.dim() == 1 else -1
    if dim < 0 or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(f"inconsistent shapes: mu {tuple(mu1.shape)}, {tuple(mu2.shape)}; "
                         f"sigma {tuple(sigma1.shape)}, {tuple(sigma2.shape)}")
    for name, value in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not torch.isfinite(value).all():
            raise ValueError(f"{name} has non-finite values")
