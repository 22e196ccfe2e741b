"""stylegan2-ada through the live service: train, generate, fine-tune onto other classes, and the 422s."""
from __future__ import annotations

import io
import zipfile

import pytest

from tests.conftest import sample_zip, submit, upload, wait_job

TINY_STYLEGAN = {"architecture": "stylegan2-ada", "resolution": 32, "width": 4, "z_dim": 16, "w_dim": 16,
                 "mapping_layers": 2, "batch_size": 4, "sample_every": 3, "checkpoint_every": 3}


@pytest.fixture(scope="module")
def stylegan_model(stack, dataset) -> dict:
    with stack.client() as c:
        job = submit(c, "train", {"dataset_id": dataset["id"], "steps": 6, "ada_images": 100, "ada_interval": 1,
                                  **TINY_STYLEGAN}).json()
        job = wait_job(c, job["id"])
        assert job["status"] == "succeeded", job
        return {"job": job, "model": c.get(f"/v1/models/{job['result']['model_id']}").json()}


def test_train_then_generate(client, stylegan_model):
    job, model = stylegan_model["job"], stylegan_model["model"]
    assert job["params"]["augment"] == "ada" and job["params"]["lr"] == 0.0025  # the architecture's defaults
    assert "augment_p" in job["metrics"] and 0 <= job["metrics"]["augment_p"] <= 1
    assert model["kind"] == "generator" and model["config"]["options"]["w_dim"] == 16
    generate = submit(client, "generate", {"model_id": model["id"], "count_per_class": 3, "truncation_psi": 0.7})
    batch_job = wait_job(client, generate.json()["id"])
    assert batch_job["status"] == "succeeded", batch_job
    download = client.get(f"/v1/batches/{batch_job['result']['batch_id']}/download")
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        assert sum(name.endswith(".png") for name in zf.namelist()) == 3 * len(model["classes"])


def test_fine_tune_onto_other_classes_keeps_the_network(client, stylegan_model):
    other = upload(client, sample_zip(classes=("inclusion", "patches", "pitted_surface")), filename="three.zip").json()
    base = stylegan_model["model"]
    job = submit(client, "train", {"dataset_id": other["id"], "base_model_id": base["id"], "steps": 3,
                                   "freeze_d": 1, "architecture": "stylegan2-ada", "resolution": 32,
                                   "batch_size": 4}).json()
    assert (job["params"]["width"], job["params"]["z_dim"], job["params"]["w_dim"]) == (4, 16, 16)  # inherited
    job = wait_job(client, job["id"])
    assert job["status"] == "succeeded", job
    tuned = client.get(f"/v1/models/{job['result']['model_id']}").json()
    assert tuned["classes"] == ["inclusion", "patches", "pitted_surface"]


@pytest.mark.parametrize("override, field", [
    ({"resolution": 64}, "resolution"),
    ({"width": 8}, "width"),
    ({"mapping_layers": 3}, "mapping_layers"),
])
def test_incompatible_fine_tune_is_422(client, dataset, stylegan_model, override, field):
    params = {**TINY_STYLEGAN, "dataset_id": dataset["id"], "base_model_id": stylegan_model["model"]["id"],
              "steps": 2, **override}
    response = submit(client, "train", params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][-1] == field


@pytest.mark.parametrize("params", [
    {"architecture": "cdcgan", "resolution": 32, "w_dim": 64},  # an option cdcgan does not have
    {"architecture": "stylegan2-ada", "resolution": 28},
    {"architecture": "stylegan2-ada", "resolution": 32, "freeze_d": 99},
    {"architecture": "stylegan2-ada", "resolution": 32, "augment": "sometimes"},
])
def test_bad_stylegan_params_are_422(client, dataset, params):
    response = submit(client, "train", {"dataset_id": dataset["id"], "steps": 2, **params})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
