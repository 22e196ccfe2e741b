"""Inception feature extraction: our backbone against torch-fidelity's own pipeline, same weights and images,
measured in the same run.

The reference is torch-fidelity's feature extraction as calculate_metrics runs it (create_feature_extractor +
get_featuresdict_from_dataset, pool features and logits, no worker processes). Ours: load_inception() with
fast=True (BatchNorm folded into the convolutions, channels-last; the default) and fast=False (torch-fidelity's
module as is). Prints images/s, the ratio to torch-fidelity (target >= 1.0) and the largest feature difference.

Weights are randomly initialised (same layout as the real file) unless --weights names the real one: the
speed does not depend on the values.

Run: .venv/bin/python benchmarks/features.py [--images 64] [--size 128] [--channels 3] [--batch-size 16]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.metrics.backbones import load_inception  # noqa: E402
from models.metrics.testing import write_random_inception_weights  # noqa: E402


class Images(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def best_of(fn: Callable[[], tuple[torch.Tensor, torch.Tensor]],
            repeats: int) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    assert out is not None
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=128, help="image side before the resize to 299")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--batch-size", type=int, default=16,
                        help="the same for both (16: faster than 32 or 64 for both on a 2-core CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", type=Path, help="an Inception weights file (default: random weights)")
    args = parser.parse_args()

    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    images = torch.randint(0, 256, (args.images, args.channels, args.size, args.size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or write_random_inception_weights(Path(tmp) / "random-inception.pth")
        peer = create_feature_extractor("inception-v3-compat", ["2048", "logits_unbiased"], cuda=False,
                                        feature_extractor_weights_path=str(weights), verbose=False)
        fast = load_inception(weights, batch_size=args.batch_size)
        exact = load_inception(weights, batch_size=args.batch_size, fast=False)

    rgb = images.expand(-1, 3, -1, -1).contiguous()  # torch-fidelity takes 3 channels only

    def theirs() -> tuple[torch.Tensor, torch.Tensor]:
        out = get_featuresdict_from_dataset(Images(rgb), peer, args.batch_size, cuda=False, save_cpu_ram=True,
                                            verbose=False)
        return out["2048"].double(), out["logits_unbiased"].double()

    rows = [("torch-fidelity", theirs),
            ("ours, fast=True (default)", lambda: fast.features_and_logits(images)),
            ("ours, fast=False", lambda: exact.features_and_logits(images))]
    timings: dict[str, tuple[float, tuple[torch.Tensor, torch.Tensor]]] = {name: (float("inf"), None)
                                                                           for name, _ in rows}
    for _ in range(args.repeats):  # interleaved, so that drift in machine speed hits every method alike
        for name, fn in rows:
            seconds, out = best_of(fn, 1)
            timings[name] = (min(seconds, timings[name][0]), out)

    ref_seconds, (ref_features, ref_logits) = timings["torch-fidelity"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.images} images "
          f"{args.channels}x{args.size}x{args.size} uint8, batch {args.batch_size}, best of {args.repeats}")
    print(f"  {'method':<28}{'images/s':>10}{'ratio':>8}{'max |d features| / max |f|':>29}"
          f"{'max |d logits| / max |l|':>27}")
    for name, _ in rows:
        seconds, (features, logits) = timings[name]
        df = ((features - ref_features).abs().max() / ref_features.abs().max()).item()
        dl = ((logits - ref_logits).abs().max() / ref_logits.abs().max()).item()
        print(f"  {name:<28}{args.images / seconds:>10.2f}{ref_seconds / seconds:>7.2f}x{df:>29.2e}{dl:>27.2e}")
    print(f"  ours (default) / torch-fidelity: {ref_seconds / timings[rows[1][0]][0]:.2f}x (target >= 1.0)")


if __name__ == "__main__":
    main()
