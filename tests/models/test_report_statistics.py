"""Report statistics that hold at every number of repeats, settings run once, and labelled grids."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.datasets import render_preview
from core.ingest import IngestedImage, IngestResult
from models.augmentation_report import ReportConfig, labelled_grid, run_report
from models.classification import ClassifierConfig, classification_metrics
from models.monitor import Monitor, Progress
from models.report_statistics import MIN_REPEATS, draw_resamples, mean_ci, paired_uplift, resampled_metrics

pytestmark = pytest.mark.usefixtures("one_thread")
RESOLUTION = 16


def separable(per_class: int, swap: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Dark images of class 0 and bright ones of class 1 (the other way round when swapped)."""
    images = torch.cat([torch.full((per_class, 1, RESOLUTION, RESOLUTION), 20, dtype=torch.uint8),
                        torch.full((per_class, 1, RESOLUTION, RESOLUTION), 235, dtype=torch.uint8)])
    labels = torch.arange(2).repeat_interleave(per_class)
    return images, 1 - labels if swap else labels


def separable_source(label: int, count: int, seed: int) -> torch.Tensor:
    return separable(count)[0][label * count:(label + 1) * count]


def config(repeats: int, **overrides) -> ReportConfig:
    classifier = ClassifierConfig("small-cnn", ["dark", "bright"], 1, RESOLUTION, epochs=15, batch_size=8,
                                  lr=1e-2)
    return ReportConfig(**{"classifier": classifier, "synthetic_per_class": [0, 4], "repeats": repeats,
                           "gradcam_samples": 0, **overrides})


def inside(interval: list[float], low: float, high: float) -> bool:
    return low <= interval[0] <= interval[1] <= high


@pytest.mark.parametrize("repeats", [2, 3, 10])
def test_intervals_stay_within_bounds_at_100_and_0_percent(repeats):
    for swap, accuracy in ((False, 1.0), (True, 0.0)):
        summary = run_report(config(repeats), separable(4), separable(5, swap), separable_source).summary
        assert summary["interval_method"].startswith("percentile bootstrap")
        for row in summary["settings"]:
            assert row["accuracy"]["runs"] == [accuracy] * repeats
            assert row["accuracy"]["ci95"] == [accuracy, accuracy]
            assert inside(row["macro_f1"]["ci95"], 0, 1)
            assert row["few_repeats"] == (repeats < MIN_REPEATS)
            assert (row["few_repeats_reason"] is None) == (repeats >= MIN_REPEATS)
        uplift = summary["settings"][1]["uplift"]
        assert uplift["setting"] == "real+4" and uplift["baseline"] == "real"
        assert uplift["accuracy"]["ci95"] == [0.0, 0.0]


@pytest.mark.parametrize("repeats", [2, 3, 10])
def test_bootstrap_intervals_of_spread_runs_stay_within_bounds(repeats):
    rng = np.random.default_rng(repeats)
    labels = rng.integers(0, 3, 12)
    draws = draw_resamples(repeats, len(labels), seed=0)
    perfect = np.tile(labels, (repeats, 1))
    wrong = (perfect + 1) % 3
    # Half the repeats near chance, half perfect: a t interval of this spread reaches far past [0, 1].
    mixed = np.where(np.arange(repeats)[:, None] % 2 == 0, rng.integers(0, 3, (repeats, 12)), perfect)
    resampled = {name: resampled_metrics(p, labels, 3, draws)
                 for name, p in (("perfect", perfect), ("wrong", wrong), ("mixed", mixed))}
    for name, predictions in (("perfect", perfect), ("wrong", wrong), ("mixed", mixed)):
        for metric in ("accuracy", "macro_f1"):
            runs = [classification_metrics(torch.eye(3)[torch.from_numpy(p)], torch.from_numpy(labels), 3)[metric]
                    for p in predictions]
            interval = mean_ci(runs, resampled[name][metric])
            assert inside(interval["ci95"], 0, 1) and interval["ci95"][0] <= interval["mean"] <= interval["ci95"][1]
            if name != "mixed":
                assert interval["ci95"] == ([1.0, 1.0] if name == "perfect" else [0.0, 0.0])
    for metric in ("accuracy", "macro_f1"):
        runs = {name: [classification_metrics(torch.eye(3)[torch.from_numpy(p)], torch.from_numpy(labels), 3)[metric]
                       for p in predictions] for name, predictions in (("wrong", wrong), ("mixed", mixed))}
        uplift = paired_uplift(runs["mixed"], runs["wrong"], resampled["mixed"][metric], resampled["wrong"][metric])
        assert inside(uplift["ci95"], -1, 1) and uplift["ci95"][0] > 0
        assert paired_uplift(runs["wrong"], runs["mixed"], resampled["wrong"][metric],
                             resampled["mixed"][metric])["ci95"][1] < 0


