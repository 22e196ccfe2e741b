"""The registry, evaluate() and TorchScript domain backbones, on a tiny scripted "pixel" backbone (fast)."""
from __future__ import annotations

import io
import json
import warnings

import pytest
import torch
import torch.nn.functional as F

from models.metrics import (
    FeatureSet,
    MetricsError,
    evaluate,
    extract_feature_set,
    get_metric,
    load_torchscript,
    metric_names,
    register,
)
from models.metrics.builtin.kid import kernel_inception_distance
from models.metrics.frechet import frechet_distance_from_features
from models.metrics.registry import NEEDS, Metric
from models.monitor import Monitor, Progress, Stopped

CLASSES = ["crazing", "scratches"]


class Pixels(torch.nn.Module):
    """Average-pooled pixels as features: [N, C, H, W] uint8 -> [N, C * size * size]."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x.float() / 255.0, self.size).flatten(1)


class BadShape(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean(dim=(1, 2, 3))


def scripted(module: torch.nn.Module) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()


def pixels(size: int = 4, in_channels: int = 1):
    return load_torchscript(scripted(Pixels(size)), name=f"pixels{size}", in_channels=in_channels)


def smooth(n: int, seed: int, channels: int = 1, size: int = 32) -> torch.Tensor:
    """Random smooth images (bicubic-upsampled 4x4 noise), uint8 [n, channels, size, size]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, channels, 4, 4, generator=g)
    return (F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1) * 255
            ).round().to(torch.uint8)


