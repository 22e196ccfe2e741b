"""The metric maths on features: Fréchet distance against scipy's sqrtm formula, KID against torch-fidelity's."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

import models.metrics.builtin.kid as kid_module
from models.metrics.builtin.kid import kernel_inception_distance
from models.metrics.frechet import covariance, frechet_distance, frechet_distance_from_features


def scipy_frechet(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's formula: scipy.linalg.sqrtm of S1·S2, real part, in float64."""
    mu1, sigma1, mu2, sigma2 = (np.asarray(x, dtype=np.float64) for x in (mu1, sigma1, mu2, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def feature_pair(n1: int, n2: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-negative, correlated, Inception-like features; the second set slightly shifted and rescaled."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim ** 0.5
    x1 = torch.randn(n1, dim, generator=g, dtype=torch.float64).relu() @ mix
    x2 = (torch.randn(n2, dim, generator=g, dtype=torch.float64).relu() * 1.1 + 0.05) @ mix
    return x1, x2


def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(0), covariance(x)


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("n1,n2,dim", [
    (700, 600, 256),  # full rank
    (40, 30, 256),  # rank-deficient: fewer samples than dimensions
    (300, 20, 512),  # one side rank-deficient
])
def test_frechet_matches_scipy_sqrtm(n1, n2, dim):
    x1, x2 = feature_pair(n1, n2, dim, seed=n1 + n2)
    (mu1, s1), (mu2, s2) = stats(x1), stats(x2)
    reference = scipy_frechet(mu1, s1, mu2, s2)
    assert rel(frechet_distance(mu1, s1, mu2, s2), reference) < 1e-6
    assert rel(frechet_distance_from_features(x1, x2), reference) < 1e-6
    # numpy in, same answer
    assert rel(frechet_distance(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy()), reference) < 1e-6


def test_frechet_random_covariances():
    g = torch.Generator().manual_seed(5)
    dim = 128
    a = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    b = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    s1, s2 = a @ a.T / dim, b @ b.T / dim + 0.1 * torch.eye(dim, dtype=torch.float64)
    mu1, mu2 = torch.randn(dim, generator=g, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64)
    assert rel(frechet_distance(mu1, s1, mu2, s2), scipy_frechet(mu1, s1, mu2, s2)) < 1e-6
    # a low-rank covariance given as a matrix
    low = a[:, :10] @ a[:, :10].T / dim
    assert rel(frechet_distance(mu1, low, mu2, s2), scipy_frechet(mu1, low, mu2, s2)) < 1e-6


def test_frechet_of_a_set_with_itself_is_zero_up_to_rounding():
    x, _ = feature_pair(50, 2, 256, seed=1)
    value = frechet_distance_from_features(x, x.clone())
    assert isinstance(value, float) and abs(value) < 1e-9  # as computed: not clamped to 0
    mu, sigma = stats(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * sigma.trace().item()


def test_frechet_rejects_bad_input():
    mu, sigma = stats(feature_pair(10, 2, 8, seed=0)[0])
    with pytest.raises(ValueError):
        frechet_distance(mu, sigma, mu[:4], sigma)
    with pytest.raises(ValueError):
        frechet_distance(mu, sigma * float("nan"), mu, sigma)
    with pytest.raises(ValueError):
        frechet_distance_from_features(torch.zeros(1, 8), torch.zeros(5, 8))


@pytest.mark.parametrize("n_fake,n_real,subset_size,num_subsets", [(50, 40, 30, 20), (25, 25, 1000, 5)])
def test_kid_matches_torch_fidelity_estimator(n_fake, n_real, subset_size, num_subsets):
    from torch_fidelity.metric_kid import kid_features_to_metric

    fake, real = feature_pair(n_fake, n_real, 64, seed=2)
    ours = kernel_inception_distance(fake, real, subset_size=subset_size, num_subsets=num_subsets, seed=7)
    m = min(n_fake, n_real, subset_size)
    theirs = kid_features_to_metric(fake, real, kid_subsets=num_subsets, kid_subset_size=m, rng_seed=7,
                                    verbose=False)
    assert ours["subset_size"] == m and ours["num_subsets"] == num_subsets
    assert rel(ours["kid"], theirs["kernel_inception_distance_mean"]) < 1e-9
    assert ours["kid_std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-6, abs=1e-12)


def test_kid_per_subset_path_equals_full_kernel_path(monkeypatch):
    fake, real = feature_pair(30, 35, 32, seed=3)
    full = kernel_inception_distance(fake, real, subset_size=20, num_subsets=8, seed=1)
    monkeypatch.setattr(kid_module, "MAX_KERNEL_ENTRIES", 0)
    chunked = kernel_inception_distance(fake, real, subset_size=20, num_subsets=8, seed=1)
    assert chunked["kid"] == pytest.approx(full["kid"], rel=1e-10)
    assert chunked["kid_std"] == pytest.approx(full["kid_std"], rel=1e-8)


def test_kid_reports_negative_values_and_too_few_samples():
    g = torch.Generator().manual_seed(0)
    values = [kernel_inception_distance(torch.randn(20, 16, generator=g, dtype=torch.float64),
                                        torch.randn(20, 16, generator=g, dtype=torch.float64),
                                        num_subsets=1)["kid"] for _ in range(10)]
    assert min(values) < 0  # the unbiased estimator goes below 0 for equal distributions: not hidden
    assert kernel_inception_distance(torch.zeros(1, 4), torch.zeros(9, 4))["kid"] is None
