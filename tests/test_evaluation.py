"""Evaluate jobs, evaluation during training and domain backbones, through the live service."""
from __future__ import annotations

import io

import pytest
import torch

from models.metrics.testing import write_random_inception_weights
from tests.conftest import TINY_TRAIN, submit, wait_job
from tests.stack import Stack

ALL_METRICS = ["fid", "kid", "is", "precision", "recall", "memorisation"]


@pytest.fixture(scope="session")
def inception(stack: Stack, dataset: dict, trained_model: dict, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Until an operator imports the weights, Inception metrics are refused with guidance; then they work."""
    with stack.client() as client:
        refused = submit(client, "evaluate", {"model_id": trained_model["id"], "dataset_id": dataset["id"],
                                              "backbone": "inception"})
        assert refused.status_code == 422, refused.text
        assert "defectgen weights import" in refused.json()["errors"][0]["msg"]
    # Random weights with the real file's layout: the service never downloads the real 95 MB file.
    path = write_random_inception_weights(tmp_path_factory.mktemp("weights") / "inception.pth")
    assert "not the official FID weights" in stack.cli("weights", "import", str(path), "--force")


def test_evaluate_job(inception, client, dataset, trained_model):
    job = submit(client, "evaluate", {"model_id": trained_model["id"], "dataset_id": dataset["id"],
                                      "metrics": ALL_METRICS, "num_samples": 10}).json()
    job = wait_job(client, job["id"], timeout=300)
    assert job["status"] == "succeeded", job
    result = job["result"]["metrics"]
    assert result["backbone"] == "inception-v3-fid" and result["num_fake"] == 10 and result["num_real"] == 12
    assert set(result["metrics"]) == set(ALL_METRICS)
    fid = result["metrics"]["fid"]
    assert fid["fid"] > 0 and fid["rank_deficient"] is True  # 10 samples against 2048 dimensions
    assert set(result["per_class"]) == {"crazing", "scratches"}
    assert {"fid", "kid"} <= set(result["per_class"]["crazing"])
    assert job["metrics"]["fid"] == fid["fid"]
    model = client.get(f"/v1/models/{trained_model['id']}").json()
    assert model["metrics"]["fid"] == fid["fid"] and model["metrics"]["kid"] == result["metrics"]["kid"]["kid"]

    from core.storage import get_store

    assert list(get_store().list_keys("stats/")), "real-image features are cached per dataset and backbone"


def test_train_registers_the_best_checkpoint(inception, client, dataset):
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 12, "eval_every": 4, "eval_samples": 8,
                                   "eval_metric": "kid", **TINY_TRAIN}).json()
    job = wait_job(client, job["id"], timeout=300)
    assert job["status"] == "succeeded", job
    evals = [e for e in client.get(f"/v1/jobs/{job['id']}/events").json()["items"] if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [4, 8, 12]
    assert all(e["data"]["metric"] == "kid" and e["data"]["num_fake"] == 8 for e in evals)
    best = min(evals, key=lambda e: e["data"]["value"])
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    assert model["step"] == best["step"] == job["result"]["step"]
    assert model["metrics"]["kid"] == best["data"]["value"]


class TinyFeatures(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


def test_domain_backbone(client, dataset, trained_model):
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(TinyFeatures()), buffer)
    response = client.post("/v1/backbones", files={"file": ("steel.pt", buffer.getvalue())},
                           data={"name": "steel-texture", "in_channels": "1"})
    assert response.status_code == 201, response.text
    backbone = response.json()
    assert backbone["feature_dim"] == 3 and backbone["in_channels"] == 1
    assert client.post("/v1/backbones", files={"file": ("x.pt", b"not torchscript")}).status_code == 422

    params = {"model_id": trained_model["id"], "dataset_id": dataset["id"], "backbone": backbone["id"],
              "num_samples": 12}
    refused = submit(client, "evaluate", {**params, "metrics": ["is"]})
    assert refused.status_code == 422  # the Inception Score needs Inception's logits
    job = submit(client, "evaluate", {**params, "metrics": ["fid", "kid", "precision", "recall", "memorisation"]})
    job = wait_job(client, job.json()["id"], timeout=300)
    assert job["status"] == "succeeded", job
    result = job["result"]["metrics"]
    assert result["backbone"] == "steel-texture" and result["feature_dim"] == 3
    assert result["metrics"]["fid"]["rank_deficient"] is False  # 12 samples in 3 dimensions
    assert client.delete(f"/v1/backbones/{backbone['id']}").status_code == 204


def test_evaluate_validation(client, dataset, trained_model):
    base = {"model_id": trained_model["id"], "dataset_id": dataset["id"]}
    for bad in ({"metrics": ["sharpness"]}, {"metrics": []}, {"backbone": "bb_missing"},
                {"dataset_id": "ds_missing"}, {"num_samples": 1}):
        response = submit(client, "evaluate", {**base, **bad})
        assert response.status_code == 422, (bad, response.text)


def test_backbone_channels_must_be_1_or_3(client):
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(TinyFeatures()), buffer)
    response = client.post("/v1/backbones", files={"file": ("steel.pt", buffer.getvalue())}, data={"in_channels": "2"})
    assert response.status_code == 422 and "in_channels" in response.json()["detail"]
