"""SinGAN: training throughput against cdcgan in the same run, and SIFID after a fixed wall-clock budget on the
built-in sample set (core/sample_data.py).

Throughput: both through train_gan, one class, at the same resolution and batch (SinGAN's batch is one image, so
cdcgan's is --batch-size, default 1), each with its default options. SinGAN trains one pyramid, --steps iterations
a scale (each 3 D and 3 G steps), over every scale; cdcgan the same number of steps. Prints steps/s and SinGAN's
as a fraction of cdcgan's.

SIFID: one model of --images-per-class pyramids for each sample class, steps_per_scale chosen from the measured
step time so that the whole schedule fits --budget seconds. It is measured from scale N (pure noise) and N-1, each
generated image against its own training image, in a domain backbone: the small CNN (models/classifiers/small_cnn)
trained on held-out sample images, its 64-channel map at 1/4 resolution (16x16 positions at 64 px); and in
Inception's 192-channel map with --inception (a weights file). As a yardstick: SIFID of a held-out real image of
the class against each training image.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/singan.py [--resolution 64] [--steps 10] [--budget 300]
     [--images-per-class 1] [--threads 1] [--inception PATH]
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.sample_data import NEU_CLASSES, render_sample  # noqa: E402
from models.architectures.singan import scales  # noqa: E402
from models.classification import ClassifierConfig, train_classifier  # noqa: E402
from models.config import GanConfig  # noqa: E402
from models.data import images_to_tensor  # noqa: E402
from models.metrics import evaluate, load_inception, load_torchscript  # noqa: E402
from models.metrics.backbones import Backbone  # noqa: E402
from models.metrics.sifid import Pairing  # noqa: E402
from models.monitor import SILENT  # noqa: E402
from models.snapshot import load_sampler  # noqa: E402
from models.training import GanCallbacks, TrainResult, train_gan  # noqa: E402

CALLBACKS = GanCallbacks(save_checkpoint=lambda step, blob: None, save_sample=lambda step, png: None)
HELD_OUT_SEED = 1  # training images come from seed 0
HELD_OUT_PER_CLASS = 30


def sample_images(per_class: int, resolution: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for k, name in enumerate(NEU_CLASSES):
        for i in range(per_class):
            images.append(render_sample(name, resolution, np.random.default_rng([seed, k, i])))
            labels.append(k)
    return images_to_tensor(images, resolution, 1), torch.tensor(labels)


def timed_run(config: GanConfig, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, TrainResult]:
    start = time.perf_counter()
    result = train_gan(config, images, labels, CALLBACKS, SILENT)
    return time.perf_counter() - start, result


def throughput(args: argparse.Namespace) -> float:
    """Prints both rates; returns SinGAN's seconds per iteration."""
    images, labels = sample_images(1, args.resolution, 0)
    images, labels = images[:1], labels[:1]
    singan = GanConfig(architecture="singan", channels=1, class_names=["a"], batch_size=args.batch_size,
                       options={"resolution": args.resolution, "steps_per_scale": args.steps})
    total = scales(singan) * args.steps
    cdcgan = GanConfig(architecture="cdcgan", channels=1, class_names=["a"], batch_size=args.batch_size, steps=total,
                       sample_every=total, checkpoint_every=total, options={"resolution": args.resolution})
    rates = {}
    for name, config in (("cdcgan", cdcgan), ("singan", singan)):
        seconds, result = timed_run(config, images, labels)
        steps = result.step
        rates[name] = steps / seconds
        print(f"{name}: {steps} steps in {seconds:.1f} s, {rates[name]:.2f} steps/s "
              f"({rates[name] * args.batch_size:.2f} images/s)")
    print(f"singan/cdcgan throughput: {rates['singan'] / rates['cdcgan']:.3f} "
          f"({scales(singan)} scales, width {singan.options.width}, resolution {args.resolution})")  # type: ignore[attr-defined]
    return 1 / rates["singan"]


