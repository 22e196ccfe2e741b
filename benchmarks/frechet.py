"""Our float64 torch metric maths against the references, measured in the same run, at Inception's 2048 dims.

1. Fréchet distance: ours (from statistics: eigh + eigvalsh; from features, as the fid metric runs it: the
   SVD of the cross product when a covariance is rank-deficient) against pytorch-fid's scipy.linalg.sqrtm
   formula and torch-fidelity's eigvals formula. Prints times, speed-up over scipy (target >= 1.0) and the
   largest relative difference from scipy (target <= 1e-6). With fewer samples than dimensions, an
   independent exact route is printed too: scipy's and torch-fidelity's results carry the square roots of the
   rounding noise of the ~D - n structurally zero eigenvalues of S1 S2; the fid metric's SVD route has none.
2. KID: ours (kernels computed once, subset sums read off them) against torch-fidelity's estimator with the
   same subsets (same seed), on float64 features. Prints times, speed-up (target >= 1.0) and the difference.

Run: .venv/bin/python benchmarks/frechet.py [--repeats 2] [--kid-subsets 20]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.metrics.builtin.kid import kernel_inception_distance  # noqa: E402
from models.metrics.frechet import covariance, frechet_distance, frechet_distance_fitted  # noqa: E402

DIM = 2048


def scipy_sqrtm(mu1, s1, mu2, s2) -> float:
    """pytorch-fid's calculate_frechet_distance (without its eps retry, which these inputs never need)."""
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fidelity_eigvals(mu1, s1, mu2, s2) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    out = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    return float(out["frechet_inception_distance"])


def exact_low_rank(x1: torch.Tensor, x2: torch.Tensor) -> float:
    """An independent exact route for n1 - 1 < D: the non-zero eigenvalues of S1 S2 are those of the
    [n1, n1] symmetric PSD matrix A S2 Aᵀ / (n1 - 1) (A = centred x1), so no structurally zero eigenvalue
    (whose rounding noise the square root would amplify) ever appears."""
    mu1, mu2 = x1.mean(0), x2.mean(0)
    s1, s2 = covariance(x1, mu1), covariance(x2, mu2)
    a = x1 - mu1
    gram = a @ s2 @ a.T / (len(x1) - 1)
    tr_sqrt = torch.linalg.eigvalsh((gram + gram.T) / 2).clamp_min(0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + s1.trace() + s2.trace() - 2 * tr_sqrt)


def features(n: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """Non-negative, correlated features shaped like Inception pool features."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(DIM, DIM, generator=torch.Generator().manual_seed(0), dtype=torch.float64) / DIM ** 0.5
    return ((torch.randn(n, DIM, generator=g, dtype=torch.float64).relu() * scale + shift) @ mix).abs()


def timed(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    best, value = float("inf"), float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def frechet_case(label: str, n: int, repeats: int) -> None:
    x1, x2 = features(n, seed=1), features(n, seed=2, scale=1.1, shift=0.02)
    mu1, mu2 = x1.mean(0), x2.mean(0)
    s1, s2 = covariance(x1, mu1), covariance(x2, mu2)
    a = (mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    c1, c2 = x1 - mu1, x2 - mu2
    rows = [
        ("scipy sqrtm (pytorch-fid)", lambda: scipy_sqrtm(*a)),
        ("torch-fidelity eigvals", lambda: fidelity_eigvals(*a)),
        ("ours, from statistics", lambda: frechet_distance(mu1, s1, mu2, s2)),
        ("ours, fid metric path", lambda: frechet_distance_fitted(c1, mu1, s1, c2, mu2, s2)),
    ]
    results = [(name, *timed(fn, repeats)) for name, fn in rows]
    ref_time, ref_value = results[0][1], results[0][2]
    exact = exact_low_rank(x1, x2) if n - 1 < DIM else None
    print(f"\n{label}: {n} samples per set, {DIM} dims (covariance rank {min(n - 1, DIM)})")
    print(f"  {'method':<28}{'seconds':>9}{'speed-up vs scipy':>19}{'FID':>21}{'rel. diff vs scipy':>20}"
          + ("" if exact is None else f"{'rel. diff vs exact':>20}"))
    for name, seconds, value in results:
        print(f"  {name:<28}{seconds:>9.3f}{ref_time / seconds:>18.1f}x{value:>21.12f}"
              f"{abs(value - ref_value) / abs(ref_value):>20.2e}"
              + ("" if exact is None else f"{abs(value - exact) / abs(exact):>20.2e}"))
    if exact is not None:
        print(f"  {'exact (Gram eigvalsh route)':<28}{'':>9}{'':>19}{exact:>21.12f}"
              f"{abs(exact - ref_value) / abs(ref_value):>20.2e}{0.0:>20.2e}")
    ours = [(t, v) for name, t, v in results if name.startswith("ours")]
    print(f"  largest relative difference, ours vs scipy: "
          f"{max(abs(v - ref_value) / abs(ref_value) for _, v in ours):.2e} (target <= 1e-6); "
          f"slowest of ours is {ref_time / max(t for t, _ in ours):.1f}x faster than scipy (target >= 1.0)")


def kid_case(n_fake: int, n_real: int, subsets: int, repeats: int) -> None:
    from torch_fidelity.metric_kid import kid_features_to_metric

    fake, real = features(n_fake, seed=3, scale=1.05), features(n_real, seed=4)
    size = min(n_fake, n_real, 1000)
    t_ref, ref = timed(lambda: kid_features_to_metric(fake, real, kid_subsets=subsets, kid_subset_size=size,
                                                      rng_seed=2020, verbose=False), repeats)
    t_ours, ours = timed(lambda: kernel_inception_distance(fake, real, subset_size=size, num_subsets=subsets,
                                                           seed=2020), repeats)
    ref_mean, ref_std = ref["kernel_inception_distance_mean"], ref["kernel_inception_distance_std"]
    print(f"\nKID: {n_fake} generated, {n_real} real, {subsets} subsets of {size}, {DIM} dims, float64")
    print(f"  {'method':<28}{'seconds':>9}{'speed-up':>11}{'KID mean':>20}{'KID std':>16}")
    print(f"  {'torch-fidelity':<28}{t_ref:>9.3f}{1.0:>10.1f}x{ref_mean:>20.12f}{ref_std:>16.3e}")
    print(f"  {'ours':<28}{t_ours:>9.3f}{t_ref / t_ours:>10.1f}x{ours['kid']:>20.12f}{ours['kid_std']:>16.3e}")
    print(f"  relative difference of the mean: {abs(ours['kid'] - ref_mean) / abs(ref_mean):.2e}, "
          f"of the std: {abs(ours['kid_std'] - ref_std) / abs(ref_std):.2e}; speed-up {t_ref / t_ours:.1f}x "
          f"(target >= 1.0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs per method")
    parser.add_argument("--kid-subsets", type=int, default=20)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; scipy {scipy.__version__}")
    frechet_case("full rank", 4096, args.repeats)
    frechet_case("rank-deficient", 500, args.repeats)
    kid_case(1000, 1800, args.kid_subsets, args.repeats)


if __name__ == "__main__":
    main()
