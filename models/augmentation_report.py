"""Augmentation report: does adding synthetic images to the real training set help a classifier?

Every setting of a grid (real only, real + n synthetic images per class, optionally with classical augmentation
and/or class balancing) trains a classifier from scratch and is evaluated on the same real test set. Repeat r
trains every setting with seed ``config.seed + r`` and the same synthetic images, so that settings are compared
pairwise per repeat (a paired design): the uplift over the real-only baseline is the mean paired difference with
a paired bootstrap interval and a one-sided paired t-test (alternative: the setting is better); see
models.report_statistics. Settings that are identical by construction (class balancing of a balanced training
set) are trained once and reported as aliases of the first setting they equal.
"""
from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
import torchvision.utils
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from models.checkpoint import CheckpointError
from models.classification import (
    ClassifierConfig,
    batches_per_epoch,
    check_images,
    classification_metrics,
    predict_proba,
    resize_images,
    save_classifier,
    train_classifier,
)
from models.classifiers import gradcam_target_layer
from models.config import is_int
from models.data import to_training_range
from models.errors import DataError
from models.labels import LINE_HEIGHT, MARGIN, draw_text, text_width
from models.monitor import SILENT, Monitor
from models.report_state import FinishedRun, ReportState
from models.report_statistics import (
    INTERVAL_METHOD,
    draw_resamples,
    few_repeats,
    mean_ci,
    paired_uplift,
    resampled_metrics,
)

# (class_index, count, seed) -> uint8 [count, C, R, R] at the classifier's channels and resolution.
SyntheticSource = Callable[[int, int, int], torch.Tensor]
GRID_PADDING = 2


@dataclass
class ReportConfig:
    classifier: ClassifierConfig  # its seed and classical_augmentation are set per setting and repeat
    synthetic_per_class: list[int] = field(default_factory=lambda: [0, 100, 300])
    classical_augmentation: bool = False
    class_balance: bool = False
    repeats: int = 3
    seed: int = 0
    gradcam_samples: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.classifier, ClassifierConfig):
            raise ValueError("classifier must be a ClassifierConfig")
        counts = self.synthetic_per_class
        if (not isinstance(counts, list) or not counts or len(set(counts)) != len(counts)
                or not all(is_int(n) and n >= 0 for n in counts)):
            raise ValueError("synthetic_per_class must be a non-empty list of distinct ints >= 0")
        for name in ("repeats", "seed", "gradcam_samples"):
            if not is_int(getattr(self, name)):
                raise ValueError(f"{name} must be an int, got {getattr(self, name)!r}")
        if self.repeats < 1 or self.seed < 0 or self.gradcam_samples < 0:
            raise ValueError("repeats must be >= 1, seed and gradcam_samples >= 0")
        if not isinstance(self.classical_augmentation, bool) or not isinstance(self.class_balance, bool):
            raise ValueError("classical_augmentation and class_balance must be bools")


@dataclass(frozen=True)
class Setting:
    synthetic_per_class: int
    classical_augmentation: bool
    balanced: bool

    @property
    def key(self) -> str:
        parts = ["real"] + ([str(self.synthetic_per_class)] if self.synthetic_per_class else [])
        return "+".join(parts + ["aug"] * self.classical_augmentation + ["balanced"] * self.balanced)

    @property
    def label(self) -> str:
        n = self.synthetic_per_class
        text = f"real + {n} synthetic per class" if n else "real only"
        if self.balanced:
            text += ", classes balanced"
        if self.classical_augmentation:
            text += ", classical augmentation"
        return text

    def synthetic_counts(self, class_counts: list[int]) -> list[int]:
        """Synthetic images per class: n, plus the top-up to the largest real class when balanced."""
        largest = max(class_counts)
        return [self.synthetic_per_class + (largest - count if self.balanced else 0) for count in class_counts]


@dataclass
class ReportResult:
    summary: dict[str, Any]
    baseline_classifier: bytes  # the real-only classifier of repeat 0 (save_classifier)
    gradcam: dict[str, bytes]  # setting key -> PNG: test images, Grad-CAM of their true class, then their labels

    @cached_property
    def plots(self) -> dict[str, bytes]:
        """"metrics.png" and "per_class_recall.png", drawn when asked for (a sweep's rung needs only figures)."""
        return _plots(self.summary)


def report_settings(config: ReportConfig) -> list[Setting]:
    """The grid; the real-only baseline (n=0, no augmentation, unbalanced) always comes first."""
    counts = sorted({0, *config.synthetic_per_class})
    return [Setting(n, aug, balanced)
            for balanced in [False] + [True] * config.class_balance
            for aug in [False] + [True] * config.classical_augmentation
            for n in counts]


