"""The sample grids during training: a distinct z per column, and the measure callback beside them."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.labels import LINE_HEIGHT, MARGIN, draw_text, text_width
from models.monitor import Monitor
from models.training import SAMPLES_PER_ROW, train_gan
from tests.models.test_gan_training import CLASSES, Recorder, make_config, make_data, run

pytestmark = pytest.mark.usefixtures("one_thread")
CELL = 28 + 2  # resolution + make_grid's padding


@pytest.mark.parametrize(("architecture", "rows"), [("cdcgan", 2), ("dcgan", 8)])
def test_every_column_of_a_sample_grid_has_its_own_z(architecture, rows):
    _, rec = run(make_config(architecture=architecture, steps=2))
    grid = np.asarray(Image.open(io.BytesIO(rec.samples[2])))
    left = label_column_width(architecture)
    for row in range(rows):
        cells = [grid[2 + row * CELL:row * CELL + CELL, left + 2 + col * CELL:left + col * CELL + CELL].tobytes()
                 for col in range(SAMPLES_PER_ROW)]
        assert len(set(cells)) == SAMPLES_PER_ROW, f"row {row} repeats an image"


def label_column_width(architecture: str) -> int:
    return 2 * MARGIN + max(text_width(name) for name in CLASSES) if architecture == "cdcgan" else 0


def test_a_conditional_sample_grid_names_each_row_by_its_class():
    _, rec = run(make_config(steps=2))
    grid = Image.open(io.BytesIO(rec.samples[2]))
    left = label_column_width("cdcgan")
    assert grid.size == (left + 2 + SAMPLES_PER_ROW * CELL, 2 + len(CLASSES) * CELL)
    for row, name in enumerate(CLASSES):
        expected = Image.new("L", (left, CELL))
        draw_text(expected, (MARGIN, 2 + (CELL - LINE_HEIGHT) // 2), name, "white")
        assert grid.crop((0, row * CELL, left, (row + 1) * CELL)).tobytes() == expected.tobytes(), name


def test_measure_is_called_at_every_sample_grid_and_its_figures_are_reported():
    config = make_config(steps=7)
    images, labels = make_data()
    plain = train_gan(config, images, labels, Recorder().callbacks(), Monitor())
    seen: list[int] = []

    def measure(step, network):
        seen.append(step)
        z = torch.randn(2, config.options.z_dim, generator=torch.Generator().manual_seed(0))
        assert network.sample(z, torch.tensor([0, 1])).shape == (2, 1, 28, 28)
        return {"diversity": float(step)}

    rec = Recorder()
    callbacks = rec.callbacks()
    callbacks.measure = measure
    result = train_gan(config, images, labels, callbacks, rec.monitor())
    assert seen == [2, 4, 6, 7] == list(rec.samples)
    reported = [(p.step, p.metrics.get("diversity")) for p in rec.progress]
    assert reported[0] == (1, None)
    # each step's figures are those of the latest sample grid, reported again as soon as they are measured
    assert reported[1:] == [(2, None), (2, 2.0), (3, 2.0), (4, 2.0), (4, 4.0), (5, 4.0), (6, 4.0), (6, 6.0),
                            (7, 6.0), (7, 7.0)]
    assert all({"loss_g", "loss_d"} <= set(p.metrics) for p in rec.progress)
    assert result.checkpoint == plain.checkpoint  # measuring does not change the training trajectory
