"""Job-runner overhead: train_gan with realistic callbacks vs the same train_step calls in a bare loop.

cdcgan, width 32, 64x64, batch 16, 1 channel, 6 classes; samples every 100 steps, checkpoints every 200 and
at the end. Both modes run in this process, alternating, --repeats times each.

Two ratios are printed. "wall" compares the best total wall time of each mode. "robust" rebuilds each run's
time from its median step time plus the measured cost of the steps that did extra work (network
construction, sample grids, checkpoints, the final checkpoint), so bursts of load from other processes on
a shared machine do not swamp the few percent being measured.

Usage: python benchmarks/train_step.py [--steps N] [--repeats N]
"""
from __future__ import annotations

import argparse
import statistics
import threading
import time

import torch

from models.config import GanConfig
from models.data import to_training_range
from models.registry import get_architecture
from models.training import TrainCallbacks, train_gan

CLASSES = ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
TARGET = 1.10


def make_config(steps: int) -> GanConfig:
    return GanConfig("cdcgan", resolution=64, channels=1, num_classes=len(CLASSES), class_names=CLASSES,
                     steps=steps, batch_size=16, width=32, sample_every=100, checkpoint_every=200)


def bare_loop(config: GanConfig, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Timestamps: start, after each step (there is no end work)."""
    stamps = [time.perf_counter()]
    trainer = get_architecture(config.architecture).make_trainer(config)
    rng = torch.Generator(device=config.device).manual_seed(config.seed)
    real = to_training_range(images)
    for _ in range(config.steps):
        idx = torch.randint(len(real), (config.batch_size,), generator=rng)
        trainer.train_step(real[idx], labels[idx], rng)
        stamps.append(time.perf_counter())
    stamps.append(stamps[-1])
    return stamps


def job_runner(config: GanConfig, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Timestamps: start, at each progress callback, end."""
    job: dict = {"checkpoints": {}, "samples": {}}
    cancel = threading.Event()
    stamps = [time.perf_counter()]

    def progress(step: int, total: int, metrics: dict[str, float]) -> None:
        stamps.append(time.perf_counter())
        job.update(step=step, total=total, metrics=metrics)

    callbacks = TrainCallbacks(progress=progress, should_stop=cancel.is_set,
                               save_checkpoint=job["checkpoints"].__setitem__,
                               save_sample=job["samples"].__setitem__)
    result = train_gan(config, images, labels, callbacks)
    stamps.append(time.perf_counter())
    assert result.step == config.steps and config.steps in job["checkpoints"] and config.steps in job["samples"]
    return stamps


def robust_time(config: GanConfig, stamps: list[float]) -> float:
    """Median step time x steps, plus the excess of the intervals that hold one-off or periodic work."""
    intervals = [b - a for a, b in zip(stamps, stamps[1:])]  # steps 1..n, then the tail after the last step
    special = {0, len(intervals) - 1} | {
        i for i in range(1, config.steps) if i % config.sample_every == 0 or i % config.checkpoint_every == 0}
    median = statistics.median(d for i, d in enumerate(intervals[:-1]) if i not in special)
    return median * config.steps + sum(intervals[i] - median for i in special if i < config.steps) + intervals[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per timed run (default 200)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per mode (default 1)")
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (120, 1, 64, 64), dtype=torch.uint8, generator=gen)
    labels = torch.arange(120) % len(CLASSES)
    config = make_config(args.steps)
    bare_loop(make_config(20), images, labels)  # warm-up: allocator, oneDNN primitive caches
    runs: dict[str, list[list[float]]] = {"bare": [], "runner": []}
    for i in range(args.repeats):
        order = [("bare", bare_loop), ("runner", job_runner)]
        for name, fn in order if i % 2 == 0 else order[::-1]:
            runs[name].append(fn(config, images, labels))
    wall = {name: min(s[-1] - s[0] for s in stamps) for name, stamps in runs.items()}
    robust = {name: min(robust_time(config, s) for s in stamps) for name, stamps in runs.items()}

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps x {args.repeats}")
    for name, label in (("bare", "bare loop"), ("runner", "train_gan")):
        print(f"{label:10s} wall {args.steps / wall[name]:6.2f} steps/s   robust {args.steps / robust[name]:6.2f} "
              f"steps/s   (runs: {', '.join(f'{s[-1] - s[0]:.2f}s' for s in runs[name])})")
    for kind, times in (("wall", wall), ("robust", robust)):
        ratio = times["runner"] / times["bare"]
        print(f"overhead ratio ({kind}): {ratio:.3f} (target <= {TARGET:.2f}) -> {'OK' if ratio <= TARGET else 'OVER'}")


if __name__ == "__main__":
    main()
