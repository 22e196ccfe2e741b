"""The study's comparison on our data: cdcgan (the study's DCGAN, conditional), cbegan (conditional BEGAN, one
model for all classes) and singan, each trained for the same wall-clock budget on the built-in sample set, then
measured side by side in one domain backbone.

Data (core/sample_data.py, 6 classes, 64 px grayscale): a training split of 25 images a class (seed 0), what the
generators train on; a held-out split of 30 a class (seed 1), what the backbone trains on; and an unseen split of
30 a class (seed 2), only measured. The backbone is benchmarks/singan.py's: the small CNN trained on the held-out
split, its 128-d pooled features for FID and KID, its 64-channel 16x16 map for SIFID.

Training: each architecture at its defaults through train_gan, stopped through the Monitor once --budget-seconds
have passed. SinGAN (one image a class, 6 pyramids) gets the steps_per_scale that fits the budget by a probe of
one pyramid at 5 iterations a scale (not counted in the budget); should it overrun, it stops mid-pyramid and
says so.

Figures, each on 30 generated images a class (180, as many as the held-out split) against the training split:
FID, KID (the project's models/metrics, torch-fidelity's maths), the mean of the per-class FIDs, FID against the
held-out split, and SIFID, every image against SinGAN's training image of its class (SinGAN's own pyramid image;
for the other models one real image of the class they also trained on). The Inception Score is not measured:
the project's needs Inception logits and a domain backbone has none. Reference row: the held-out split against
the training split (the real-vs-real floor), measured in the same run; ratios are against it. The unseen split
shows how much the backbone having seen the held-out images lowers the floor.

Run: .venv/bin/python benchmarks/study_comparison.py [--budget-seconds 300] [--threads 1] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import grid_png  # noqa: E402
from benchmarks.singan import (  # noqa: E402
    CALLBACKS,
    HELD_OUT_PER_CLASS,
    HELD_OUT_SEED,
    domain_backbone,
    sample_images,
    sifid,
    timed_run,
)
from core.sample_data import NEU_CLASSES  # noqa: E402
from models.architectures.singan import scales  # noqa: E402
from models.checkpoint import read_checkpoint  # noqa: E402
from models.config import GanConfig  # noqa: E402
from models.metrics import evaluate, extract_feature_set  # noqa: E402
from models.metrics.backbones import Backbone  # noqa: E402
from models.metrics.features import FeatureSet  # noqa: E402
from models.metrics.sifid import Pairing  # noqa: E402
from models.monitor import Monitor, Stopped  # noqa: E402
from models.snapshot import Sampler, load_sampler  # noqa: E402
from models.training import train_gan  # noqa: E402

RESOLUTION = 64
TRAIN_PER_CLASS = 25
UNSEEN_SEED = HELD_OUT_SEED + 1
PROBE_STEPS = 5
CLASSES = list(NEU_CLASSES)


def train_for_budget(config: GanConfig, images: torch.Tensor, labels: torch.Tensor,
                     budget: float) -> tuple[Sampler, int, float, bool]:
    """The sampler at the step reached, that step, the seconds spent and whether the budget stopped it."""
    start = time.perf_counter()
    monitor = Monitor(should_stop=lambda: time.perf_counter() - start > budget)
    try:
        result = train_gan(config, images, labels, CALLBACKS, monitor)
        blob, step, stopped = result.snapshot, result.step, False
    except Stopped as stop:
        assert stop.state is not None
        blob, step, stopped = stop.state, read_checkpoint(stop.state).step, True
    seconds = time.perf_counter() - start
    return load_sampler(blob), step, seconds, stopped


def singan_config(images: torch.Tensor, budget: float) -> GanConfig:
    """SinGAN with the steps_per_scale that lets every pyramid finish within `budget`, from a probe."""
    probe = GanConfig(architecture="singan", channels=1, class_names=["a"],
                      options={"resolution": RESOLUTION, "steps_per_scale": PROBE_STEPS})
    seconds, result = timed_run(probe, images[:1], torch.zeros(1, dtype=torch.long))
    per_step = seconds / result.step
    steps_per_scale = max(1, int(budget / (per_step * len(CLASSES) * scales(probe))))
    print(f"singan probe: {result.step} iterations in {seconds:.1f} s -> {steps_per_scale} iterations a scale "
          f"({len(CLASSES)} pyramids x {scales(probe)} scales)", flush=True)
    return GanConfig(architecture="singan", channels=1, class_names=CLASSES,
                     options={"resolution": RESOLUTION, "steps_per_scale": steps_per_scale})


def budget_config(architecture: str) -> GanConfig:
    never = 1_000_000  # the budget ends training; no grid or checkpoint before it
    return GanConfig(architecture=architecture, channels=1, class_names=CLASSES, steps=never, sample_every=never,
                     checkpoint_every=never, options={"resolution": RESOLUTION})


def measure(backbone: Backbone, images: torch.Tensor, labels: torch.Tensor, train: FeatureSet,
            held: FeatureSet | None, pairing: Pairing) -> dict[str, float | None]:
    out = evaluate(backbone, None, None, images, labels, ["fid", "kid"], real_stats=train)
    class_fids = [entry["fid"]["fid"] for entry in out["per_class"].values()]
    return {"fid": out["metrics"]["fid"]["fid"], "kid": out["metrics"]["kid"]["kid"],
            "class_fid": sum(class_fids) / len(class_fids),
            "fid_held": None if held is None else
            evaluate(backbone, None, None, images, None, ["fid"], real_stats=held)["metrics"]["fid"]["fid"],
            "sifid": sifid(backbone, images, pairing)}


def cell(value: float | None, floor: float | None) -> str:
    if value is None:
        return "—"
    ratio = f" ({value / floor:.2f}×)" if floor is not None and floor > 0 else ""
    return f"{value:.4g}{ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-seconds", type=float, default=300, help="training wall-clock per architecture")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmark-study"), help="sample grids")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    train_images, train_labels = sample_images(TRAIN_PER_CLASS, RESOLUTION, 0)
    held_images, held_labels = sample_images(HELD_OUT_PER_CLASS, RESOLUTION, HELD_OUT_SEED)
    backbone = domain_backbone(RESOLUTION)
    train = extract_feature_set(backbone, train_images, train_labels, CLASSES)
    held = extract_feature_set(backbone, held_images, held_labels, CLASSES)

    configs = {"cdcgan": budget_config("cdcgan"), "cbegan": budget_config("cbegan"),
               "singan": singan_config(train_images, args.budget_seconds)}
    samplers: dict[str, Sampler] = {}
    runs: dict[str, str] = {}
    for name, config in configs.items():
        samplers[name], step, seconds, stopped = train_for_budget(config, train_images, train_labels,
                                                                  args.budget_seconds)
        runs[name] = f"{step} steps in {seconds:.0f} s ({step / seconds:.2f}/s)"
        if stopped and name == "singan":
            runs[name] += ", stopped mid-pyramid"
        print(f"{name}: {runs[name]}", flush=True)

    network = samplers["singan"].network
    own = torch.stack(network.images)  # type: ignore[attr-defined]
    fake_labels = torch.arange(len(CLASSES)).repeat_interleave(HELD_OUT_PER_CLASS)
    seeds = list(range(len(fake_labels)))
    unseen_images, unseen_labels = sample_images(HELD_OUT_PER_CLASS, RESOLUTION, UNSEEN_SEED)
    rows = {"held-out real (floor)": (held_images, held_labels, None),
            "unseen real": (unseen_images, unseen_labels, held)}
    for name, sampler in samplers.items():
        rows[name] = (sampler.generate(fake_labels.tolist(), seeds), fake_labels, held)
    results = {}
    for name, (images, labels, held_stats) in rows.items():
        index = (network.pyramids(samplers["singan"].noise(seeds), labels)  # type: ignore[attr-defined]
                 if name == "singan" else labels.tolist())
        results[name] = measure(backbone, images, labels, train, held_stats, Pairing(own, index, ""))
        (args.out / f"{name.split()[0]}.png").write_bytes(grid_png(images, labels))
    floor = results["held-out real (floor)"]

    print(f"\n{len(CLASSES)} classes, {TRAIN_PER_CLASS} training / {HELD_OUT_PER_CLASS} held-out images a class, "
          f"{RESOLUTION} px; budget {args.budget_seconds:.0f} s, {args.threads} thread(s); "
          f"{HELD_OUT_PER_CLASS} images a class measured. IS: not measured (needs Inception logits).\n")
    print("| images | trained | FID vs train | KID vs train | class FID | FID vs held-out | SIFID |")
    print("|---|---|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {runs.get(name, '—')} | {cell(row['fid'], floor['fid'])} | "
              f"{cell(row['kid'], floor['kid'])} | {cell(row['class_fid'], floor['class_fid'])} | "
              f"{cell(row['fid_held'], floor['fid'])} | {cell(row['sifid'], floor['sifid'])} |")


if __name__ == "__main__":
    main()
