"""Classifier training throughput on this machine: images/s of train_classifier for every registered classifier.

The reference is the small-cnn, measured in the same run; the ratio column is each classifier's throughput over
the small-cnn's (below 1: slower). One timed call is one epoch of train_classifier over --images random
grayscale images (batch 32, with the BatchNorm re-estimation pass that ends every training), after a warm-up
call; classifiers take turns for --repeats rounds so that drift in machine speed hits them alike, best round kept.

Run: .venv/bin/python benchmarks/classifier_throughput.py [--images 256] [--size 64] [--repeats 3] [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.classification import ClassifierConfig, train_classifier  # noqa: E402
from models.classifiers import classifier_names  # noqa: E402

REFERENCE = "small-cnn"
CLASSES = ["a", "b", "c", "d", "e", "f"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 1, args.size, args.size), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, len(CLASSES), (args.images,), generator=gen)
    names = [REFERENCE] + [name for name in classifier_names() if name != REFERENCE]
    configs = {name: ClassifierConfig(name, CLASSES, 1, args.size, epochs=1, batch_size=args.batch_size)
               for name in names}
    for name in names:  # warm-up: first-call allocations and kernel selection
        train_classifier(configs[name], images[:2 * args.batch_size], labels[:2 * args.batch_size])
    best = dict.fromkeys(names, float("inf"))
    for _ in range(args.repeats):
        for name in names:
            start = time.perf_counter()
            train_classifier(configs[name], images, labels)
            best[name] = min(best[name], time.perf_counter() - start)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.images} images 1x{args.size}x"
          f"{args.size}, batch {args.batch_size}, one epoch per call, best of {args.repeats}")
    print(f"  {'classifier':<14}{'images/s':>10}{'vs ' + REFERENCE:>14}")
    for name in names:
        print(f"  {name:<14}{args.images / best[name]:>10.1f}{best[REFERENCE] / best[name]:>13.3f}x")


if __name__ == "__main__":
    main()
