"""The diversity metric and its collapse flag, on plain feature sets and through evaluate()."""
from __future__ import annotations

import json

import pytest
import torch

from models.metrics import FeatureSet, evaluate
from models.metrics.builtin.diversity import COLLAPSE_THRESHOLD, diversity, pixel_spread_ratio, spread_ratio
from tests.models.test_metrics_evaluate import CLASSES, pixels, smooth

pytestmark = pytest.mark.usefixtures("one_thread")


def features(x: torch.Tensor, labels: torch.Tensor | None = None) -> FeatureSet:
    return FeatureSet.from_features(x, backbone="test", backbone_fingerprint="0" * 64, labels=labels,
                                    class_names=CLASSES if labels is not None else None)


def two_classes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 around the origin, class 1 around (10, ..., 10) and twice as spread."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n, 8, generator=g, dtype=torch.float64)
    labels = torch.arange(2).repeat_interleave(n)
    return torch.where(labels[:, None] == 0, x, 10 + 2 * x), labels


def test_real_against_real_scores_about_one_and_is_not_flagged():
    real, real_labels = two_classes(200, seed=1)
    other, other_labels = two_classes(60, seed=2)
    out = diversity(features(real, real_labels), features(other, other_labels))
    assert out["diversity"] == pytest.approx(1.0, abs=0.1)
    assert set(out["per_class"]) == set(CLASSES)
    assert all(v == pytest.approx(1.0, abs=0.15) for v in out["per_class"].values())
    assert out["collapsed"] is False and out["collapsed_classes"] == [] and out["threshold"] == COLLAPSE_THRESHOLD
    assert out["min"] == min(out["per_class"].values())


def test_a_collapsed_generator_scores_zero_and_is_flagged():
    real, real_labels = two_classes(50, seed=1)
    same = torch.tensor([[0.3] * 8, [10.0] * 8], dtype=torch.float64).repeat_interleave(20, 0)
    out = diversity(features(real, real_labels), features(same, torch.arange(2).repeat_interleave(20)))
    assert out["diversity"] == 0.0 and out["collapsed"] is True and out["collapsed_classes"] == CLASSES
    # unlabelled (an unconditional generator): one ratio over all images
    flat = diversity(features(real), features(same[:1].expand(30, -1)))
    assert flat["diversity"] == 0.0 and flat["collapsed"] is True and flat["per_class"] == {}


def test_one_collapsed_class_is_listed_and_the_headline_is_the_mean():
    real, real_labels = two_classes(50, seed=1)
    fake, fake_labels = two_classes(30, seed=3)
    fake[fake_labels == 1] = 10.0
    out = diversity(features(real, real_labels), features(fake, fake_labels))
    assert out["per_class"]["scratches"] == 0.0 and out["collapsed_classes"] == ["scratches"]
    assert out["diversity"] == pytest.approx(out["per_class"]["crazing"] / 2) and out["min"] == 0.0


def test_equal_counts_and_seeded_draws():
    real, _ = two_classes(100, seed=1)
    fake, _ = two_classes(5, seed=2)
    assert spread_ratio(fake, real, seed=4) == spread_ratio(fake, real, seed=4)
    g = torch.Generator().manual_seed(4)
    real_draw = real[torch.randperm(len(real), generator=g)[:10]]
    fake_draw = fake[torch.randperm(len(fake), generator=g)[:10]]
    assert spread_ratio(fake, real, seed=4) == pytest.approx(
        (torch.pdist(fake_draw).mean() / torch.pdist(real_draw).mean()).item())
    assert spread_ratio(fake[:1], real) is None and spread_ratio(fake, real[:1].expand(5, -1)) is None


def test_pixel_spread():
    images = smooth(12, seed=1)
    assert pixel_spread_ratio(images[:1].expand(8, -1, -1, -1), images) == 0.0
    assert pixel_spread_ratio(smooth(12, seed=2), images) == pytest.approx(1.0, abs=0.3)


def test_evaluate_reports_diversity_per_class_beside_recall():
    backbone = pixels(4)
    real = torch.cat([smooth(10, seed=1), 255 - smooth(10, seed=2)])
    real_labels = torch.tensor([0] * 10 + [1] * 10)
    fake = torch.cat([smooth(6, seed=3), (255 - smooth(1, seed=4)).expand(8, -1, -1, -1)])
    fake_labels = torch.tensor([0] * 6 + [1] * 8)
    out = evaluate(backbone, real, real_labels, fake, fake_labels, ["recall", "diversity"], CLASSES)
    json.dumps(out, allow_nan=False)
    overall = out["metrics"]["diversity"]
    assert overall["per_class"]["scratches"] == 0.0 and overall["collapsed_classes"] == ["scratches"]
    for name in CLASSES:
        entry = out["per_class"][name]
        assert set(entry) == {"num_real", "num_fake", "recall", "diversity"}
        assert entry["diversity"]["diversity"] == overall["per_class"][name]
    assert out["per_class"]["scratches"]["diversity"]["collapsed"] is True
    assert out["per_class"]["crazing"]["diversity"]["collapsed"] is False
