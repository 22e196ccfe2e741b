"""stylegan2-ada training throughput against the project's cdcgan, measured in the same run.

The reference is cdcgan (models/architectures/cdcgan.py) with the same resolution, batch size, width, z_dim,
channels and classes; each architecture trains with its own default hyperparameters and options (stylegan2-ada:
ADA, lazy R1 every 16 minibatches, no path length). The loop is train_gan's: uint8 images on the device, a random
minibatch, to_training_range, train_step. After --warmup steps, --steps steps are timed: the default 16 span one
R1 step and four ADA updates, so the time per step is the amortised one.

Every configuration runs in a fresh subprocess, so that its peak RSS (resource.getrusage, which includes the
interpreter and torch, about the same for both) and its peak GPU memory (--device cuda) are its own. With
--repeats, the subprocesses of all configurations alternate and the fastest run of each counts, so that drift in
machine speed hits both architectures alike. Prints images/s, ms/step, the peaks and stylegan2-ada's throughput
as a fraction of cdcgan's.

Run: .venv/bin/python benchmarks/stylegan2_throughput.py [--resolutions 32 64] [--width 16] [--z-dim 64]
     [--batch-size 8] [--steps 16] [--warmup 2] [--channels 3] [--repeats 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.architectures import get_architecture  # noqa: E402
from models.config import GanConfig  # noqa: E402
from models.data import to_training_range  # noqa: E402

ARCHITECTURES = ("cdcgan", "stylegan2-ada")
CLASSES = ["a", "b", "c"]
DATASET_SIZE = 64


def measure(architecture: str, resolution: int, args: argparse.Namespace) -> dict[str, float]:
    """One configuration, in this process."""
    config = GanConfig(architecture=architecture, channels=args.channels, class_names=CLASSES, steps=1,
                       batch_size=args.batch_size, device=args.device,
                       options={"resolution": resolution, "z_dim": args.z_dim, "width": args.width})
    device = torch.device(args.device)
    trainer = get_architecture(architecture).make_trainer(config)
    rng = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (DATASET_SIZE, args.channels, resolution, resolution), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(device)
    labels = (torch.arange(DATASET_SIZE) % len(CLASSES)).to(device)

    def step() -> None:
        idx = torch.randint(DATASET_SIZE, (args.batch_size,), device=device, generator=rng)
        trainer.train_step(to_training_range(images[idx]), labels[idx], rng)  # returns floats: synchronises

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - start
    result = {"images_per_s": args.steps * args.batch_size / seconds, "ms_per_step": 1000 * seconds / args.steps,
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def in_subprocess(architecture: str, resolution: int, argv: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *argv, "--worker", architecture, str(resolution)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--z-dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--steps", type=int, default=16, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", nargs=2, metavar=("ARCHITECTURE", "RESOLUTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker[0], int(args.worker[1]), args)))
        return

    argv = sys.argv[1:]
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads; width {args.width}, "
          f"z_dim {args.z_dim}, batch {args.batch_size}, {args.channels} channels, {len(CLASSES)} classes; "
          f"{args.steps} timed steps after {args.warmup}, each configuration in its own process, best of "
          f"{args.repeats}")
    gpu = args.device.startswith("cuda")
    print(f"  {'resolution':>10}  {'architecture':<14}{'images/s':>10}{'ms/step':>10}{'peak RSS MiB':>14}"
          + (f"{'peak GPU MiB':>14}" if gpu else "") + f"{'vs cdcgan':>11}")
    runs = [(resolution, name) for resolution in args.resolutions for name in ARCHITECTURES]
    best: dict[tuple[int, str], dict[str, float]] = {}
    for _ in range(args.repeats):
        for resolution, name in runs:
            result = in_subprocess(name, resolution, argv)
            if (resolution, name) not in best or result["images_per_s"] > best[resolution, name]["images_per_s"]:
                best[resolution, name] = result
    for resolution in args.resolutions:
        results = {name: best[resolution, name] for name in ARCHITECTURES}
        for name, r in results.items():
            ratio = r["images_per_s"] / results["cdcgan"]["images_per_s"]
            print(f"  {resolution:>10}  {name:<14}{r['images_per_s']:>10.1f}{r['ms_per_step']:>10.1f}"
                  f"{r['peak_rss_mib']:>14.0f}" + (f"{r['peak_gpu_mib']:>14.0f}" if gpu else "") + f"{ratio:>10.3f}x")


if __name__ == "__main__":
    main()
