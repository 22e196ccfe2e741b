"""began and cbegan training throughput against cdcgan at the same resolution and batch, measured in the same run.

Each architecture trains with its declared (CPU) defaults, width and z_dim included, unless --width / --z-dim
set them for all: the first answers "how long does a default job take", the second compares equal widths. Each
configuration is timed in its own subprocess by benchmarks/stylegan2_throughput.py's worker (train_gan's loop:
uint8 images on the device, a random minibatch, to_training_range, train_step); with --repeats the
configurations alternate and the fastest run of each counts. Prints steps/s, ms/step and each one's steps/s as a
multiple of cdcgan's.

Run: .venv/bin/python benchmarks/began_throughput.py [--threads 1] [--resolutions 32 64 128] [--batch-size 16]
     [--width W] [--z-dim Z] [--steps 10] [--warmup 2] [--repeats 2] [--channels 1] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.stylegan2_throughput import in_subprocess  # noqa: E402
from models.architectures import get_architecture  # noqa: E402

ARCHITECTURES = ("cdcgan", "began", "cbegan")


def worker_argv(name: str, args: argparse.Namespace) -> list[str]:
    fields = get_architecture(name).Options.model_fields
    width = args.width or fields["width"].default
    z_dim = args.z_dim or fields["z_dim"].default
    return ["--width", str(width), "--z-dim", str(z_dim), "--batch-size", str(args.batch_size),
            "--channels", str(args.channels), "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--device", args.device]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (OMP_NUM_THREADS)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, help="all architectures' width; default: each one's own")
    parser.add_argument("--z-dim", type=int, help="all architectures' z_dim; default: each one's own")
    parser.add_argument("--channels", type=int, default=1, choices=(1, 3))
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the workers' torch reads it at start-up

    print(f"{args.device}, {args.threads} threads; batch {args.batch_size}, {args.channels} channels; "
          f"{args.steps} timed steps after {args.warmup}, each configuration in its own process, best of "
          f"{args.repeats}")
    print(f"  {'resolution':>10}  {'architecture':<12}{'width':>6}{'steps/s':>10}{'ms/step':>10}{'vs cdcgan':>11}")
    best: dict[tuple[int, str], float] = {}
    for _ in range(args.repeats):
        for resolution in args.resolutions:
            for name in ARCHITECTURES:
                ms = in_subprocess(name, resolution, worker_argv(name, args))["ms_per_step"]
                best[resolution, name] = min(ms, best.get((resolution, name), ms))
    for resolution in args.resolutions:
        for name in ARCHITECTURES:
            ms = best[resolution, name]
            width = worker_argv(name, args)[1]
            print(f"  {resolution:>10}  {name:<12}{width:>6}{1000 / ms:>10.2f}{ms:>10.1f}"
                  f"{best[resolution, 'cdcgan'] / ms:>10.3f}x")


if __name__ == "__main__":
    main()
