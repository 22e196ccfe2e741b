from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from models.augmentation_report import ReportConfig, SyntheticSource, report_settings, run_report
from models.classification import ClassifierConfig, load_classifier
from models.errors import DataError
from models.monitor import Monitor, Progress, Stopped
from models.report_statistics import mean_ci, paired_uplift

RESOLUTION = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def noisy_stripes(label: int, count: int, seed: int) -> torch.Tensor:
    """Faint stripes (vertical for class 0, horizontal for class 1) of random period and phase in strong noise:
    two images per class are not enough to learn the task, fifty are."""
    gen = torch.Generator().manual_seed(seed)
    period = torch.randint(3, 7, (count, 1), generator=gen).float()
    phase = torch.rand(count, 1, generator=gen) * 6.3
    wave = torch.sin(2 * torch.pi * torch.arange(RESOLUTION).float()[None] / period + phase)
    wave = wave[:, None, :].expand(-1, RESOLUTION, -1)
    if label == 1:
        wave = wave.transpose(1, 2)
    images = 128 + 30 * wave + 60 * torch.randn(wave.shape, generator=gen)
    return images.round().clamp(0, 255).to(torch.uint8)[:, None]


def dataset(per_class: int | list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    counts = per_class if isinstance(per_class, list) else [per_class, per_class]
    images = torch.cat([noisy_stripes(c, n, seed * 10 + c) for c, n in enumerate(counts)])
    return images, torch.arange(2).repeat_interleave(torch.tensor(counts))


def stripes_source(label: int, count: int, seed: int) -> torch.Tensor:
    return noisy_stripes(label, count, 1000 + seed * 10 + label)  # never the seeds of the real sets


def noise_source(label: int, count: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(2000 + seed * 10 + label)
    return torch.randint(0, 256, (count, 1, RESOLUTION, RESOLUTION), dtype=torch.uint8, generator=gen)


def make_config(**overrides) -> ReportConfig:
    classifier = ClassifierConfig("small-cnn", ["vertical", "horizontal"], 1, RESOLUTION, epochs=10, batch_size=16)
    values = dict(classifier=classifier, synthetic_per_class=[0, 50], repeats=4, gradcam_samples=0)
    values.update(overrides)
    return ReportConfig(**values)


def run(config: ReportConfig, train_per_class: int | list[int], source: SyntheticSource, **kwargs):
    return run_report(config, dataset(train_per_class, seed=1), dataset(50, seed=2), source, **kwargs)


def decodes_as_png(data: bytes) -> bool:
    image = Image.open(io.BytesIO(data))
    image.verify()
    return image.format == "PNG"


def test_informative_synthetic_images_give_a_significant_uplift():
    result = run(make_config(), 2, stripes_source)
    baseline, with_synthetic = result.summary["settings"]
    assert baseline["key"] == result.summary["baseline"] == "real" and baseline["uplift"] is None
    assert with_synthetic["key"] == "real+50" and with_synthetic["train_images"] == 104
    uplift = with_synthetic["uplift"]["accuracy"]
    assert uplift["significant"] and uplift["p_value"] < 0.05 and uplift["ci95"][0] > 0
    assert with_synthetic["uplift"]["macro_f1"]["significant"]
    assert with_synthetic["accuracy"]["mean"] > 0.8
    runs = [with_synthetic["accuracy"]["runs"][i] - baseline["accuracy"]["runs"][i] for i in range(4)]
    assert uplift["mean"] == pytest.approx(sum(runs) / 4)


def test_noise_images_give_no_significant_uplift():
    result = run(make_config(classifier=ClassifierConfig("small-cnn", ["vertical", "horizontal"], 1, RESOLUTION,
                                                         epochs=5, batch_size=16)), 20, noise_source)
    uplift = result.summary["settings"][1]["uplift"]
    assert not uplift["accuracy"]["significant"] and not uplift["macro_f1"]["significant"]


def test_grid_counts_plots_and_gradcam():
    config = make_config(synthetic_per_class=[3], classical_augmentation=True, class_balance=True, repeats=2,
                         gradcam_samples=3,
                         classifier=ClassifierConfig("small-cnn", ["vertical", "horizontal"], 1, RESOLUTION,
                                                     epochs=1, batch_size=4))
    requests: list[tuple[int, int, int]] = []
    progress: list[Progress] = []

    def source(label: int, count: int, seed: int) -> torch.Tensor:
        requests.append((label, count, seed))
        return stripes_source(label, count, seed)

    result = run(config, [4, 2], source, monitor=Monitor(progress.append))
    summary = result.summary
    json.dumps(summary, allow_nan=False)
    rows = {row["key"]: row for row in summary["settings"]}
    assert list(rows) == ["real", "real+3", "real+aug", "real+3+aug",
                          "real+balanced", "real+3+balanced", "real+aug+balanced", "real+3+aug+balanced"]
    assert {key: row["train_images"] for key, row in rows.items()} == {
        "real": 6, "real+3": 12, "real+aug": 6, "real+3+aug": 12,
        "real+balanced": 8, "real+3+balanced": 14, "real+aug+balanced": 8, "real+3+aug+balanced": 14}
    assert rows["real+3+aug+balanced"]["classical_augmentation"] and rows["real+3+aug+balanced"]["balanced"]
    assert rows["real+balanced"]["synthetic_per_class"] == 0
    # Once per class and repeat, for the most any setting takes: class 1 is topped up by 2.
    assert sorted(requests) == [(0, 3, 0), (0, 3, 1), (1, 5, 0), (1, 5, 1)]
    for row in rows.values():
        assert len(row["accuracy"]["runs"]) == 2 and set(row["per_class"]) == {"vertical", "horizontal"}
        assert sum(map(sum, row["confusion"])) == 2 * 100
        assert all(0 <= row[m]["ci95"][0] <= row[m]["ci95"][1] <= 1 for m in ("accuracy", "macro_f1"))
        assert row["few_repeats"] and row["alias_of"] is None  # 2 repeats; class 1 has fewer images
    # Every batch of every training counts towards one total: batches of 4 over 6, 12, 6, 12, 8, 14, 8, 14
    # images are 2 + 3 + 2 + 3 + 2 + 4 + 2 + 4 = 22 a repeat.
    assert [(p.step, p.total) for p in progress] == [(i, 44) for i in range(1, 45)]
    assert progress[0].message == "repeat 1/2: real only"
    assert progress[-1].message == "repeat 2/2: real + 3 synthetic per class, classes balanced, classical augmentation"
    assert set(result.plots) == {"metrics.png", "per_class_recall.png"}
    assert all(decodes_as_png(png) for png in result.plots.values())
    assert set(result.gradcam) == set(rows)
    assert all(decodes_as_png(png) for png in result.gradcam.values())
    gradcam = Image.open(io.BytesIO(result.gradcam["real"]))  # 3 columns of 16 px images, padded by 2; labels
    assert gradcam.width >= 3 * 18 + 2 and gradcam.height > 2 * 18 + 2
    baseline_config, _ = load_classifier(result.baseline_classifier)
    assert baseline_config.seed == 0 and not baseline_config.classical_augmentation


def test_one_repeat_is_flagged_and_has_no_test():
    result = run(make_config(repeats=1, classifier=ClassifierConfig("small-cnn", ["vertical", "horizontal"], 1,
                                                                    RESOLUTION, epochs=1, batch_size=16)),
                 2, stripes_source)
    json.dumps(result.summary, allow_nan=False)
    row = result.summary["settings"][1]
    low, high = row["accuracy"]["ci95"]  # one repeat: the bootstrap resamples the test images only
    assert 0 <= low <= row["accuracy"]["mean"] <= high <= 1 and row["accuracy"]["std"] == 0
    assert row["few_repeats"] and "1 repeat:" in row["few_repeats_reason"]
    assert row["uplift"]["accuracy"]["p_value"] is None and not row["uplift"]["accuracy"]["significant"]


def test_statistics():
    values = [0.7, 0.8, 0.75, 0.9]
    resampled = np.linspace(0.6, 0.95, 101)
    summary = mean_ci(values, resampled)
    assert summary["mean"] == pytest.approx(0.7875) and summary["std"] == pytest.approx(stats.tstd(values))
    assert summary["ci95"] == pytest.approx(np.percentile(resampled, [2.5, 97.5]).tolist())

    def uplift(a: list[float], b: list[float]) -> dict:
        return paired_uplift(a, b, np.full(10, np.mean(a)), np.full(10, np.mean(b)))

    result = uplift([0.9, 0.95, 0.85, 0.9], [0.7, 0.8, 0.75, 0.9])
    assert result["p_value"] == pytest.approx(stats.ttest_rel([0.9, 0.95, 0.85, 0.9], [0.7, 0.8, 0.75, 0.9],
                                                              alternative="greater").pvalue)
    assert result["significant"]
    # Differences without spread: the sign test.
    assert uplift([1.0] * 5, [0.5] * 5) | {"test": None} == {
        "mean": 0.5, "ci95": [0.5, 0.5], "p_value": 0.5 ** 5, "significant": True, "test": None}
    assert not uplift([1.0] * 4, [0.5] * 4)["significant"]
    assert uplift([0.5] * 3, [0.5] * 3)["p_value"] == 1.0
    assert uplift([0.5, 0.6], [0.7, 0.9])["significant"] is False


def test_settings_always_start_with_the_baseline():
    settings = report_settings(make_config(synthetic_per_class=[100, 30]))
    assert [s.key for s in settings] == ["real", "real+30", "real+100"]


def test_bad_inputs_are_rejected():
    config = make_config(repeats=1)
    train = dataset(2, seed=1)
    empty = (torch.zeros((0, 1, RESOLUTION, RESOLUTION), dtype=torch.uint8), torch.zeros(0, dtype=torch.long))
    with pytest.raises(DataError, match="empty"):
        run_report(config, train, empty, stripes_source)
    with pytest.raises(DataError, match="without training images"):
        run_report(config, (train[0][:2], train[1][:2]), dataset(2, seed=2), stripes_source)
    for wrong in (lambda label, count, seed: noise_source(label, count, seed)[1:],
                  lambda label, count, seed: noise_source(label, count, seed).float(),
                  lambda label, count, seed: noise_source(label, count, seed).expand(-1, 3, -1, -1)):
        with pytest.raises(DataError, match="synthetic source"):
            run_report(config, train, dataset(2, seed=2), wrong)
    for bad in (dict(repeats=0), dict(synthetic_per_class=[]), dict(synthetic_per_class=[5, 5]),
                dict(synthetic_per_class=[-1]), dict(gradcam_samples=-1)):
        with pytest.raises(ValueError):
            make_config(**bad)


def test_stop():
    with pytest.raises(Stopped):
        run(make_config(repeats=1), 2, stripes_source, monitor=Monitor(should_stop=lambda: True))
