"""Limits per workspace (in-process, set low through the settings): queued plus running jobs (429 beyond) and
stored bytes of datasets, models, batches and backbones (413 beyond); a refused request stores nothing."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select, update

from core.tables import Batch, Dataset, Job, RegisteredModel
from tests.conftest import sample_zip, upload
from tests.inprocess import add_row, workspace_id


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets DEFECTGEN_* limits for one test; the API reads the settings anew, and again after the test."""
    from core.settings import get_settings

    def set_limits(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"DEFECTGEN_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield set_limits
    monkeypatch.undo()
    get_settings.cache_clear()


def _count(table: type) -> int:
    from core.db import session_scope

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(table).where(table.workspace_id == workspace_id()))


@pytest.fixture(scope="module")
def model(api) -> RegisteredModel:  # type: ignore[no-untyped-def]
    return add_row(RegisteredModel, config={"architecture": "cdcgan", "channels": 1, "class_names": ["a", "b"],
                                            "options": {"resolution": 32, "z_dim": 16, "width": 8}})


def _generate(api, model: RegisteredModel):  # type: ignore[no-untyped-def]
    return api.post("/v1/jobs", json={"kind": "generate", "params": {"model_id": model.id, "count_per_class": 1}})


def test_active_jobs_over_the_limit_are_429(api, model, limits):
    from core.db import session_scope

    queued, running = add_row(Job, status="queued"), add_row(Job, status="running")
    add_row(Job, status="succeeded")
    limits(workspace_max_active_jobs=2)
    before = _count(Job)
    refused = _generate(api, model)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "limit" in refused.json()["detail"]
    assert _count(Job) == before

    with session_scope() as session:
        session.execute(update(Job).where(Job.id.in_([queued.id, running.id])).values(status="failed"))
    accepted = _generate(api, model)
    assert accepted.status_code == 202, accepted.text


def test_stored_bytes_over_the_limit_are_413(api, model, limits):
    from core.db import session_scope
    from core.storage import get_store

    archive = sample_zip(per_class=3)
    used = sum(r.size_bytes for r in (add_row(Batch, size_bytes=5_000), model))
    limits(workspace_max_stored_bytes=used)
    datasets, objects = _count(Dataset), len(list(get_store().list_keys("datasets/")))
    for refused in (_generate(api, model), upload(api, archive)):
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["title"] == "Storage Limit Exceeded"
    assert (_count(Dataset), len(list(get_store().list_keys("datasets/")))) == (datasets, objects)

    limits(workspace_max_stored_bytes=used + 1_000)  # room for a job, not for the images
    assert _generate(api, model).status_code == 202
    too_big = upload(api, archive)
    assert too_big.status_code == 413 and "would add" in too_big.json()["detail"], too_big.text

    limits(workspace_max_stored_bytes=used + 10_000_000)
    stored = upload(api, archive)
    assert stored.status_code == 201, stored.text
    with session_scope() as session:
        size = session.get(Dataset, stored.json()["id"]).size_bytes
    assert size == stored.json()["size_bytes"] > 1_000


def test_model_import_counts_against_stored_bytes(api, limits):
    import safetensors.torch

    from models.classifiers import build_classifier

    weights = safetensors.torch.save(build_classifier("small-cnn", 2, 1).state_dict())
    models = _count(RegisteredModel)
    limits(workspace_max_stored_bytes=len(weights) // 2)
    refused = api.post("/v1/models", files={"file": ("cnn.safetensors", weights)}, data={"architecture": "small-cnn"})
    assert refused.status_code == 413, refused.text
    assert _count(RegisteredModel) == models
    limits(workspace_max_stored_bytes=10**12)
    imported = api.post("/v1/models", files={"file": ("cnn.safetensors", weights)}, data={"architecture": "small-cnn"})
    assert imported.status_code == 201, imported.text


def test_openapi_documents_the_limits(api):
    operation = api.get("/openapi.json").json()["paths"]["/v1/jobs"]["post"]
    assert {"202", "413", "429"} <= set(operation["responses"])
    assert "application/problem+json" in operation["responses"]["429"]["content"]
