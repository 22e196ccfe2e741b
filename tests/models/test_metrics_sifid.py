"""SIFID: the spatial map is torch-fidelity's 192-channel block, the distance agrees with an independent numpy
float64 computation, and evaluate() runs it on pairs (Inception with random weights, a TorchScript backbone)."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from models.metrics import MetricsError, evaluate, load_inception, load_torchscript
from models.metrics.sifid import INCEPTION_SPATIAL_DIM, Pairing, spatial_maps
from models.metrics.testing import write_random_inception_weights

pytestmark = pytest.mark.usefixtures("one_thread")


def smooth(n: int, seed: int, size: int = 32) -> torch.Tensor:
    low = torch.rand(n, 3, 5, 5, generator=torch.Generator().manual_seed(seed))
    return (F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1) * 255
            ).round().to(torch.uint8)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory):
    return write_random_inception_weights(tmp_path_factory.mktemp("inception") / "random.pth", seed=0)


@pytest.fixture(scope="module")
def backbone(weights):
    return load_inception(weights)


def numpy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Positions x channels on each side: np.cov and scipy's sqrtm, nothing of models.metrics."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # random weights leave dead channels: singular, and still exact enough
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def test_the_map_is_inceptions_192_block_unpooled(weights, backbone):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    images = smooth(2, seed=1)
    maps = spatial_maps(load_inception(weights, fast=False), images)
    assert maps.shape == (2, INCEPTION_SPATIAL_DIM, 35, 35) and maps.dtype == torch.float64
    peer = FeatureExtractorInceptionV3("peer", ["192"], feature_extractor_weights_path=str(weights)).eval()
    with torch.no_grad():
        pooled, = peer(images)
    torch.testing.assert_close(maps.mean((2, 3)), pooled.double(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(spatial_maps(backbone, images), maps, rtol=1e-4, atol=1e-4)  # BN folded


def test_agrees_with_numpy_float64(backbone):
    real, fake = smooth(2, seed=2), smooth(3, seed=3)
    index = [0, 1, 1]
    result = evaluate(backbone, None, None, fake, None, ["sifid"], pairing=Pairing(real, index, "test pairs"))
    sifid = result["metrics"]["sifid"]
    real_maps, fake_maps = spatial_maps(backbone, real), spatial_maps(backbone, fake)
    positions = [m.flatten(1).T.numpy() for m in (*real_maps, *fake_maps)]
    expected = [numpy_frechet(positions[r], positions[2 + i]) for i, r in enumerate(index)]
    assert sifid["sifid"] == pytest.approx(np.mean(expected), rel=1e-6, abs=1e-6)
    assert sifid["sifid_std"] == pytest.approx(np.std(expected), rel=1e-6, abs=1e-6)
    assert (sifid["pairing"], sifid["num_pairs"], sifid["num_real"], sifid["positions"]) == ("test pairs", 3, 2, 1225)
    assert not sifid["rank_deficient"]
    same = evaluate(backbone, None, None, real, None, ["sifid"], pairing=Pairing(real, [0, 1], "self"))
    assert abs(same["metrics"]["sifid"]["sifid"]) < 1e-6  # an image against itself


def test_needs_pairs_and_a_spatial_backbone(backbone):
    with pytest.raises(MetricsError, match="paired"):
        evaluate(backbone, None, None, smooth(2, seed=4), None, ["sifid"])
    with pytest.raises(MetricsError, match="paired real image"):
        evaluate(backbone, None, None, smooth(2, seed=4), None, ["sifid"], pairing=Pairing(smooth(1, 5), [0, 1], ""))


class Spatial(nn.Module):
    """A domain backbone with a spatial map: 4x4-average-pooled pixels, pooled once more for its features."""

    def spatial_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x.float() / 255, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial_features(x).mean((2, 3))


class Flat(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean((2, 3))


def scripted(module: nn.Module, name: str):
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return load_torchscript(buffer.getvalue(), name=name, probe_size=32)


def test_a_domain_backbone_with_a_spatial_map():
    real, fake = smooth(1, seed=6), smooth(2, seed=7)
    result = evaluate(scripted(Spatial(), "spatial"), None, None, fake, None, ["sifid"],
                      pairing=Pairing(real, [0, 0], "own"))["metrics"]["sifid"]
    pixels = [F.avg_pool2d(x[None].double() / 255, 4)[0].flatten(1).T.numpy() for x in (*real, *fake)]
    expected = np.mean([numpy_frechet(pixels[0], pixels[1 + i]) for i in range(2)])
    assert result["sifid"] == pytest.approx(expected, rel=1e-5, abs=1e-6)  # float32 pooling inside the module
    assert result["positions"] == 64 and result["rank_deficient"] is False
    with pytest.raises(MetricsError, match="spatial"):
        evaluate(scripted(Flat(), "flat"), None, None, fake, None, ["sifid"], pairing=Pairing(real, [0, 0], "own"))
