from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.sample_data import NEU_CLASSES, render_sample, write_sample_archive


@pytest.mark.parametrize("class_name", NEU_CLASSES)
def test_render_sample_is_grayscale_sized_and_reproducible(class_name):
    image = render_sample(class_name, 48, np.random.default_rng(3))
    assert image.mode == "L" and image.size == (48, 48)
    again = render_sample(class_name, 48, np.random.default_rng(3))
    other = render_sample(class_name, 48, np.random.default_rng(4))
    assert image.tobytes() == again.tobytes() != other.tobytes()
    pixels = np.asarray(image)
    assert 20 < pixels.mean() < 235 and pixels.std() > 3  # a textured surface, not a flat or clipped one


def test_render_sample_rejects_unknown_class_and_tiny_size():
    with pytest.raises(ValueError, match="unknown class"):
        render_sample("rust", 32, np.random.default_rng(0))
    with pytest.raises(ValueError, match="size"):
        render_sample("crazing", 4, np.random.default_rng(0))


def _features(image: Image.Image) -> np.ndarray:
    """Intensity quantiles and a coarse power spectrum, symmetrised because the texture may be transposed."""
    a = np.asarray(image, np.float32)
    a = (a - a.mean()) / (a.std() + 1e-6)
    power = np.abs(np.fft.fft2(a)) ** 2
    power = power + power.T
    half = a.shape[0] // 2
    spectrum = np.log1p(power[:half, :half].reshape(8, half // 8, 8, half // 8).mean(axis=(1, 3)))
    return np.concatenate([np.percentile(a, [1, 5, 25, 50, 75, 95, 99]), spectrum.ravel()])


def test_classes_are_distinguishable():
    # If even a nearest-centroid classifier on fixed features separates them, a tiny CNN can.
    features = {
        c: np.array([_features(render_sample(c, 64, np.random.default_rng([7, k, i]))) for i in range(30)])
        for k, c in enumerate(NEU_CLASSES)
    }
    train = np.concatenate([f[:20] for f in features.values()])
    mean, std = train.mean(0), train.std(0) + 1e-6
    centroids = np.array([((f[:20] - mean) / std).mean(0) for f in features.values()])
    correct = 0
    for k, f in enumerate(features.values()):
        distances = ((((f[20:] - mean) / std)[:, None, :] - centroids[None]) ** 2).sum(-1)
        correct += int((distances.argmin(1) == k).sum())
    assert correct / (10 * len(NEU_CLASSES)) >= 0.85


def test_write_sample_archive_layout(tmp_path):
    path = tmp_path / "neu.zip"
    write_sample_archive(path, per_class=3, size=40, seed=5)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted(f"{c}/{c}_{i}.png" for c in NEU_CLASSES for i in (1, 2, 3))
        for name in names:
            with Image.open(io.BytesIO(zf.read(name))) as image:
                assert image.format == "PNG" and image.mode == "L" and image.size == (40, 40)


def test_write_sample_archive_is_reproducible_and_takes_a_class_subset(tmp_path):
    first, second, third = (tmp_path / f"{n}.zip" for n in "abc")
    write_sample_archive(first, per_class=2, size=16, seed=1, classes=("scratches", "patches"))
    write_sample_archive(second, per_class=2, size=16, seed=1, classes=("scratches", "patches"))
    write_sample_archive(third, per_class=2, size=16, seed=2, classes=("scratches", "patches"))
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b, zipfile.ZipFile(third) as c:
        assert {n.split("/")[0] for n in a.namelist()} == {"scratches", "patches"}
        assert [a.read(n) for n in a.namelist()] == [b.read(n) for n in b.namelist()]
        assert a.read("patches/patches_1.png") != c.read("patches/patches_1.png")


def test_write_sample_archive_accepts_a_file_object_and_rejects_unknown_classes():
    buffer = io.BytesIO()
    write_sample_archive(buffer, per_class=1, size=16, classes=("crazing",))
    assert zipfile.ZipFile(buffer).namelist() == ["crazing/crazing_1.png"]
    with pytest.raises(ValueError, match="unknown"):
        write_sample_archive(io.BytesIO(), classes=("crazing", "rust"))