def test_resamples_are_seeded_and_unit_weights_give_the_run_metrics():
    assert np.array_equal(draw_resamples(3, 7, 1).images, draw_resamples(3, 7, 1).images)
    assert not np.array_equal(draw_resamples(3, 7, 1).images, draw_resamples(3, 7, 2).images)
    labels = np.array([0, 0, 1, 1, 1, 2])
    predictions = np.array([[0, 1, 1, 1, 0, 0], [0, 0, 1, 3, 1, 2]])  # class 3 is predicted but absent
    ones = draw_resamples(2, 6, 0)
    ones.repeats[:], ones.images[:] = 1, 1
    got = resampled_metrics(predictions, labels, 4, ones)
    runs = [classification_metrics(torch.eye(4)[torch.from_numpy(p)], torch.from_numpy(labels), 4) for p in predictions]
    for metric in ("accuracy", "macro_f1"):
        assert got[metric] == pytest.approx(np.full(len(got[metric]), np.mean([r[metric] for r in runs])))


def test_balancing_a_balanced_set_trains_each_distinct_setting_once():
    progress: list[Progress] = []
    result = run_report(config(2, class_balance=True, gradcam_samples=2, classifier=ClassifierConfig(
        "small-cnn", ["dark", "bright"], 1, RESOLUTION, epochs=1, batch_size=8)), separable(4), separable(3),
        separable_source, monitor=Monitor(progress.append))
    trainings = {p.message for p in progress}
    assert trainings == {f"repeat {r}/2: {what}" for r in (1, 2)
                         for what in ("real only", "real + 4 synthetic per class")}
    rows = {row["key"]: row for row in result.summary["settings"]}
    assert list(rows) == ["real", "real+4", "real+balanced", "real+4+balanced"]
    assert [row["alias_of"] for row in rows.values()] == [None, None, "real", "real+4"]
    for alias, same in (("real+balanced", "real"), ("real+4+balanced", "real+4")):
        for field in ("accuracy", "macro_f1", "confusion", "per_class", "train_images"):
            assert rows[alias][field] == rows[same][field]
        assert result.gradcam[alias] == result.gradcam[same]
    assert rows["real+4+balanced"]["uplift"]["setting"] == "real+4+balanced"
    # 2 repeats x 1 epoch x (1 batch of 8 + 2 batches of 16 images)
    assert progress[-1].step == progress[-1].total == 6


def strip_has_text(image: Image.Image, top: int) -> bool:
    strip = image.convert("L").crop((0, top, image.width, image.height))
    return strip.getextrema()[0] < 128  # dark glyphs on white


def test_gradcam_grid_is_labelled_with_true_and_predicted_class_and_probability():
    grid = Image.new("RGB", (2 * 10 + 2, 2 * 10 + 2), "gray")
    labelled = labelled_grid(grid, 10, ["dark", "bright"], [0, 1], [[0.9, 0.1], [0.7, 0.3]])
    assert labelled.height > grid.height and labelled.width > grid.width
    assert labelled.crop((0, 0, grid.width, grid.height)).tobytes() == grid.tobytes()
    assert strip_has_text(labelled, grid.height)
    red = np.asarray(labelled)[grid.height:]
    assert ((red[..., 0] > 200) & (red[..., 1] < 80)).any()  # the wrong prediction, in red
    relabelled = labelled_grid(grid, 10, ["dark", "bright"], [0, 1], [[0.9, 0.1], [0.2, 0.8]])
    assert relabelled.tobytes() != labelled.tobytes()
    assert labelled_grid(grid, 10, ["a", "b"], [0, 1], [[0.9, 0.1], [0.7, 0.3]]).tobytes() != labelled.tobytes()


def preview(tmp_path: Path, names: list[str]) -> Image.Image:
    images = []
    for name in names:
        path = tmp_path / f"{name}.png"
        Image.new("L", (32, 32), 128).save(path)
        images.append(IngestedImage(name, "a.png", path, "0" * 64, 32, 32, "L", f"{name}/a.png"))
    result = IngestResult(images, {name: 1 for name in names}, "L", (32, 32), (32, 32), "0" * 64, 0)
    return Image.open(io.BytesIO(render_preview(result)))


def test_preview_rows_name_their_class(tmp_path):
    grid = preview(tmp_path, ["crazing", "scratches"])
    label_width = grid.width - 8 * 64
    assert label_width > 0 and grid.height == 2 * 64
    for row in range(2):
        assert grid.crop((0, row * 64, label_width, row * 64 + 64)).getbbox()  # white text on black
        assert grid.crop((label_width, row * 64, label_width + 32, row * 64 + 32)).getextrema() == (128, 128)
    renamed = preview(tmp_path, ["crazing", "inclusion"])
    assert renamed.crop((0, 64, label_width, 128)).tobytes() != grid.crop((0, 64, label_width, 128)).tobytes()
