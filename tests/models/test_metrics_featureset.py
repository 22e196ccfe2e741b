from __future__ import annotations

import pytest
import safetensors.torch
import torch

from models.metrics import FeatureSet, MetricsError
from models.metrics.frechet import covariance


def make(n: int = 12, dim: int = 6, labelled: bool = True) -> FeatureSet:
    g = torch.Generator().manual_seed(n)
    features = torch.randn(n, dim, generator=g, dtype=torch.float64)
    return FeatureSet.from_features(features, backbone="bb", backbone_fingerprint="f" * 64,
                                    labels=torch.arange(n) % 3 if labelled else None,
                                    class_names=["a", "b", "c"] if labelled else None)


def test_statistics_are_float64_mean_and_unbiased_covariance():
    fs = make()
    assert fs.features.dtype == fs.mean.dtype == fs.covariance.dtype == torch.float64
    assert torch.allclose(fs.mean, fs.features.mean(0))
    assert torch.allclose(fs.covariance, torch.cov(fs.features.T), rtol=1e-12, atol=1e-14)
    assert torch.equal(fs.covariance, fs.covariance.T)
    assert (fs.num_samples, fs.feature_dim) == (12, 6)


def test_round_trip_through_bytes():
    for fs in (make(), make(labelled=False)):
        back = FeatureSet.from_bytes(fs.to_bytes())
        for name in ("features", "mean", "covariance"):
            assert torch.equal(getattr(back, name), getattr(fs, name))
        assert (back.backbone, back.backbone_fingerprint, back.class_names) == (
            fs.backbone, fs.backbone_fingerprint, fs.class_names)
        assert (back.labels is None) == (fs.labels is None)
        if fs.labels is not None:
            assert torch.equal(back.labels, fs.labels)


def test_for_class_recomputes_statistics():
    fs = make()
    part = fs.for_class(1)
    assert part.num_samples == 4 and torch.equal(part.labels, torch.ones(4, dtype=torch.int64))
    assert torch.allclose(part.covariance, covariance(fs.features[fs.labels == 1]))
    empty = fs.select(torch.zeros(12, dtype=torch.bool))
    assert empty.num_samples == 0 and torch.isnan(empty.mean).all()
    single = fs.select(torch.tensor([0]))
    assert torch.isnan(single.covariance).all()


@pytest.mark.parametrize("mangle", [
    lambda blob: blob[:-10],
    lambda blob: b"junk" + blob,
    lambda blob: safetensors.torch.save({"features": torch.zeros(2, 3, dtype=torch.float64)},
                                        metadata={"format": "defectgen-featureset/1"}),
    lambda blob: safetensors.torch.save({"features": torch.zeros(2, 3), "mean": torch.zeros(3),
                                         "covariance": torch.zeros(3, 3)},
                                        metadata={"format": "defectgen-featureset/1", "backbone": "b",
                                                  "backbone_fingerprint": "x", "class_names": "null"}),
    lambda blob: safetensors.torch.save({"features": torch.zeros(2, 3, dtype=torch.float64),
                                         "mean": torch.zeros(4, dtype=torch.float64),
                                         "covariance": torch.zeros(3, 3, dtype=torch.float64)},
                                        metadata={"format": "defectgen-featureset/1", "backbone": "b",
                                                  "backbone_fingerprint": "x", "class_names": "null"}),
    lambda blob: safetensors.torch.save({"x": torch.zeros(1)}, metadata={"format": "other/1"}),
])
def test_malformed_bytes_are_rejected(mangle):
    with pytest.raises(MetricsError):
        FeatureSet.from_bytes(mangle(make().to_bytes()))


def test_label_validation():
    features = torch.zeros(4, 2, dtype=torch.float64)
    kwargs = dict(backbone="b", backbone_fingerprint="x")
    with pytest.raises(MetricsError):
        FeatureSet.from_features(features, labels=torch.tensor([0, 1, 2, 3]), class_names=["a", "b"], **kwargs)
    with pytest.raises(MetricsError):
        FeatureSet.from_features(features, labels=torch.tensor([0, 1, 0]), class_names=["a", "b"], **kwargs)
    with pytest.raises(MetricsError):
        FeatureSet.from_features(features, labels=torch.tensor([0, 1, 0, 1]), **kwargs)
    with pytest.raises(MetricsError):
        FeatureSet.from_features(features, labels=torch.tensor([0, 1, 0, 1]), class_names=["a", "a"], **kwargs)
    with pytest.raises(MetricsError):
        FeatureSet.from_features(torch.zeros(4), **kwargs)
