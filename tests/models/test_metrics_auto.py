"""The auto backbone: a small CNN trained on the dataset's classes, cached by the digest of what it learns from."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from core.storage import LocalStore
from models.metrics import MetricsError, evaluate
from models.metrics.auto import AutoBackbone, auto_backbone_digest, load_auto_backbone, train_auto_backbone
from tests.models.test_classifiers import stripes
from worker import generator_quality

pytestmark = pytest.mark.usefixtures("one_thread")
CLASSES = ["vertical", "horizontal"]


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return stripes(10, seed=1)


def test_trains_deterministically_and_its_fingerprint_is_its_weights(data):
    images, labels = data
    blob = train_auto_backbone(images, labels, CLASSES)
    assert train_auto_backbone(images, labels, CLASSES) == blob  # bit-identical on the CPU
    backbone = load_auto_backbone(blob)
    assert isinstance(backbone, AutoBackbone) and backbone.name == "auto" and backbone.in_channels == 1
    assert backbone.feature_dim == 128 and len(backbone.fingerprint) == 64
    assert load_auto_backbone(blob).fingerprint == backbone.fingerprint
    features = backbone.features(images)
    assert features.shape == (20, 128) and features.dtype == torch.float64
    # the classes are apart in its features: real vs real diversity is about 1, a class copied is 0
    out = evaluate(backbone, images, labels, torch.cat([images[:1].expand(5, -1, -1, -1), images[10:15]]),
                   torch.tensor([0] * 5 + [1] * 5), ["diversity", "fid"], CLASSES)
    assert out["backbone"] == "auto" and out["backbone_fingerprint"] == backbone.fingerprint
    assert out["per_class"]["vertical"]["diversity"]["diversity"] == 0.0
    assert out["per_class"]["horizontal"]["diversity"]["diversity"] == pytest.approx(1.0, abs=0.4)


def test_digest_is_of_the_content(data):
    images, labels = data
    digest = auto_backbone_digest(images, labels, CLASSES)
    assert digest == auto_backbone_digest(images.clone(), labels.clone(), list(CLASSES))
    assert digest != auto_backbone_digest(images, 1 - labels, CLASSES)
    assert digest != auto_backbone_digest(images.repeat(1, 3, 1, 1), labels, CLASSES)
    assert digest != auto_backbone_digest(images, labels, ["a", "b"])


def test_one_class_has_no_auto_backbone(data):
    images, labels = data
    with pytest.raises(MetricsError, match="at least 2"):
        train_auto_backbone(images, torch.zeros_like(labels), ["only"])


def test_a_second_job_reuses_the_stored_weights(data, tmp_path, monkeypatch):
    images, labels = data
    ctx = SimpleNamespace(store=LocalStore(tmp_path), should_stop=lambda: False)
    first = generator_quality.auto_backbone(ctx, images, labels, CLASSES, "cpu")
    keys = list(ctx.store.list_keys("backbones/auto/"))
    assert len(keys) == 1

    def untrainable(*args, **kwargs):
        raise AssertionError("the cached backbone should have been loaded")

    monkeypatch.setattr(generator_quality, "train_auto_backbone", untrainable)
    second = generator_quality.auto_backbone(ctx, images, labels, CLASSES, "cpu")
    assert second.fingerprint == first.fingerprint
    assert list(ctx.store.list_keys("backbones/auto/")) == keys
