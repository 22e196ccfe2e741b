from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from models.data import images_to_tensor, to_training_range, to_uint8


def test_images_to_tensor_converts_modes_and_resizes():
    rgb = Image.fromarray(np.full((40, 60, 3), (255, 0, 0), dtype=np.uint8), "RGB")  # non-square
    gray = Image.fromarray(np.full((32, 32), 77, dtype=np.uint8), "L")
    one = images_to_tensor([rgb, gray], resolution=32, channels=1)
    assert one.shape == (2, 1, 32, 32) and one.dtype == torch.uint8
    assert one[0].unique().tolist() == [76]  # L = 0.299 R
    assert one[1].unique().tolist() == [77]  # already RxR: untouched
    three = images_to_tensor([rgb, gray], resolution=28, channels=3)
    assert three.shape == (2, 3, 28, 28)
    assert three[0, :, 5, 5].tolist() == [255, 0, 0]
    assert three[1].unique().tolist() == [77]


def test_images_to_tensor_antialiases_when_shrinking():
    stripes = np.zeros((64, 64), dtype=np.uint8)
    stripes[:, ::2] = 255
    small = images_to_tensor([Image.fromarray(stripes, "L")], resolution=32, channels=1)
    assert small.float().std() < 20 and abs(small.float().mean() - 127.5) < 10


def test_range_conversions_round_trip():
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    floats = to_training_range(values)
    assert floats.dtype == torch.float32 and floats.min() == -1 and floats.max() == 1
    assert torch.equal(to_uint8(floats), values)
    assert to_uint8(torch.tensor([-3.0, 0.0, 3.0])).tolist() == [0, 128, 255]
