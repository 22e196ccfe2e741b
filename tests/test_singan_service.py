"""SinGAN and SIFID through the live service: train, generate from a finer scale at another size, SIFID in
evaluate jobs and as a train job's eval_metric (in a domain backbone with a spatial map), and the 422s."""
from __future__ import annotations

import io
import zipfile

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.conftest import TINY_TRAIN, submit, wait_job

TINY_SINGAN = {"architecture": "singan", "resolution": 32, "min_size": 20, "width": 8, "steps_per_scale": 3,
               "images_per_class": 2, "checkpoint_every": 2}
SCALES = 3
STEPS = 2 * 2 * SCALES * 3  # classes x images_per_class x scales x steps_per_scale


class SpatialPixels(torch.nn.Module):
    """A domain backbone with a spatial map: 4x4-averaged pixels (64 positions at 32 px)."""

    def spatial_features(self, images: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(images.float() / 255.0, 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.spatial_features(images)
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


@pytest.fixture(scope="module")
def spatial_backbone(stack) -> dict:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(SpatialPixels()), buffer)
    with stack.client() as c:
        response = c.post("/v1/backbones", files={"file": ("spatial.pt", buffer.getvalue())},
                          data={"name": "spatial-pixels", "in_channels": "3"})
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="module")
def singan_model(stack, dataset, spatial_backbone) -> dict:
    """Trained with SIFID as its eval_metric, measured once, at the end."""
    with stack.client() as c:
        job = submit(c, "train", {"dataset_id": dataset["id"], "eval_every": STEPS, "eval_samples": 4,
                                  "eval_metric": "sifid", "eval_backbone": spatial_backbone["id"],
                                  **TINY_SINGAN}).json()
        assert job["params"]["steps"] == STEPS
        job = wait_job(c, job["id"])
        assert job["status"] == "succeeded", job
        events = c.get(f"/v1/jobs/{job['id']}/events").json()["items"]
        return {"job": job, "model": c.get(f"/v1/models/{job['result']['model_id']}").json(), "events": events}


def test_progress_names_the_image_and_scale_and_sifid_is_the_eval_metric(singan_model):
    job, events = singan_model["job"], singan_model["events"]
    assert job["metrics"]["image"] == 3 and job["metrics"]["scale"] == 0  # the last pyramid's finest scale
    assert [e["step"] for e in events if e["type"] == "sample"] == [3 * k for k in range(1, STEPS // 3 + 1)]
    evals = [e["data"] for e in events if e["type"] == "eval"]
    assert len(evals) == 1 and evals[0]["metric"] == "sifid" and evals[0]["value"] > 0
    assert singan_model["model"]["metrics"]["sifid"] == evals[0]["value"]


def test_generate_from_a_finer_scale_at_another_size(client, singan_model):
    model = singan_model["model"]
    response = submit(client, "generate", {"model_id": model["id"], "count_per_class": 2, "start_scale": 1,
                                           "output_size": [48, 40]})
    assert response.status_code == 202, response.text
    job = wait_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["scale"] == "native" and job["result"]["resampled"] is None
    download = client.get(f"/v1/batches/{job['result']['batch_id']}/download")
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        sizes = [Image.open(io.BytesIO(zf.read(name))).size for name in zf.namelist() if name.endswith(".png")]
    assert sizes == [(48, 40)] * 2 * len(model["classes"])


@pytest.mark.parametrize("params, field", [
    ({"start_scale": 0}, "start_scale"),
    ({"output_size": [64, 64]}, "output_size"),
])
def test_singan_options_on_another_architecture_are_422(client, trained_model, params, field):
    response = submit(client, "generate", {"model_id": trained_model["id"], "count_per_class": 1, **params})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][-1] == field


@pytest.mark.parametrize("params, field", [
    ({"start_scale": SCALES}, "start_scale"),
    ({"output_size": [12, 200]}, "output_size"),
    ({"output_size": [48]}, "output_size"),
])
def test_bad_singan_generation_is_422(client, singan_model, params, field):
    response = submit(client, "generate", {"model_id": singan_model["model"]["id"], "count_per_class": 1, **params})
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"][0]["loc"]


def test_sifid_in_an_evaluate_job(client, dataset, singan_model, spatial_backbone):
    job = submit(client, "evaluate", {"model_id": singan_model["model"]["id"], "dataset_id": dataset["id"],
                                      "num_samples": 6, "metrics": ["sifid", "fid"],
                                      "backbone": spatial_backbone["id"]}).json()
    job = wait_job(client, job["id"])
    assert job["status"] == "succeeded", job
    metrics = job["result"]["metrics"]["metrics"]
    sifid = metrics["sifid"]
    assert sifid["pairing"] == "own training image" and sifid["num_pairs"] == 6 and sifid["positions"] == 64
    assert sifid["sifid"] > 0 and job["metrics"]["sifid"] == sifid["sifid"]
    assert metrics["fid"]["fid"] is not None


def test_sifid_in_backbone_auto_is_422(client, dataset, singan_model):
    evaluate = submit(client, "evaluate", {"model_id": singan_model["model"]["id"], "dataset_id": dataset["id"],
                                           "metrics": ["sifid"], "backbone": "auto"})
    train = submit(client, "train", {"dataset_id": dataset["id"], "steps": 2, "eval_every": 1, "eval_metric": "sifid",
                                     "eval_backbone": "auto", **TINY_TRAIN})
    for response in (evaluate, train):
        assert response.status_code == 422, response.text
        assert "spatial" in response.json()["errors"][0]["msg"]
