"""Do generated images help? Generator quality on real photographs that ship with scikit-image (never the
procedural sample set).

Each class is one photograph, cut into native-resolution 64x64 grayscale patches. `--classes textures` (the
default: brick, grass, gravel, coins, immunohistochemistry, Hubble deep field) is easy: real-only accuracy is near
1, which leaves no room for an uplift. `--classes alike` (brick, grass, gravel, moon, handwritten text, printed
page, Hubble, immunohistochemistry) has textures that resemble each other, and leaves room. Per class: `--train`
patches from the left third (what the generator and the classifiers train on), an "oracle" set from the middle
third and `--held-out` patches from the right third (the test set). Every figure is measured against references
in the same run:

- FD ratio: the Fréchet distance of generated vs held-out features, divided by the floor, train vs held-out
  (both at the train set's size, averaged over 5 draws). The features are the penultimate layer of a small CNN
  trained on the train split alone (what `backbone: "auto"` is meant to be). Target: <= 3.
- diversity ratio: mean pairwise feature distance within a class, generated over held-out. Target: >= 0.5;
  a collapsed generator scores near 0.
- pixel spread ratio: the per-pixel standard deviation across a class's images, averaged over pixels and
  classes, generated over held-out (in grey levels, not features: a generator whose images of a class are one
  picture scores near 0 even where off-manifold features spread widely).
- NN ratio: distance of each generated image to its nearest training image, over the same for held-out
  images. Copies of the training set score near 0.
- checkerboard and edge stripe: models/artefacts.py's scores (limits 0.1 and 0.2).
- uplift: the augmentation report (small-cnn, real only vs real + `--synthetic` images per class, `--repeats`
  paired repeats) on the held-out test set: accuracy uplift with its 95% paired bootstrap interval and one-sided p.

--filter confident|informative also measures each generator through a generate job's classifier filter
(threshold 0.9), with the feature CNN standing in for the classifier a user trains on the real images.

References: "oracle" (unseen real patches: the ceiling), "noise" (uniform noise: the floor) and "classical"
(flips, rotations and crops of the train patches; its uplift is the report's real+aug setting).

Scale: with --train-size above 64 (say 128) the generator trains on larger patches, with --crop random (64 px
crops at native scale) or resize (the whole patch downscaled to 64); everything else sees the same pixels as 64 px
tiles, and the held-out patches are 64 px at native scale, the scale a factory's classifier works at.

Run: .venv/bin/python benchmarks/quality.py [--classes alike] [--architectures cdcgan fastgan] [--steps 2000]
     [--options '{"stylegan2-ada": {"width": 16}}'] [--train-size 128 --crop resize] [--filter informative]
     [--threads 1] [--out DIR]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision.utils
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.artefacts import checkerboard_score, edge_stripe_score  # noqa: E402
from models.augmentation_report import ReportConfig, run_report  # noqa: E402
from models.classification import ClassifierConfig, augment, train_classifier  # noqa: E402
from models.classifiers import classifier_features  # noqa: E402
from models.config import GanConfig  # noqa: E402
from models.data import resample, to_training_range, to_uint8  # noqa: E402
from models.filtering import keep_mask, score_images  # noqa: E402
from models.metrics.frechet import frechet_distance_from_features  # noqa: E402
from models.monitor import Monitor, Progress  # noqa: E402
from models.snapshot import load_sampler  # noqa: E402
from models.training import GanCallbacks, train_gan  # noqa: E402

SIZE = 64
REGIONS = {"train": (0.0, 1 / 3), "oracle": (1 / 3, 2 / 3), "held_out": (2 / 3, 1.0)}
CLASS_SETS = {
    "textures": ["brick", "grass", "gravel", "coins", "ihc", "hubble"],
    "alike": ["brick", "grass", "gravel", "moon", "text", "page", "hubble", "ihc"],
}
Source = Callable[[int, int, int], torch.Tensor]  # (class index, count, seed) -> uint8 [count, 1, 64, 64]


def photographs(names: list[str]) -> dict[str, np.ndarray]:
    from skimage import data

    loaders = {"brick": data.brick, "grass": data.grass, "gravel": data.gravel, "coins": data.coins,
               "ihc": data.immunohistochemistry, "hubble": data.hubble_deep_field, "moon": data.moon,
               "cell": data.cell, "retina": data.retina, "camera": data.camera, "coffee": data.coffee,
               "chelsea": data.chelsea, "astronaut": data.astronaut, "rocket": data.rocket, "text": data.text,
               "page": data.page}
    unknown = set(names) - set(loaders)
    if unknown:
        raise SystemExit(f"unknown photographs {sorted(unknown)}; known: {sorted(loaders)}")
    return {name: np.asarray(Image.fromarray(loaders[name]()).convert("L")) for name in names}


def patches(photo: np.ndarray, region: tuple[float, float], count: int, rng: np.random.Generator,
            size: int = SIZE) -> torch.Tensor:
    """Random native-resolution crops whose columns lie inside the region (a fraction of the width)."""
    height, width = photo.shape
    low, high = int(region[0] * width), int(region[1] * width) - size
    tops = rng.integers(0, height - size + 1, count)
    lefts = rng.integers(low, high + 1, count)
    crops = np.stack([photo[t:t + size, x:x + size] for t, x in zip(tops, lefts)])
    return torch.from_numpy(crops)[:, None].contiguous()


def tiles(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image cut into non-overlapping SIZE x SIZE tiles: native-scale patches of larger training images."""
    per_side = images.shape[-1] // SIZE
    cut = images.unfold(2, SIZE, SIZE).unfold(3, SIZE, SIZE)  # [N, 1, per_side, per_side, SIZE, SIZE]
    out = cut.permute(0, 2, 3, 1, 4, 5).reshape(-1, 1, SIZE, SIZE).contiguous()
    return out, labels.repeat_interleave(per_side * per_side)


