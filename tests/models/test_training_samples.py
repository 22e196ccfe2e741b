"""The sample grids during training: a distinct z per column, and the measure callback beside them."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.monitor import Monitor
from models.training import SAMPLES_PER_ROW, train_gan
from tests.models.test_gan_training import Recorder, make_config, make_data, run

pytestmark = pytest.mark.usefixtures("one_thread")
CELL = 28 + 2  # resolution + make_grid's padding


@pytest.mark.parametrize(("architecture", "rows"), [("cdcgan", 2), ("dcgan", 8)])
def test_every_column_of_a_sample_grid_has_its_own_z(architecture, rows):
    _, rec = run(make_config(architecture=architecture, steps=2))
    grid = np.asarray(Image.open(io.BytesIO(rec.samples[2])))
    for row in range(rows):
        cells = [grid[2 + row * CELL:row * CELL + CELL, 2 + col * CELL:col * CELL + CELL].tobytes()
                 for col in range(SAMPLES_PER_ROW)]
        assert len(set(cells)) == SAMPLES_PER_ROW, f"row {row} repeats an image"


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