def distinct_settings(settings: list[Setting], class_counts: list[int]) -> dict[Setting, Setting]:
    """Each setting -> the first setting that trains on the same images in the same way (itself if none)."""
    first: dict[tuple[tuple[int, ...], bool], Setting] = {}
    return {s: first.setdefault((tuple(s.synthetic_counts(class_counts)), s.classical_augmentation), s)
            for s in settings}


def run_report(config: ReportConfig, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
               synthetic: SyntheticSource, *, monitor: Monitor = SILENT,
               init_weights: Mapping[str, torch.Tensor] | None = None, resume: ReportState | None = None,
               on_finished: Callable[[ReportState], None] | None = None) -> ReportResult:
    """Train and evaluate every setting `config.repeats` times; see the module docstring. Every classifier
    starts from `init_weights` when given (models.classification.init_from).

    train and test are (uint8 images [N, C, R, R], long labels [N]); they are resized to the classifier's
    resolution and channels if they differ. Every training batch counts towards one total reported to
    `monitor`, under a message naming the repeat and setting; a stop request raises models.monitor.Stopped from
    inside a training. DataError for sets or synthetic images that cannot be used.

    `on_finished` gets the state after each finished (repeat, setting); a later call with that state as `resume`
    (same config and data) trains only the rest, and its result equals an uninterrupted run's, since every
    training depends on its seed alone. CheckpointError for a `resume` state that does not fit this report.
    """
    classifier = config.classifier
    train_images, train_labels = _prepared(train, classifier, "train")
    test_images, test_labels = _prepared(test, classifier, "test")
    class_counts = torch.bincount(train_labels, minlength=classifier.num_classes).tolist()
    absent = [classifier.class_names[c] for c in test_labels.unique().tolist() if class_counts[c] == 0]
    if absent:
        raise DataError(f"test set has classes without training images: {absent}")
    settings = report_settings(config)
    same_as = distinct_settings(settings, class_counts)
    trained = [s for s in settings if same_as[s] == s]
    sizes = {s: len(train_images) + sum(s.synthetic_counts(class_counts)) for s in settings}

    def cost(setting: Setting) -> int:
        return classifier.epochs * batches_per_epoch(sizes[setting], classifier.batch_size)

    total = config.repeats * sum(cost(s) for s in trained)
    needed = [max(s.synthetic_counts(class_counts)[c] for s in settings) for c in range(classifier.num_classes)]
    gradcam_index = _spread_over_classes(test_labels, config.gradcam_samples)

    state = resume.copy() if resume else ReportState()
    finished = _check_resume(state, config.repeats, trained, len(test_images))
    by_key = {s.key: s for s in trained}
    done = sum(cost(by_key[key]) for _, key in finished)
    if finished:
        monitor.report(done, total, f"resumed: {len(finished)} of {config.repeats * len(trained)} trainings done")
    for repeat in range(config.repeats):
        todo = [s for s in trained if (repeat, s.key) not in finished]
        if not todo:
            continue
        pool = [_synthetic_pool(synthetic, c, n, config.seed + repeat, classifier) for c, n in enumerate(needed)]
        for setting in todo:
            images, labels = _training_set(train_images, train_labels, pool, setting.synthetic_counts(class_counts))
            run_config = dataclasses.replace(classifier, seed=config.seed + repeat,
                                             classical_augmentation=setting.classical_augmentation)
            what = f"repeat {repeat + 1}/{config.repeats}: {setting.label}"
            model = train_classifier(run_config, images, labels, monitor=monitor.part(done, total, what),
                                     init_weights=init_weights)
            done += cost(setting)
            probs = predict_proba(model, test_images, classifier.device)
            run = FinishedRun(repeat, setting.key, classification_metrics(probs, test_labels, classifier.num_classes),
                              probs.argmax(dim=1).cpu().numpy())
            state.finished.append(run)
            finished[(repeat, setting.key)] = run
            if repeat == 0:
                if setting == settings[0]:
                    state.baseline_classifier = save_classifier(run_config, model)
                if len(gradcam_index):
                    state.gradcam[setting.key] = _gradcam_png(run_config, model, test_images[gradcam_index],
                                                              test_labels[gradcam_index], probs[gradcam_index].cpu())
            if on_finished is not None:
                on_finished(state)

    runs = {s: [finished[(r, s.key)].metrics for r in range(config.repeats)] for s in trained}
    draws = draw_resamples(config.repeats, len(test_images), config.seed)
    truth = test_labels.cpu().numpy()
    resampled = {s: resampled_metrics(np.stack([finished[(r, s.key)].predictions for r in range(config.repeats)]),
                                      truth, classifier.num_classes, draws)
                 for s in trained}
    gradcam = dict(state.gradcam)
    for setting in settings:
        if setting.key not in gradcam and same_as[setting].key in gradcam:
            gradcam[setting.key] = gradcam[same_as[setting].key]
    summary = _summary(config, settings, same_as, runs, resampled, sizes, len(test_images))
    return ReportResult(summary, state.baseline_classifier, gradcam)


