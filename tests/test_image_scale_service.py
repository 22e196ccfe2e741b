"""Images at the training images' scale: a crop="resize" model's images are resampled back to the dataset's size,
a crop="random" model's patches are written as they are, and the result says which."""
from __future__ import annotations

import csv
import io
import zipfile

import pytest
from PIL import Image

from tests.conftest import sample_zip, submit, upload, wait_job

TINY = {"resolution": 32, "width": 8, "z_dim": 16, "batch_size": 4, "steps": 1}


@pytest.fixture(scope="module")
def larger_dataset(stack) -> dict:  # type: ignore[no-untyped-def]
    with stack.client() as c:
        response = upload(c, sample_zip(per_class=3, size=40), filename="forty.zip")
        assert response.status_code == 201, response.text
        return response.json()


def _generate(client, model_id: str) -> tuple[dict, set[tuple[int, int]], list[dict]]:  # type: ignore[no-untyped-def]
    job = wait_job(client, submit(client, "generate", {"model_id": model_id, "count_per_class": 1}).json()["id"])
    assert job["status"] == "succeeded", job
    content = client.get(f"/v1/batches/{job['result']['batch_id']}/download").content
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        sizes = {Image.open(io.BytesIO(zf.read(n))).size for n in zf.namelist() if n.endswith(".png")}
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
    return job["result"], sizes, manifest


@pytest.mark.parametrize("crop", ["resize", "random"])
def test_native_size_follows_how_the_model_was_trained(client, larger_dataset, crop):
    job = wait_job(client, submit(client, "train", {"dataset_id": larger_dataset["id"], "crop": crop, **TINY})
                   .json()["id"])
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    assert model["config"]["crop"] == crop

    result, sizes, manifest = _generate(client, model["id"])
    if crop == "resize":
        assert (result["scale"], sizes) == ("native", {(40, 40)})
        assert result["resampled"] == {"from": [32, 32], "to": [40, 40], "method": "bicubic"}
        assert {row["resampled_from"] for row in manifest} == {"32x32"}
    else:  # 32-px patches at the 40-px images' own scale
        assert (result["scale"], result["resampled"], sizes) == ("native crop", None, {(32, 32)})
        assert "resampled_from" not in manifest[0]
