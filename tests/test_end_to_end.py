"""The user journey through a live API and a real Celery worker: upload, train, generate, download."""
from __future__ import annotations

import csv
import io
import zipfile

import httpx
from PIL import Image

from tests.conftest import TINY_TRAIN, submit, wait_job


def test_upload_train_generate_download(client, dataset, trained_model):
    assert trained_model["architecture"] == "cdcgan"
    assert trained_model["classes"] == ["crazing", "scratches"]
    assert (trained_model["resolution"], trained_model["channels"], trained_model["step"]) == (32, 1, 20)

    train_job = client.get(f"/v1/jobs/{trained_model['job_id']}").json()
    assert train_job["progress"]["fraction"] == 1.0 and train_job["progress"]["step"] == 20
    assert {"loss_g", "loss_d"} <= set(train_job["metrics"])
    samples = client.get(f"/v1/jobs/{train_job['id']}/samples").json()
    assert [s["step"] for s in samples] == [10, 20]
    grid = client.get(samples[-1]["url"])
    assert grid.headers["content-type"] == "image/png" and Image.open(io.BytesIO(grid.content)).size[0] > 32
    events = client.get(f"/v1/jobs/{train_job['id']}/events").json()["items"]
    types = [e["type"] for e in events]
    assert types[0] == "status" and types[-1] == "status" and "checkpoint" in types
    assert [e["data"]["status"] for e in events if e["type"] == "status"] == ["queued", "running", "succeeded"]

    job = submit(client, "generate", {"model_id": trained_model["id"], "counts": {"crazing": 4, "scratches": 3},
                                      "seed": 7})
    assert job.status_code == 202, job.text
    job = wait_job(client, job.json()["id"])
    assert job["status"] == "succeeded", job
    batch = client.get(f"/v1/batches/{job['result']['batch_id']}").json()
    assert batch["count"] == 7 and batch["model_id"] == trained_model["id"]
    assert batch["classes"] == [{"name": "crazing", "count": 4}, {"name": "scratches", "count": 3}]

    response = client.get(f"/v1/batches/{batch['id']}/download")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        names = sorted(zf.namelist())
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        images = {name: Image.open(io.BytesIO(zf.read(name))) for name in names if name.endswith(".png")}
    assert sorted(n.split("/")[0] for n in images) == ["crazing"] * 4 + ["scratches"] * 3
    assert all(img.size == (32, 32) and img.mode == "L" for img in images.values())
    assert sorted(row["file"] for row in manifest) == sorted(images)
    assert {int(row["seed"]) for row in manifest} == set(range(7, 14))

    # the batch is in the upload format, so it can be uploaded again as a dataset
    again = client.post("/v1/datasets", files={"file": ("batch.zip", response.content, "application/zip")})
    assert again.status_code == 201, again.text
    assert again.json()["classes"] == batch["classes"]


def test_generation_is_reproducible_by_seed(client, trained_model):
    batches = []
    for _ in range(2):
        job = submit(client, "generate", {"model_id": trained_model["id"], "count_per_class": 2, "seed": 3}).json()
        batches.append(client.get(f"/v1/batches/{wait_job(client, job['id'])['result']['batch_id']}/download"))
    with zipfile.ZipFile(io.BytesIO(batches[0].content)) as a, zipfile.ZipFile(io.BytesIO(batches[1].content)) as b:
        pngs = [n for n in a.namelist() if n.endswith(".png")]
        assert len(pngs) == 4
        assert all(a.read(n) == b.read(n) for n in pngs)


def test_fine_tune_from_a_model(client, dataset, trained_model):
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 4, "base_model_id": trained_model["id"],
                                   **TINY_TRAIN}).json()
    job = wait_job(client, job["id"])
    assert job["status"] == "succeeded", job
    assert job["params"]["base_model_id"] == trained_model["id"]


def test_idempotency_key_returns_the_first_job(client, dataset):
    params = {"dataset_id": dataset["id"], "steps": 2, **TINY_TRAIN}
    first = submit(client, "train", params, **{"Idempotency-Key": "abc-123"})
    second = submit(client, "train", params, **{"Idempotency-Key": "abc-123"})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    other_body = submit(client, "train", {**params, "steps": 3}, **{"Idempotency-Key": "abc-123"})
    assert other_body.status_code == 422
    assert other_body.headers["content-type"] == "application/problem+json"
    wait_job(client, first.json()["id"])


def test_a_job_that_raises_ends_failed_with_its_error(client, stack, trained_model):
    from core.storage import get_store

    imported = client.post("/v1/models", files={"file": ("m.safetensors",
                                                          client.get(f"/v1/models/{trained_model['id']}/checkpoint").content)})
    assert imported.status_code == 201, imported.text
    model = imported.json()
    from core.db import session_scope
    from core.tables import RegisteredModel

    with session_scope() as session:
        key = session.get(RegisteredModel, model["id"]).object_key
    get_store().put_bytes(key, b"\x00" * 64)  # the stored weights are damaged after import
    job = wait_job(client, submit(client, "generate", {"model_id": model["id"], "count_per_class": 1}).json()["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "bad_checkpoint" and model["id"] in job["error"]["message"]
    assert job["finished_at"] is not None


def test_download_url(stack, client, trained_model):
    job = submit(client, "generate", {"model_id": trained_model["id"], "count_per_class": 2}).json()
    batch_id = wait_job(client, job["id"])["result"]["batch_id"]
    response = client.get(f"/v1/batches/{batch_id}/download-url")
    if stack.kind == "embedded":
        assert response.status_code == 501  # a local folder cannot sign URLs
        return
    assert response.status_code == 200, response.text
    signed = response.json()
    direct = httpx.get(signed["url"])  # no API key: the signature is the credential
    assert direct.status_code == 200
    with zipfile.ZipFile(io.BytesIO(direct.content)) as zf:
        assert sorted(n for n in zf.namelist() if n.endswith(".png")) == [
            "crazing/crazing_00000.png", "crazing/crazing_00001.png",
            "scratches/scratches_00000.png", "scratches/scratches_00001.png"]
