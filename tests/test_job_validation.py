"""Bad job submissions answer 422 at once and store nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import TINY_TRAIN, submit


def _job_count() -> int:
    from core.db import session_scope
    from core.tables import Job

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job))


CASES = {
    "unknown kind": ("evolve", {}),
    "unknown architecture": ("train", {"architecture": "vqgan"}),
    "unknown parameter": ("train", {"learning_rate_typo": 1}),
    "unsupported resolution": ("train", {"resolution": 48}),
    "zero steps": ("train", {"steps": 0}),
    "missing dataset": ("train", {"dataset_id": "ds_doesnotexist"}),
    "missing base model": ("train", {"base_model_id": "mdl_nope"}),
    "missing model": ("generate", {"model_id": "mdl_nope", "count_per_class": 1}),
    "no count": ("generate", {}),
    "both counts": ("generate", {"count_per_class": 1, "counts": {"crazing": 1}}),
    "unknown class": ("generate", {"counts": {"rust": 2}}),
    "negative psi": ("generate", {"count_per_class": 1, "truncation_psi": -1}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_job_is_422(client, dataset, trained_model, case):
    kind, override = CASES[case]
    base = {"train": {"dataset_id": dataset["id"], **TINY_TRAIN},
            "generate": {"model_id": trained_model["id"]}}.get(kind, {})
    before = _job_count()
    response = submit(client, kind, {**base, **override})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["errors"] and all({"loc", "msg"} <= set(e) for e in problem["errors"])
    assert _job_count() == before


def test_named_field_is_reported(client, dataset):
    response = submit(client, "train", {"dataset_id": "ds_missing", **TINY_TRAIN})
    assert response.json()["errors"][0]["loc"] == ["body", "params", "dataset_id"]


def test_fine_tune_needs_a_compatible_model(client, dataset, trained_model):
    response = submit(client, "train", {"dataset_id": dataset["id"], "base_model_id": trained_model["id"],
                                        **{**TINY_TRAIN, "resolution": 64}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == "base_model_id"


def test_job_listing_filters(client, trained_model):
    jobs = client.get("/v1/jobs", params={"kind": "train", "status": "succeeded"}).json()["items"]
    assert jobs and all(j["kind"] == "train" and j["status"] == "succeeded" for j in jobs)
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/jobs", params={"limit": 501}).status_code == 422
