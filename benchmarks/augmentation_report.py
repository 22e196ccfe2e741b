"""Wall time of a full augmentation report on the built-in procedural sample set (core.sample_data).

Real training and test images come from two sample archives of different seeds; the "synthetic" images are a
third, held-out archive (no trained generator exists here), so the report measures an ideal generator. Settings
are the ReportConfig / ClassifierConfig defaults unless overridden. The reference, measured in the same run, is
one real-only classifier training plus its test-set evaluation (best of 3), i.e. the smallest unit of the report;
the report's time is printed as a multiple of it. On a CPU shared with other processes, --threads 1 gives steadier
times (two threads of tiny kernels stall badly when a third process competes for the cores).

Run: .venv/bin/python benchmarks/augmentation_report.py [--per-class 20] [--test-per-class 30] [--epochs 10]
     [--repeats 3] [--synthetic 0 100 300] [--classifier small-cnn] [--size 64] [--out DIR]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.sample_data import NEU_CLASSES, write_sample_archive  # noqa: E402
from models.augmentation_report import ReportConfig, run_report  # noqa: E402
from models.classification import ClassifierConfig, predict_proba, train_classifier  # noqa: E402
from models.data import images_to_tensor  # noqa: E402


def sample_set(per_class: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    archive = io.BytesIO()
    write_sample_archive(archive, per_class=per_class, size=size, seed=seed)
    with zipfile.ZipFile(archive) as zf:
        names = sorted(zf.namelist())
        images = [Image.open(io.BytesIO(zf.read(name))) for name in names]
    labels = torch.tensor([NEU_CLASSES.index(name.split("/")[0]) for name in names])
    return images_to_tensor(images, size, 1), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=20, help="real training images per class")
    parser.add_argument("--test-per-class", type=int, default=30)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--classifier", default="small-cnn")
    parser.add_argument("--epochs", type=int, help="default: ClassifierConfig's")
    parser.add_argument("--repeats", type=int, help="default: ReportConfig's")
    parser.add_argument("--synthetic", type=int, nargs="+", help="synthetic images per class; default: ReportConfig's")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="write summary.json, the plots and the Grad-CAM grids here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    classifier = ClassifierConfig(args.classifier, list(NEU_CLASSES), 1, args.size,
                                  **({"epochs": args.epochs} if args.epochs else {}))
    config = ReportConfig(classifier, **{k: v for k, v in (("repeats", args.repeats),
                                                             ("synthetic_per_class", args.synthetic)) if v})
    start = time.perf_counter()
    train = sample_set(args.per_class, args.size, seed=0)
    test = sample_set(args.test_per_class, args.size, seed=1)
    pool_images, pool_labels = sample_set(max(config.synthetic_per_class), args.size, seed=2)
    pools = [pool_images[pool_labels == c] for c in range(len(NEU_CLASSES))]
    data_seconds = time.perf_counter() - start

    def held_out(class_index: int, count: int, seed: int) -> torch.Tensor:
        order = torch.randperm(len(pools[class_index]), generator=torch.Generator().manual_seed(seed))
        return pools[class_index][order[:count]]

    train_classifier(classifier, *train)  # warm-up
    single_seconds = float("inf")
    for _ in range(3):  # best of 3: the reference is short, and one slow moment would skew the ratio
        start = time.perf_counter()
        predict_proba(train_classifier(classifier, *train), test[0])
        single_seconds = min(single_seconds, time.perf_counter() - start)

    start = time.perf_counter()
    result = run_report(config, train, test, held_out)
    report_seconds = time.perf_counter() - start

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(NEU_CLASSES)} classes, "
          f"{args.per_class} real training + {args.test_per_class} test images per class, 1x{args.size}x{args.size}; "
          f"{classifier.architecture}, {classifier.epochs} epochs, batch {classifier.batch_size}; "
          f"synthetic per class {config.synthetic_per_class}, {config.repeats} repeats, "
          f"{config.gradcam_samples} Grad-CAM samples")
    print(f"  sample images rendered in {data_seconds:.1f} s (not part of either time)")
    print(f"  reference, one real-only training + evaluation (best of 3): {single_seconds:.2f} s")
    print(f"  report: {report_seconds:.1f} s = {report_seconds / single_seconds:.1f}x the reference")
    for row in result.summary["settings"]:
        accuracy, f1 = row["accuracy"], row["macro_f1"]
        uplift = row["uplift"]["accuracy"] if row["uplift"] else None
        print(f"  {row['key']:<22}train {row['train_images']:>5}  accuracy {accuracy['mean']:.3f} "
              f"[{accuracy['ci95'][0]:.3f}, {accuracy['ci95'][1]:.3f}]  macro-F1 {f1['mean']:.3f}"
              + (f"  uplift {uplift['mean']:+.3f} p={uplift['p_value']}" if uplift else "  (baseline)"))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.json").write_text(json.dumps(result.summary, indent=1, allow_nan=False))
        for name, png in {**result.plots, **{f"gradcam-{k}.png": v for k, v in result.gradcam.items()}}.items():
            (args.out / name).write_bytes(png)


if __name__ == "__main__":
    main()