def _check_resume(state: ReportState, repeats: int, trained: list[Setting],
                  test_size: int) -> dict[tuple[int, str], FinishedRun]:
    """(repeat, setting key) -> its finished run; CheckpointError unless every run belongs to this report."""
    keys = {s.key for s in trained}
    finished: dict[tuple[int, str], FinishedRun] = {}
    for run in state.finished:
        where = (run.repeat, run.setting)
        if not 0 <= run.repeat < repeats or run.setting not in keys or where in finished \
                or run.predictions.shape != (test_size,):
            raise CheckpointError(f"report checkpoint does not fit this report: run {where}")
        finished[where] = run
    if any(r == 0 and key == trained[0].key for r, key in finished) != bool(state.baseline_classifier):
        raise CheckpointError("report checkpoint does not fit this report: baseline classifier")
    return finished


def _prepared(data: tuple[torch.Tensor, torch.Tensor], classifier: ClassifierConfig,
              what: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = data
    check_images(images, None, None, f"{what} images")
    if len(images) == 0:
        raise DataError(f"the {what} set is empty")
    if labels.dtype != torch.long or tuple(labels.shape) != (len(images),):
        raise DataError(f"{what} labels must be a long tensor [{len(images)}], got {labels.dtype} "
                        f"{tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= classifier.num_classes:
        raise DataError(f"{what} labels must be in [0, {classifier.num_classes})")
    return resize_images(images, classifier.resolution, classifier.channels), labels


def _synthetic_pool(synthetic: SyntheticSource, class_index: int, count: int, seed: int,
                    classifier: ClassifierConfig) -> torch.Tensor:
    """The most images any setting takes for this class and repeat; settings take a prefix of it."""
    shape = (count, classifier.channels, classifier.resolution, classifier.resolution)
    if count == 0:
        return torch.empty(shape, dtype=torch.uint8)
    images = synthetic(class_index, count, seed)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or tuple(images.shape) != shape:
        got = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise DataError(f"synthetic source returned {got} for class {class_index}; expected uint8 {list(shape)}")
    return images


def _training_set(images: torch.Tensor, labels: torch.Tensor, pool: list[torch.Tensor],
                  counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    extra = [pool[c][:n] for c, n in enumerate(counts)]
    extra_labels = [torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)]
    return torch.cat([images, *extra]), torch.cat([labels, *extra_labels])


def _spread_over_classes(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of `count` test images taking classes in turn: the first of each class, then the second..."""
    rank = torch.empty_like(labels)
    for c in labels.unique():
        members = (labels == c).nonzero().flatten()
        rank[members] = torch.arange(len(members))
    order = torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)
    return order[:count]


def _summary(config: ReportConfig, settings: list[Setting], same_as: dict[Setting, Setting],
             runs: dict[Setting, list[dict[str, Any]]], resampled: dict[Setting, dict[str, np.ndarray]],
             sizes: dict[Setting, int], test_size: int) -> dict[str, Any]:
    class_names = config.classifier.class_names
    base = settings[0]
    baseline = runs[base]
    too_few = few_repeats(config.repeats)
    rows = []
    for setting in settings:
        results, draws = runs[same_as[setting]], resampled[same_as[setting]]
        row: dict[str, Any] = {
            "key": setting.key, "label": setting.label, "synthetic_per_class": setting.synthetic_per_class,
            "classical_augmentation": setting.classical_augmentation, "balanced": setting.balanced,
            "train_images": sizes[setting],
            "alias_of": None if same_as[setting] == setting else same_as[setting].key,
            "few_repeats": too_few is not None, "few_repeats_reason": too_few,
        }
        for metric in ("accuracy", "macro_f1"):
            row[metric] = mean_ci([r[metric] for r in results], draws[metric])
        row["per_class"] = {name: {kind: float(np.mean([r[kind][c] for r in results]))
                                   for kind in ("precision", "recall")}
                            for c, name in enumerate(class_names)}
        row["confusion"] = np.sum([r["confusion"] for r in results], axis=0).tolist()
        row["uplift"] = None if setting == base else {
            "setting": setting.key, "baseline": base.key,
            **{metric: paired_uplift([r[metric] for r in results], [r[metric] for r in baseline],
                                     draws[metric], resampled[base][metric])
               for metric in ("accuracy", "macro_f1")}}
        rows.append(row)
    return {"classes": list(class_names), "classifier": config.classifier.architecture, "repeats": config.repeats,
            "test_images": test_size, "baseline": base.key, "interval_method": INTERVAL_METHOD,
            "settings": rows}


def _gradcam_png(config: ClassifierConfig, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 probs: torch.Tensor) -> bytes:
    x = to_training_range(images).to(config.device)
    with GradCAM(model=model, target_layers=[gradcam_target_layer(config.architecture, model)]) as cam:
        heatmaps = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(label)) for label in labels])
    rgb = images.expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()
    overlays = np.stack([show_cam_on_image(image.astype(np.float32) / 255, heatmap, use_rgb=True)
                         for image, heatmap in zip(rgb, heatmaps)])
    rows = torch.from_numpy(np.concatenate([rgb, overlays])).permute(0, 3, 1, 2)
    grid = torchvision.utils.make_grid(rows, nrow=len(images), padding=GRID_PADDING)
    grid_image = Image.fromarray(grid.permute(1, 2, 0).numpy())
    return _png(labelled_grid(grid_image, config.resolution + GRID_PADDING, config.class_names,
                              labels.tolist(), probs.tolist()))


def labelled_grid(grid: Image.Image, column_width: int, class_names: list[str], labels: list[int],
                  probs: list[list[float]]) -> Image.Image:
    """`grid` with each column's number under it, then a line per column: its true class, the predicted class
    and that prediction's probability, red where the prediction is wrong."""
    lines = []
    for i, (label, p) in enumerate(zip(labels, probs)):
        predicted = int(np.argmax(p))
        lines.append((f"{i + 1}: true {class_names[label]}, predicted {class_names[predicted]} "
                      f"(p={p[predicted]:.2f})", "black" if predicted == label else "red"))
    width = max(grid.width, 2 * MARGIN + max(text_width(text) for text, _ in lines))
    canvas = Image.new("RGB", (width, grid.height + LINE_HEIGHT * (len(lines) + 1) + MARGIN), "white")
    canvas.paste(grid, (0, 0))
    for i, (text, colour) in enumerate(lines):
        draw_text(canvas, (GRID_PADDING + i * column_width, grid.height + 1), str(i + 1), "black")
        draw_text(canvas, (MARGIN, grid.height + LINE_HEIGHT * (i + 1) + 1), text, colour)
    return canvas


def _plots(summary: dict[str, Any]) -> dict[str, bytes]:
    return {"metrics.png": _metrics_plot(summary), "per_class_recall.png": _recall_plot(summary)}


def _metrics_plot(summary: dict[str, Any]) -> bytes:
    figure = Figure(figsize=(10, 5), layout="constrained")
    FigureCanvasAgg(figure)
    variants: dict[str, list[dict[str, Any]]] = {}
    for row in summary["settings"]:
        name = ", ".join(["classical augmentation"] * row["classical_augmentation"]
                         + ["classes balanced"] * row["balanced"]) or "real + synthetic"
        variants.setdefault(name, []).append(row)
    # Variants share their x values: shift each a little so that their error bars do not hide each other.
    dodge = 0.012 * max(max(row["synthetic_per_class"] for row in summary["settings"]), 1)
    for ax, metric, title in zip(figure.subplots(1, 2), ("accuracy", "macro_f1"), ("Accuracy", "Macro F1")):
        for i, (name, rows) in enumerate(variants.items()):
            x = np.array([row["synthetic_per_class"] for row in rows]) + (i - (len(variants) - 1) / 2) * dodge
            mean = np.array([row[metric]["mean"] for row in rows])
            low, high = np.array([row[metric]["ci95"] for row in rows]).T
            ax.errorbar(x, mean, yerr=[mean - low, high - mean], marker="o", capsize=4, label=name)
        bottom, top = ax.get_ylim()
        ax.set_ylim(max(bottom, 0.0), min(top, 1.05))
        ax.set(title=f"{title} (mean, 95% bootstrap CI, {summary['repeats']} repeats)",
               xlabel="synthetic images per class",
               ylabel=title)
        ax.grid(alpha=0.3)
    figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return _figure_png(figure)


def _recall_plot(summary: dict[str, Any]) -> bytes:
    classes, rows = summary["classes"], summary["settings"]
    figure = Figure(figsize=(max(8.0, 2 + 0.3 * len(classes) * len(rows)), 5 + 0.15 * len(rows)),
                    layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    width = 0.8 / len(rows)
    positions = np.arange(len(classes))
    palette = colormaps["tab10" if len(rows) <= 10 else "tab20"]
    for i, row in enumerate(rows):
        recall = [row["per_class"][name]["recall"] for name in classes]
        ax.bar(positions + (i - (len(rows) - 1) / 2) * width, recall, width, label=row["label"],
               color=palette(i % palette.N))
    ax.set_xticks(positions, classes, rotation=20, ha="right", rotation_mode="anchor")
    ax.set(ylim=(0, 1.05), ylabel="recall (mean over repeats)", title="Per-class recall on the test set")
    figure.legend(fontsize="small", loc="outside lower center", ncols=2)
    return _figure_png(figure)


def _figure_png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