def split(photos: dict[str, np.ndarray], counts: dict[str, int], seed: int,
          train_size: int = SIZE) -> dict[str, tuple[torch.Tensor, ...]]:
    """train: what the generator trains on (train_size patches); train_tiles: the same pixels as SIZE tiles, what
    the features, the floor and the report's real-only classifier use; oracle and held_out: SIZE patches."""
    rng = np.random.default_rng(seed)
    out = {}
    for part, region in REGIONS.items():
        size = train_size if part == "train" else SIZE
        images = [patches(photo, region, counts[part], rng, size) for photo in photos.values()]
        labels = torch.arange(len(photos)).repeat_interleave(counts[part])
        out[part] = (torch.cat(images), labels)
    out["train_tiles"] = tiles(*out["train"])
    return out


class Features:
    """The penultimate layer of a small CNN trained on the train split alone."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> None:
        config = ClassifierConfig(architecture="small-cnn", class_names=classes, channels=1, resolution=SIZE,
                                  epochs=40, classical_augmentation=True)
        self.model = train_classifier(config, images, labels)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([classifier_features("small-cnn", self.model, to_training_range(chunk)).double()
                          for chunk in images.split(256)])


def measure(features: Features, fake: torch.Tensor, fake_labels: torch.Tensor, data: dict, seed: int) -> dict:
    train = data["train_tiles"][0]
    held, held_labels = data["held_out"]
    f_fake, f_train, f_held = features(fake), features(train), features(held)
    rng = torch.Generator().manual_seed(seed)
    n = len(train)

    def draw(x: torch.Tensor) -> torch.Tensor:
        return x[torch.randperm(len(x), generator=rng)[:n]]

    fd = np.mean([frechet_distance_from_features(draw(f_fake), draw(f_held)) for _ in range(5)])
    floor = np.mean([frechet_distance_from_features(f_train, draw(f_held)) for _ in range(5)])

    classes = range(int(held_labels.max()) + 1)
    per_class = n // len(classes)

    def spread(x: torch.Tensor) -> float:  # at the train set's size per class, for both sides alike
        return torch.pdist(x[:per_class]).mean().item()

    diversity = np.mean([spread(f_fake[fake_labels == c]) / spread(f_held[held_labels == c]) for c in classes])
    pixel_spread = np.mean([fake[fake_labels == c].double().std(0).mean().item()
                            / held[held_labels == c].double().std(0).mean().item() for c in classes])
    nn_fake = torch.cdist(f_fake, f_train).min(1).values.mean().item()
    nn_held = torch.cdist(f_held, f_train).min(1).values.mean().item()
    return {"fd": float(fd), "fd_floor": float(floor), "fd_ratio": float(fd / floor),
            "diversity_ratio": float(diversity), "pixel_spread_ratio": float(pixel_spread),
            "nn_ratio": nn_fake / nn_held, "checkerboard": checkerboard_score(fake),
            "edge_stripe": edge_stripe_score(fake)}


def pool_source(images: torch.Tensor, labels: torch.Tensor) -> Source:
    def draw(class_index: int, count: int, seed: int) -> torch.Tensor:
        members = images[labels == class_index]
        order = torch.randint(len(members), (count,), generator=torch.Generator().manual_seed(seed))
        return members[order]

    return draw


def _log_progress(architecture: str, started: float, progress: Progress) -> None:
    if progress.step % 250 == 0:
        losses = "  ".join(f"{k} {v:.3f}" for k, v in (progress.metrics or {}).items())
        print(f"  {architecture} step {progress.step}/{progress.total} ({time.perf_counter() - started:.0f} s)  "
              f"{losses}", flush=True)


def snapshot_source(snapshot: bytes) -> Source:
    sampler = load_sampler(snapshot)

    def draw(class_index: int, count: int, seed: int) -> torch.Tensor:
        return sampler.generate([class_index] * count, [seed * 1_000_003 + i for i in range(count)])

    return draw


def generated(source: Source, classes: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.cat([source(c, count, 10_000 + c) for c in range(classes)])
    return images, torch.arange(classes).repeat_interleave(count)


def train_generator(architecture: str, steps: int, options: dict, crop: str, data: dict, classes: list[str],
                    out: Path, features: Features, count: int, seed: int) -> tuple[Source, float]:
    """The trained generator as a source, and its training time (the FD ratio of each quarter's snapshot is
    printed on the way; measuring them is not timed)."""
    config = GanConfig(architecture=architecture, channels=1, class_names=classes, steps=steps, crop=crop,
                       sample_every=max(steps // 4, 1), checkpoint_every=steps, options={"resolution": SIZE, **options})
    grids: list[tuple[int, bytes]] = []
    measuring = 0.0

    def evaluate(step: int, snapshot: bytes) -> None:
        nonlocal measuring
        began = time.perf_counter()
        row = measure(features, *generated(snapshot_source(snapshot), len(classes), count), data, seed)
        print(f"  {architecture} step {step}: FD ratio {row['fd_ratio']:.2f}  diversity {row['diversity_ratio']:.2f}",
              flush=True)
        measuring += time.perf_counter() - began

    started = time.perf_counter()
    images, labels = data["train"]
    if crop == "resize" and images.shape[-1] != SIZE:  # as the service loads them: each whole image resized
        images = resample(images, (SIZE, SIZE))
    callbacks = GanCallbacks(lambda *_: None, lambda s, png: grids.append((s, png)), evaluate=evaluate,
                             eval_every=max(steps // 4, 1))
    result = train_gan(config, images, labels, callbacks, Monitor(lambda p: _log_progress(architecture, started, p)))
    seconds = time.perf_counter() - started - measuring
    for step, png in grids:
        (out / f"{architecture}-step{step:05d}.png").write_bytes(png)
    return snapshot_source(result.snapshot), seconds


def filtered_source(source: Source, classifier: torch.nn.Module, mode: str, threshold: float = 0.9,
                    factor: int = 10) -> Source:
    """What a generate job with `filter: {mode}` hands back: candidates the real-trained classifier keeps, up to
    `factor` times the count; short of that, the rest are the candidates it gives the label most probability."""
    def draw(class_index: int, count: int, seed: int) -> torch.Tensor:
        candidates = source(class_index, count * factor, seed)
        labels = torch.full((len(candidates),), class_index)
        label_prob, predicted = score_images(classifier, candidates, labels)
        kept = keep_mask(mode, threshold, label_prob, predicted, labels)
        order = torch.cat([kept.nonzero().flatten(), (~kept).nonzero().flatten()[
            label_prob[~kept].argsort(descending=True)]])
        return candidates[order[:count]]

    return draw


def report(data: dict, classes: list[str], source: Source, synthetic: int, repeats: int,
           classical: bool = False) -> dict:
    config = ReportConfig(classifier=ClassifierConfig(architecture="small-cnn", class_names=classes, channels=1,
                                                      resolution=SIZE, epochs=10),
                          synthetic_per_class=[0, synthetic], classical_augmentation=classical, repeats=repeats,
                          gradcam_samples=0)
    summary = run_report(config, data["train_tiles"], data["held_out"], source).summary
    key = "real+aug" if classical else f"real+{synthetic}"
    setting = next(s for s in summary["settings"] if s["key"] == key)
    baseline = next(s for s in summary["settings"] if s["key"] == summary["baseline"])
    uplift = setting["uplift"]["accuracy"]
    return {"baseline_accuracy": baseline["accuracy"]["mean"], "accuracy": setting["accuracy"]["mean"],
            "uplift": uplift["mean"], "uplift_ci95": uplift["ci95"], "p_value": uplift["p_value"]}


def grid_png(images: torch.Tensor, labels: torch.Tensor, per_class: int = 8) -> bytes:
    """A row per class, in class order."""
    rows = [images[labels == c][:per_class] for c in range(int(labels.max()) + 1)]
    grid = torchvision.utils.make_grid(torch.cat(rows), nrow=per_class, padding=2)[0].numpy()
    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="*", default=["cdcgan"])
    parser.add_argument("--classes", nargs="+", default=list(CLASS_SETS["textures"]),
                        help=f"photographs, one per class, or a named set: {sorted(CLASS_SETS)}")
    parser.add_argument("--steps", type=int, default=2000, help="training steps (TrainSettings' default)")
    parser.add_argument("--options", type=json.loads, default={}, help="per-architecture options, as JSON")
    parser.add_argument("--train", type=int, default=10, help="training patches per class")
    parser.add_argument("--train-size", type=int, default=SIZE,
                        help="side of the training patches; above 64 the generator trains on them with --crop")
    parser.add_argument("--crop", default="random", choices=["random", "resize"])
    parser.add_argument("--held-out", type=int, default=200, help="test patches per class")
    parser.add_argument("--generated", type=int, default=200, help="generated images per class to measure")
    parser.add_argument("--synthetic", type=int, default=100, help="synthetic images per class in the report")
    parser.add_argument("--repeats", type=int, default=5, help="augmentation report repeats; 0 skips the report")
    parser.add_argument("--filter", choices=["confident", "informative"],
                        help="also measure each generator through a generate job's filter (threshold 0.9), with "
                             "the feature CNN as the classifier trained on real images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmark-quality"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    photos = photographs(CLASS_SETS.get(args.classes[0], args.classes) if len(args.classes) == 1 else args.classes)
    classes = list(photos)
    data = split(photos, {"train": args.train, "oracle": args.generated, "held_out": args.held_out}, args.seed,
                 args.train_size)
    features = Features(*data["train_tiles"], classes)
    train_images, train_labels = data["train_tiles"]
    rng = torch.Generator().manual_seed(args.seed)
    augmented_idx = torch.randint(len(train_images), (args.generated * len(classes),), generator=rng)
    classical = to_uint8(augment(to_training_range(train_images[augmented_idx]), rng))
    sources: dict[str, tuple[Source, float | None]] = {
        "oracle": (pool_source(*data["oracle"]), None),
        "noise": (lambda c, n, s: torch.randint(0, 256, (n, 1, SIZE, SIZE), dtype=torch.uint8,
                                                generator=torch.Generator().manual_seed(s * 7919 + c)), None),
        "classical": (pool_source(classical, train_labels[augmented_idx]), None),
    }
    for architecture in args.architectures:
        sources[architecture] = train_generator(architecture, args.steps, args.options.get(architecture, {}),
                                                args.crop, data, classes, args.out, features, args.generated,
                                                args.seed)
        if args.filter:
            sources[f"{architecture}+{args.filter}"] = (
                filtered_source(sources[architecture][0], features.model, args.filter), None)

    results = {}
    for name, (source, seconds) in sources.items():
        fake, fake_labels = generated(source, len(classes), args.generated)
        (args.out / f"{name}-samples.png").write_bytes(grid_png(fake, fake_labels))
        row = measure(features, fake, fake_labels, data, args.seed)
        if args.repeats:
            row.update(report(data, classes, source, args.synthetic, args.repeats, classical=name == "classical"))
        row["train_seconds"] = seconds
        results[name] = row
        print(f"{name:>14}: FD ratio {row['fd_ratio']:.2f}  diversity {row['diversity_ratio']:.2f}  "
              f"pixel spread {row['pixel_spread_ratio']:.2f}  "
              f"NN {row['nn_ratio']:.2f}  checkerboard {row['checkerboard']:.3f}  "
              f"edge {row['edge_stripe']:.2f}"
              + (f"  baseline {row['baseline_accuracy']:.3f}  uplift {row['uplift']:+.3f} "
                 f"[{row['uplift_ci95'][0]:+.3f}, {row['uplift_ci95'][1]:+.3f}] p={row['p_value']:.3g}"
                 if args.repeats else "")
              + (f"  trained in {seconds:.0f} s" if seconds else ""), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