class SpatialCNN(nn.Module):
    """The trained small CNN as a TorchScript domain backbone: pooled features and the spatial map."""

    def __init__(self, model: nn.Module, resolution: int) -> None:
        super().__init__()
        self.early = model.blocks[:5]  # conv 16, pool, conv 32, pool, conv 64
        self.rest = model.blocks[5:]
        self.resolution = resolution

    def spatial_features(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 127.5 - 1.0
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=[self.resolution, self.resolution], mode="bilinear", align_corners=False)
        return self.early(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.rest(self.spatial_features(images)).mean(dim=(2, 3))


def domain_backbone(resolution: int) -> Backbone:
    images, labels = sample_images(HELD_OUT_PER_CLASS, resolution, HELD_OUT_SEED)
    config = ClassifierConfig("small-cnn", list(NEU_CLASSES), 1, resolution, epochs=15)
    model = train_classifier(config, images, labels).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(SpatialCNN(model, resolution)), buffer)
    return load_torchscript(buffer.getvalue(), name="small-cnn-spatial", in_channels=1, probe_size=resolution)


def sifid(backbone: Backbone, fake: torch.Tensor, pairing: Pairing) -> float:
    return evaluate(backbone, None, None, fake, None, ["sifid"], pairing=pairing)["metrics"]["sifid"]["sifid"]


def sifid_after_budget(args: argparse.Namespace, seconds_per_step: float) -> None:
    images, labels = sample_images(max(args.images_per_class, 2), args.resolution, 0)
    probe = GanConfig(architecture="singan", channels=1, class_names=list(NEU_CLASSES),
                      options={"resolution": args.resolution, "images_per_class": args.images_per_class})
    pyramids = len(NEU_CLASSES) * args.images_per_class
    steps_per_scale = max(1, int(args.budget / (seconds_per_step * pyramids * scales(probe))))
    config = probe.replace(options=probe.options.model_copy(update={"steps_per_scale": steps_per_scale}))
    seconds, result = timed_run(config, images, labels)
    print(f"singan on the sample set: {pyramids} pyramids x {scales(config)} scales x {steps_per_scale} steps "
          f"= {result.step} steps in {seconds:.0f} s (budget {args.budget:.0f} s)")
    sampler = load_sampler(result.snapshot)
    network = sampler.network
    backbones = {"small-cnn map (64 ch, 16x16)": domain_backbone(args.resolution)}
    if args.inception:
        backbones["inception 192-ch map"] = load_inception(args.inception)
    per_class = 10
    seeds = list(range(per_class * len(NEU_CLASSES)))
    classes = [k for k in range(len(NEU_CLASSES)) for _ in range(per_class)]
    held_out, held_labels = sample_images(1, args.resolution, HELD_OUT_SEED + 1)
    own = torch.stack(network.images)  # type: ignore[attr-defined]
    index = network.pyramids(sampler.noise(seeds), torch.tensor(classes))  # type: ignore[attr-defined]
    for name, backbone in backbones.items():
        n = sampler.generate(classes, seeds)
        n1 = sampler.generate(classes, seeds, start_scale=scales(config) - 2)
        real = sifid(backbone, held_out[[int(torch.nonzero(held_labels == p // args.images_per_class)[0])
                                         for p in range(pyramids)]], Pairing(own, list(range(pyramids)), ""))
        print(f"SIFID in {name}: scale N {sifid(backbone, n, Pairing(own, index, '')):.4f}, "
              f"scale N-1 {sifid(backbone, n1, Pairing(own, index, '')):.4f}, "
              f"held-out real image of the class {real:.4f} ({len(seeds)} generated images)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="SinGAN iterations per scale for the throughput")
    parser.add_argument("--budget", type=float, default=300, help="seconds of SinGAN training before SIFID")
    parser.add_argument("--images-per-class", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--inception", type=Path, default=None, help="the imported FID Inception weights")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds_per_step = throughput(args)
    sifid_after_budget(args, seconds_per_step)


if __name__ == "__main__":
    main()
