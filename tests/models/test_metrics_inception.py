"""The FID Inception backbone with randomly initialised weights (never the real 95 MB file), against
torch-fidelity as the peer implementation: same weights file, same images."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from models.metrics import INCEPTION_NAME, MetricsError, evaluate, extract_feature_set, load_inception
from models.metrics.backbones import canonical_state_dict, state_dict_fingerprint
from models.metrics.testing import inception_shapes, random_inception_state_dict, write_random_inception_weights

ALL = ["fid", "kid", "is", "precision", "recall", "memorisation"]


def smooth(n: int, seed: int, channels: int = 3, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, channels, 4, 4, generator=g)
    return (F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1) * 255
            ).round().to(torch.uint8)


def noise(n: int, seed: int, size: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


class Images(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_inception_weights(tmp_path_factory.mktemp("inception") / "random-inception.pth", seed=0)


@pytest.fixture(scope="session")
def backbone(weights):
    return load_inception(weights)


@pytest.fixture(scope="session")
def exact(weights):
    """torch-fidelity's module unchanged (no BatchNorm folding, no channels-last), loaded from bytes."""
    return load_inception(weights.read_bytes(), fast=False)


@pytest.fixture(scope="session")
def real_images() -> torch.Tensor:
    return smooth(16, seed=1)


@pytest.fixture(scope="session")
def fake_images() -> torch.Tensor:
    return torch.cat([smooth(6, seed=2), noise(6, seed=3)])


def test_random_weights_have_the_fid_inception_layout(weights, exact):
    state = torch.load(weights, weights_only=True)
    expected = {k: tuple(v.shape) for k, v in exact.module.state_dict().items()
                if not k.endswith("num_batches_tracked")}
    assert {k: tuple(v.shape) for k, v in state.items()} == expected == inception_shapes()
    assert len(state) == 472 and sum(v.numel() for v in state.values()) == 23_885_392
    assert all(v.dtype == torch.float32 for v in state.values())


def test_fingerprint_depends_on_the_weights_not_the_file_format(weights, backbone, exact, tmp_path):
    assert backbone.fingerprint == exact.fingerprint and len(backbone.fingerprint) == 64
    other = load_inception(write_random_inception_weights(tmp_path / "w.safetensors", seed=0, fmt="safetensors"))
    assert other.fingerprint == backbone.fingerprint and other.name == INCEPTION_NAME
    state = random_inception_state_dict(seed=0)
    assert state_dict_fingerprint(canonical_state_dict(state)) == backbone.fingerprint
    state["fc.bias"][0] += 1e-3
    assert state_dict_fingerprint(canonical_state_dict(state)) != backbone.fingerprint


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_unsafe_or_foreign_weights_are_rejected(tmp_path):
    marker = tmp_path / "pwned"
    exploit = tmp_path / "exploit.pth"
    torch.save({"fc.weight": _Exploit(marker)}, exploit)
    with pytest.raises(MetricsError, match="state dict"):
        load_inception(exploit)
    assert not marker.exists()

    state = random_inception_state_dict(seed=1)
    missing = dict(state)
    del missing["Mixed_7c.branch_pool.conv.weight"]
    wrong_shape = {**state, "fc.weight": torch.zeros(10, 2048)}
    for bad in (missing, wrong_shape, {"weight": torch.zeros(3)}):
        buffer = io.BytesIO()
        torch.save(bad, buffer)
        with pytest.raises(MetricsError, match="Inception"):
            load_inception(buffer.getvalue())
    with pytest.raises(MetricsError):
        load_inception(b"\x00" * 64)


def test_features_logits_grayscale_and_folding(backbone, exact, weights):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    images = torch.cat([smooth(3, seed=5), noise(2, seed=6, size=48)[:, :, :32, :32]])
    features, logits = backbone.features_and_logits(images)
    assert features.dtype == logits.dtype == torch.float64
    assert features.shape == (5, 2048) and logits.shape == (5, 1008)
    assert torch.equal(backbone.features(images), features)

    peer = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                       feature_extractor_weights_path=str(weights)).eval()
    with torch.no_grad():
        peer_features, peer_logits = (t.double() for t in peer(images))
    exact_features, exact_logits = exact.features_and_logits(images)
    assert torch.equal(exact_features, peer_features) and torch.equal(exact_logits, peer_logits)
    scale = peer_features.abs().max()
    assert (features - peer_features).abs().max() / scale < 1e-5  # BatchNorm folded, channels-last
    assert (logits - peer_logits).abs().max() / peer_logits.abs().max() < 1e-5

    gray = smooth(2, seed=7, channels=1)
    assert torch.equal(backbone.features(gray), backbone.features(gray.repeat(1, 3, 1, 1)))
    with pytest.raises(MetricsError):
        backbone.features(torch.zeros(1, 4, 32, 32, dtype=torch.uint8))


def test_matches_torch_fidelity(weights, backbone, real_images, fake_images):
    import torch_fidelity

    # torch-fidelity's convention: input1 is generated, input2 is real.
    theirs = torch_fidelity.calculate_metrics(
        input1=Images(fake_images), input2=Images(real_images), feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights), fid=True, kid=True, isc=True, prc=True,
        kid_subset_size=len(fake_images), cuda=False, cache=False, verbose=False, save_cpu_ram=True, batch_size=16)
    out = evaluate(backbone, real_images, None, fake_images, None, ALL)
    json.dumps(out, allow_nan=False)
    ours = out["metrics"]
    assert ours["fid"]["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert ours["fid"]["rank_deficient"] is True
    assert ours["kid"]["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    assert ours["kid"]["subset_size"] == 12 and ours["kid"]["num_subsets"] == 100
    assert ours["is"]["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-4)
    assert ours["precision"]["precision"] == pytest.approx(theirs["precision"], abs=1e-9)
    assert ours["recall"]["recall"] == pytest.approx(theirs["recall"], abs=1e-9)
    assert 0 < theirs["precision"] < 1  # the smooth half of the fakes lies on the real manifold, the noise not
    assert all(r["backbone"] == INCEPTION_NAME for r in ours.values())
    assert (out["num_real"], out["num_fake"]) == (16, 12)


def test_memorisation_with_inception(backbone, real_images):
    real = extract_feature_set(backbone, real_images)
    copies = (real_images[:8].int() + torch.randint(-2, 3, (8, 3, 32, 32), generator=torch.Generator().manual_seed(0))
              ).clamp(0, 255).to(torch.uint8)
    copied = evaluate(backbone, None, None, copies, None, ["memorisation"], real_stats=real)
    assert copied["metrics"]["memorisation"]["flagged"] is True
    assert copied["metrics"]["memorisation"]["near_copy_fraction"] == 1.0
    unrelated = evaluate(backbone, None, None, smooth(8, seed=11), None, ["memorisation"], real_stats=real)
    assert unrelated["metrics"]["memorisation"]["flagged"] is False
    assert unrelated["metrics"]["memorisation"]["near_copy_fraction"] == 0.0
