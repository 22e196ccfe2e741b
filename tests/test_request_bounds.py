"""Bounded requests and answers (in-process): JSON bodies over max_json_bytes get a 413 before they are parsed,
ids carry a length and a pattern that /openapi.json states, and no error echoes a long value back."""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from core.tables import Dataset, Job
from tests.conftest import sample_zip, upload

SHORT_ANSWER = 2_000  # bytes: an error quotes an excerpt, never the value it refuses


def _count(table: type) -> int:
    from core.db import session_scope

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(table))


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _assert_short_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    assert len(response.content) < SHORT_ANSWER, response.text[:500]
    return response.json()


def test_20_mb_json_body_is_413_with_a_small_answer(api):
    body = json.dumps({"kind": "train", "params": {"dataset_id": "d" * 20_000_000}})
    before = _count(Job)
    response = api.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    problem = _assert_short_problem(response, 413)
    assert "1048576" in problem["detail"]
    assert _count(Job) == before


@pytest.mark.parametrize("declared", [None, "10"], ids=["no content-length", "content-length that lies"])
def test_streamed_bytes_are_counted(api, declared):
    body = json.dumps({"kind": "train", "params": {"dataset_id": "d" * 2_000_000}}).encode()
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = declared
    response = api.post("/v1/jobs", content=_chunks(body), headers=headers)
    _assert_short_problem(response, 413)


def test_json_limit_is_a_setting_and_spares_uploads(api, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("DEFECTGEN_MAX_JSON_BYTES", "100")
    get_settings.cache_clear()
    try:
        response = api.post("/v1/jobs", json={"kind": "generate", "params": {"model_id": "m" * 200}})
        assert "limit of 100 bytes" in _assert_short_problem(response, 413)["detail"]
        assert upload(api, sample_zip(per_class=3)).status_code == 201  # multipart: max_upload_bytes applies
    finally:
        monkeypatch.delenv("DEFECTGEN_MAX_JSON_BYTES")
        get_settings.cache_clear()


def test_long_id_is_422_with_a_short_answer(api):
    long_id = "ds_" + "0" * 500_000
    before = _count(Job)
    response = api.post("/v1/jobs", json={"kind": "evaluate", "params": {"model_id": long_id,
                                                                          "dataset_id": long_id}})
    problem = _assert_short_problem(response, 422)
    assert {tuple(e["loc"]) for e in problem["errors"]} == {("body", "params", "model_id"),
                                                             ("body", "params", "dataset_id")}
    assert _count(Job) == before


@pytest.mark.parametrize("bad", ["", "ds/../x", "ds 1", "-ds", "ds_\n"])
def test_malformed_id_is_422(api, bad):
    response = api.post("/v1/jobs", json={"kind": "train", "params": {"dataset_id": bad}})
    problem = _assert_short_problem(response, 422)
    assert ["body", "params", "dataset_id"] in [e["loc"] for e in problem["errors"]]


def test_long_class_name_key_is_cut_in_the_answer(api):
    response = api.post("/v1/jobs", json={"kind": "generate", "params": {
        "model_id": "mdl_x", "counts": {"c" * 500_000: 1}}})
    problem = _assert_short_problem(response, 422)
    assert any("counts" in e["loc"] for e in problem["errors"])


@pytest.mark.parametrize("path", ["/v1/datasets/{}", "/v1/jobs/{}/events"])
def test_long_path_id_is_422(api, path):
    response = api.get(path.format("x" * 50_000))
    problem = _assert_short_problem(response, 422)
    assert problem["errors"][0]["loc"][0] == "path"


def test_a_50000_character_id_is_a_short_422(api):
    problem = _assert_short_problem(api.get("/v1/models/" + "x" * 50_000), 422)  # every id path has the id pattern
    assert problem["errors"][0]["loc"] == ["path", "model_id"]


def test_openapi_states_the_constraints(api):
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    model_id = schemas["EvaluateParams"]["properties"]["model_id"]
    assert model_id["maxLength"] == 64 and model_id["minLength"] == 1 and model_id["pattern"].startswith("^")
    dataset_id = schemas["GenerateParams"]["properties"]["top_up_dataset_id"]["anyOf"][0]
    assert dataset_id["maxLength"] == 64


def test_long_class_folder_is_422_with_a_short_answer(api):
    long_name = "c" * 5_000
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sample_zip(per_class=3))) as source, zipfile.ZipFile(out, "w") as renamed:
        for name in source.namelist():
            renamed.writestr(name.replace("crazing", long_name), source.read(name))
    before = _count(Dataset)
    problem = _assert_short_problem(upload(api, out.getvalue()), 422)
    assert "at most 200 characters" in problem["errors"][0]["msg"]
    assert _count(Dataset) == before
