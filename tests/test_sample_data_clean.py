"""The defect-free sample class: clean steel, the background of every defect class without its defect."""
from __future__ import annotations

import io
import zipfile

import numpy as np
from click.testing import CliRunner

from cli.main import cli
from core.sample_data import CLEAN_CLASS, NEU_CLASSES, render_sample


def _pixels(class_name: str, index: int) -> np.ndarray:
    return np.asarray(render_sample(class_name, 64, np.random.default_rng([0, index])), np.float32)


def test_clean_steel_is_smoother_than_any_defect():
    clean = [_pixels(CLEAN_CLASS, i) for i in range(8)]
    assert all(p.shape == (64, 64) and 100 < p.mean() < 165 for p in clean)
    # the same background generator, so the spread of pixel values is what the defects add
    spread = {name: np.mean([_pixels(name, i).std() for i in range(8)]) for name in (CLEAN_CLASS, *NEU_CLASSES)}
    assert all(spread[CLEAN_CLASS] < spread[name] for name in NEU_CLASSES), spread
    assert not np.array_equal(clean[0], clean[1])


def test_sample_data_adds_the_clean_class_on_request(tmp_path):
    runner = CliRunner()
    for flag, expected in (([], set(NEU_CLASSES)), (["--clean"], {*NEU_CLASSES, CLEAN_CLASS})):
        out = tmp_path / f"set{len(flag)}.zip"
        done = runner.invoke(cli, ["sample-data", str(out), "--per-class", "2", "--size", "16", *flag])
        assert done.exit_code == 0, done.output
        with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as zf:
            assert {name.split("/")[0] for name in zf.namelist()} == expected