def jitter(images: torch.Tensor, seed: int, amount: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    noise = torch.randint(-amount, amount + 1, images.shape, generator=g)
    return (images.int() + noise).clamp(0, 255).to(torch.uint8)


def test_registry():
    assert metric_names() == ["diversity", "fid", "is", "kid", "memorisation", "precision", "recall", "sifid"]
    for name in metric_names():
        metric = get_metric(name)
        assert metric.name == name and metric.needs <= NEEDS
    assert [n for n in metric_names() if get_metric(n).per_class] == ["diversity", "fid", "kid", "precision", "recall"]
    with pytest.raises(KeyError, match="unknown metric"):
        get_metric("lpips")

    class Impostor(Metric):
        name = "fid"
        needs = frozenset({"fake"})

        def compute(self, inputs, **options):
            return {}

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    assert type(get_metric("fid")).__name__ == "FrechetInceptionDistance"


def test_memorisation_flags_copies_and_not_unrelated_images():
    backbone = pixels(8)
    real = smooth(24, seed=1)
    copies = jitter(real[:12], seed=2)
    unrelated = smooth(12, seed=3)

    copied = evaluate(backbone, real, None, copies, None, ["memorisation"])["metrics"]["memorisation"]
    assert copied["flagged"] is True and copied["near_copy_fraction"] == 1.0 and copied["near_copies"] == 12
    assert copied["nn_ratio_median"] < 0.1
    assert {e["real"] for e in copied["near_copy_examples"]} <= set(range(12))
    assert all(e["fake"] == e["real"] for e in copied["near_copy_examples"])

    fresh = evaluate(backbone, real, None, unrelated, None, ["memorisation"])["metrics"]["memorisation"]
    assert fresh["flagged"] is False and fresh["near_copy_fraction"] == 0.0 and fresh["near_copy_examples"] == []
    assert fresh["nn_ratio_median"] > 0.5
    assert fresh["real_near_copy_fraction"] == 0.0 and fresh["num_real"] == 24 and fresh["num_fake"] == 12

    # a few copies among new images: counted, flagged only above the allowed fraction
    mixed = torch.cat([unrelated, copies[:2]])
    result = evaluate(backbone, real, None, mixed, None, ["memorisation"],
                      options={"memorisation": {"max_near_copy_fraction": 0.2}})["metrics"]["memorisation"]
    assert result["near_copies"] == 2 and result["flagged"] is False
    assert {e["fake"] for e in result["near_copy_examples"]} == {12, 13}


def test_overall_and_per_class_results():
    backbone = pixels(4)
    real = torch.cat([smooth(10, seed=1), 255 - smooth(10, seed=2)])
    real_labels = torch.tensor([0] * 10 + [1] * 10)
    fake = torch.cat([smooth(6, seed=3), 255 - smooth(8, seed=4)])
    fake_labels = torch.tensor([0] * 6 + [1] * 8)
    out = evaluate(backbone, real, real_labels, fake, fake_labels, ["fid", "kid", "precision", "recall"], CLASSES)
    json.dumps(out, allow_nan=False)

    assert out["backbone"] == "pixels4" and out["backbone_fingerprint"] == backbone.fingerprint
    assert (out["num_real"], out["num_fake"], out["feature_dim"]) == (20, 14, 16)
    metrics = out["metrics"]
    assert set(metrics) == {"fid", "kid", "precision", "recall"}
    assert all(m["backbone"] == "pixels4" and m["num_real"] == 20 and m["num_fake"] == 14 for m in metrics.values())
    real_f, fake_f = backbone.features(real), backbone.features(fake)
    assert metrics["fid"]["fid"] == pytest.approx(frechet_distance_from_features(real_f, fake_f), rel=1e-12)
    assert metrics["fid"]["rank_deficient"] is True  # 14 fake samples: covariance rank 13 < 16 dims
    assert metrics["kid"]["kid"] == pytest.approx(
        kernel_inception_distance(fake_f, real_f, subset_size=14)["kid"], rel=1e-12)
    assert metrics["kid"]["subset_size"] == 14 and metrics["kid"]["num_subsets"] == 100
    assert 0 <= metrics["precision"]["precision"] <= 1 and 0 <= metrics["recall"]["recall"] <= 1

    assert set(out["per_class"]) == set(CLASSES)
    for index, name in enumerate(CLASSES):
        entry = out["per_class"][name]
        assert set(entry) == {"num_real", "num_fake", "fid", "kid", "precision", "recall"}
        r, f = real_f[real_labels == index], fake_f[fake_labels == index]
        assert (entry["num_real"], entry["num_fake"]) == (len(r), len(f))
        assert entry["fid"]["fid"] == pytest.approx(frechet_distance_from_features(r, f), rel=1e-12)
        assert entry["kid"]["kid"] == pytest.approx(kernel_inception_distance(f, r)["kid"], rel=1e-12)
        assert entry["kid"]["subset_size"] == min(len(r), len(f))


def test_rank_deficiency_and_too_few_samples_are_flagged():
    real, real_labels = smooth(20, seed=1), torch.tensor([0] * 19 + [1])
    fake, fake_labels = smooth(20, seed=2), torch.tensor([0] * 20)
    full = evaluate(pixels(2), real, None, fake, None, ["fid"])["metrics"]["fid"]  # 4 dims, 20 samples
    assert full["rank_deficient"] is False
    out = evaluate(pixels(8), real, real_labels, fake, fake_labels, ["fid", "kid"], CLASSES)  # 64 dims
    assert out["metrics"]["fid"]["rank_deficient"] is True and out["metrics"]["fid"]["fid"] > 0
    empty = out["per_class"]["scratches"]
    assert (empty["num_real"], empty["num_fake"]) == (1, 0)
    assert empty["fid"]["fid"] is None and empty["fid"]["insufficient_samples"] is True
    assert empty["kid"]["kid"] is None and empty["kid"]["insufficient_samples"] is True
    json.dumps(out, allow_nan=False)


def test_cached_real_statistics_give_the_same_results():
    backbone = pixels(4)
    real, real_labels = smooth(16, seed=1), torch.arange(16) % 2
    fake, fake_labels = smooth(10, seed=2), torch.arange(10) % 2
    names = ["fid", "kid", "precision", "recall", "memorisation"]
    fresh = evaluate(backbone, real, real_labels, fake, fake_labels, names, CLASSES)
    cached = FeatureSet.from_bytes(extract_feature_set(backbone, real, real_labels, CLASSES).to_bytes())
    assert evaluate(backbone, None, None, fake, fake_labels, names, CLASSES, real_stats=cached) == fresh
    # class names come with the cache
    assert evaluate(backbone, None, None, fake, fake_labels, names, real_stats=cached) == fresh

    other = pixels(2)
    with pytest.raises(MetricsError, match="cached real statistics"):
        evaluate(other, None, None, fake, None, ["fid"], real_stats=cached)
    with pytest.raises(MetricsError, match="classes"):
        evaluate(backbone, None, None, fake, fake_labels, ["fid"], ["a", "b"], real_stats=cached)


def test_bad_requests_are_rejected():
    backbone = pixels(4)
    images = smooth(8, seed=1)
    for metrics, kwargs in [
        (["fid", "lpips"], {}),
        ([], {}),
        ("fid", {}),
        (["is"], {}),  # no logits without Inception
        (["fid"], {"options": {"kid": {"num_subsets": 3}}}),
        (["kid"], {"options": {"kid": {"subsets": 3}}}),
        (["kid"], {"options": {"kid": {"num_subsets": 0}}}),
        (["kid"], {"options": {"kid": {"subset_size": 1.5}}}),
        (["precision"], {"options": {"precision": {"k": 0}}}),
        (["memorisation"], {"options": {"memorisation": {"threshold": -1}}}),
        (["memorisation"], {"options": {"memorisation": {"max_near_copy_fraction": 2}}}),
    ]:
        with pytest.raises(MetricsError):
            evaluate(backbone, images, None, images, None, metrics, **kwargs)
    with pytest.raises(MetricsError, match="real images"):
        evaluate(backbone, None, None, images, None, ["fid"])
    with pytest.raises(MetricsError, match="labels of the real images"):
        evaluate(backbone, images, None, images, torch.zeros(8, dtype=torch.long), ["fid"], CLASSES)


def test_progress_is_reported():
    progress: list[Progress] = []
    backbone = load_torchscript(scripted(Pixels(4)), in_channels=1, batch_size=3)
    real, fake = smooth(7, seed=1), smooth(5, seed=2)
    evaluate(backbone, real, torch.arange(7) % 2, fake, torch.arange(5) % 2, ["fid", "kid", "memorisation"],
             CLASSES, monitor=Monitor(progress.append))
    calls = [(p.message, p.step, p.total) for p in progress]
    assert [c for c in calls if c[0] == "real_features"] == [("real_features", 3, 7), ("real_features", 6, 7),
                                                              ("real_features", 7, 7)]
    assert [c for c in calls if c[0] == "fake_features"][-1] == ("fake_features", 5, 5)
    metric_calls = [c for c in calls if c[0] == "metrics"]
    assert metric_calls == [("metrics", i, 7) for i in range(1, 8)]  # 3 overall + 2 classes x (fid, kid)


def test_a_stop_request_stops_feature_extraction():
    backbone = load_torchscript(scripted(Pixels(4)), in_channels=1, batch_size=3)
    steps: list[int] = []
    monitor = Monitor(lambda progress: steps.append(progress.step), should_stop=lambda: len(steps) >= 1)
    with pytest.raises(Stopped):
        evaluate(backbone, smooth(7, seed=1), None, smooth(5, seed=2), None, ["fid"], monitor=monitor)
    assert steps == [3]


def test_torchscript_backbones():
    blob = scripted(Pixels(4))
    a, b = load_torchscript(blob), load_torchscript(blob)
    assert a.fingerprint == b.fingerprint != load_torchscript(scripted(Pixels(2))).fingerprint
    assert a.feature_dim == 48 and not a.has_logits
    gray = smooth(3, seed=1)
    features = a.features(gray)
    assert features.dtype == torch.float64 and features.shape == (3, 48)
    assert torch.equal(features, a.features(gray.repeat(1, 3, 1, 1)))  # grayscale repeated to 3 channels
    with pytest.raises(MetricsError):
        a.features_and_logits(gray)
    with pytest.raises(MetricsError):
        a.features(gray.float())
    with pytest.raises(MetricsError):
        pixels(4, in_channels=1).features(smooth(2, seed=1, channels=3))
    with pytest.raises(MetricsError, match="TorchScript"):
        load_torchscript(b"not an archive")
    with pytest.raises(MetricsError, match=r"\[N, D\]"):
        load_torchscript(scripted(BadShape()))
    with pytest.raises(MetricsError, match="in_channels"):
        load_torchscript(blob, in_channels=2)
    with pytest.raises(MetricsError, match="probe"):
        load_torchscript(blob, in_channels=1, probe_size=0)
