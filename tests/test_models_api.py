"""Model download, import (safe formats only) and deletion."""
from __future__ import annotations

import io
import pickle

import torch

from tests.conftest import submit, wait_job


def test_checkpoint_round_trip(client, trained_model):
    blob = client.get(f"/v1/models/{trained_model['id']}/checkpoint")
    assert blob.status_code == 200 and len(blob.content) == trained_model["size_bytes"]
    imported = client.post("/v1/models", files={"file": ("m.safetensors", blob.content)})
    assert imported.status_code == 201, imported.text
    model = imported.json()
    for field in ("architecture", "classes", "resolution", "channels", "step"):
        assert model[field] == trained_model[field]
    job = wait_job(client, submit(client, "generate", {"model_id": model["id"], "count_per_class": 1}).json()["id"])
    assert job["status"] == "succeeded"
    assert client.delete(f"/v1/models/{model['id']}").status_code == 204
    assert client.get(f"/v1/models/{model['id']}").status_code == 404


def test_pickle_is_refused(client):
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    for data in (buffer.getvalue(), pickle.dumps({"a": 1})):
        response = client.post("/v1/models", files={"file": ("m.pt", data)})
        assert response.status_code == 415, response.text
        assert response.headers["content-type"] == "application/problem+json"


def test_safetensors_that_is_no_checkpoint_is_422(client):
    from safetensors.torch import save

    before = client.get("/v1/models", params={"limit": 500}).json()["items"]
    response = client.post("/v1/models", files={"file": ("m.safetensors", save({"w": torch.zeros(2)}))})
    assert response.status_code == 422, response.text
    assert client.get("/v1/models", params={"limit": 500}).json()["items"] == before
