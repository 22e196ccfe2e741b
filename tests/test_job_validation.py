"""Bad job submissions answer 422 at once and store nothing (in-process: no worker is needed)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.tables import Dataset, Job, RegisteredModel
from tests.conftest import TINY_TRAIN
from tests.inprocess import add_row


@pytest.fixture(scope="module")
def rows(api):  # type: ignore[no-untyped-def]
    classes = [{"name": "crazing", "count": 6}, {"name": "scratches", "count": 6}]
    dataset = add_row(Dataset, classes=classes)
    model = add_row(RegisteredModel, classes=["crazing", "scratches"], dataset_id=dataset.id,
                    config={"architecture": "cdcgan", "channels": 1, "class_names": ["crazing", "scratches"],
                            "options": {"resolution": 32, "z_dim": 16, "width": 8}})
    return dataset, model


def _job_count() -> int:
    from core.db import session_scope

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job))


def submit(api, kind: str, params: dict):  # type: ignore[no-untyped-def]
    return api.post("/v1/jobs", json={"kind": kind, "params": params})


CASES = {
    "unknown kind": ("evolve", {}),
    "unknown architecture": ("train", {"architecture": "vqgan"}),
    "unknown parameter": ("train", {"learning_rate_typo": 1}),
    "unsupported resolution": ("train", {"resolution": 48}),
    "zero steps": ("train", {"steps": 0}),
    "unknown crop": ("train", {"crop": "tile"}),
    "missing dataset": ("train", {"dataset_id": "ds_doesnotexist"}),
    "missing base model": ("train", {"base_model_id": "mdl_nope"}),
    "missing model": ("generate", {"model_id": "mdl_nope", "count_per_class": 1}),
    "no count": ("generate", {}),
    "both counts": ("generate", {"count_per_class": 1, "counts": {"crazing": 1}}),
    "unknown class": ("generate", {"counts": {"rust": 2}}),
    "negative psi": ("generate", {"count_per_class": 1, "truncation_psi": -1}),
    "unknown size": ("generate", {"count_per_class": 1, "size": [200, 200]}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_job_is_422(api, rows, case):
    dataset, model = rows
    kind, override = CASES[case]
    base = {"train": {"dataset_id": dataset.id, **TINY_TRAIN}, "generate": {"model_id": model.id}}.get(kind, {})
    before = _job_count()
    response = submit(api, kind, {**base, **override})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["errors"] and all({"loc", "msg"} <= set(e) for e in problem["errors"])
    assert _job_count() == before


@pytest.mark.parametrize(("kind", "params", "loc"), [
    ("train", {"dataset_id": "ds_missing", **TINY_TRAIN}, ["body", "params", "dataset_id"]),
    ("train", {"dataset_id": "ds_missing", **TINY_TRAIN, "resolution": 48}, ["body", "params", "resolution"]),
    ("train", {"dataset_id": "ds_missing", **TINY_TRAIN, "crop": "center"}, ["body", "params", "crop"]),
    ("generate", {"model_id": "mdl_missing", "count_per_class": 1}, ["body", "params", "model_id"]),
    ("generate", {"model_id": "m", "count_per_class": 1, "size": "large"}, ["body", "params", "size"]),
    ("generate", {"model_id": "m", "count_per_class": 1, "filter": {"classifier_model_id": "mdl_x", "threshold": 2}},
     ["body", "params", "filter", "threshold"]),
])
def test_every_error_location_has_one_shape(api, kind, params, loc):
    response = submit(api, kind, params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc


def test_crop_and_size_default_to_random_and_native(api, rows):
    dataset, model = rows
    train = submit(api, "train", {"dataset_id": dataset.id, **TINY_TRAIN})
    assert train.status_code == 202, train.text
    assert train.json()["params"]["crop"] == "random"
    resized = submit(api, "train", {"dataset_id": dataset.id, **TINY_TRAIN, "crop": "resize"})
    assert resized.json()["params"]["crop"] == "resize"
    generate = submit(api, "generate", {"model_id": model.id, "count_per_class": 1})
    assert generate.status_code == 202, generate.text
    assert generate.json()["params"]["size"] == "native"


def test_fine_tune_needs_a_compatible_model(api, rows):
    dataset, model = rows
    response = submit(api, "train", {"dataset_id": dataset.id, "base_model_id": model.id,
                                     **{**TINY_TRAIN, "resolution": 64}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "params", "resolution"]
    other = submit(api, "train", {"dataset_id": dataset.id, "base_model_id": model.id, "architecture": "dcgan"})
    assert other.json()["errors"][0]["loc"] == ["body", "params", "base_model_id"]
    singan = submit(api, "train", {"dataset_id": dataset.id, "base_model_id": model.id, "architecture": "singan"})
    assert singan.status_code == 422
    assert singan.json()["errors"][0]["loc"] == ["body", "params", "base_model_id"]
    assert "cannot be fine-tuned" in singan.json()["errors"][0]["msg"]


def test_job_listing_filters(api):
    add_row(Job, kind="train", status="succeeded")
    add_row(Job, kind="generate", status="failed")
    jobs = api.get("/v1/jobs", params={"kind": "train", "status": "succeeded"}).json()["items"]
    assert jobs and all(j["kind"] == "train" and j["status"] == "succeeded" for j in jobs)
    assert api.get("/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert api.get("/v1/jobs", params={"limit": 501}).status_code == 422
