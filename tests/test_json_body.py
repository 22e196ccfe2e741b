"""A JSON body sent without a JSON content type (what `curl -d` does) is a 415 naming the header, and stores
nothing."""
from __future__ import annotations

import json

import pytest

BODY = json.dumps({"kind": "train", "params": {"dataset_id": "ds_missing", "architecture": "cdcgan"}})


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_json_without_json_content_type_is_415(api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post("/v1/jobs", content=BODY, headers=headers)
    assert response.status_code == 415, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 415 and "Content-Type: application/json" in problem["detail"]
    assert (content_type or "without a Content-Type") in problem["detail"]
    assert api.get("/v1/jobs").json()["items"] == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_json_content_type_reaches_validation(api, content_type):
    response = api.post("/v1/jobs", content=BODY, headers={"Content-Type": content_type})
    assert response.status_code == 422 and "ds_missing" in response.text, response.text


def test_key_is_checked_first_and_an_empty_body_is_a_validation_error(api):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert api.post("/v1/jobs", content=BODY, headers={**form, "Authorization": "Bearer dg_wrong"}).status_code == 401
    empty = api.post("/v1/jobs", headers=form)
    assert empty.status_code == 422 and empty.json()["errors"][0]["loc"] == ["body"]


def test_openapi_documents_415(api):
    responses = api.get("/openapi.json").json()["paths"]["/v1/jobs"]["post"]["responses"]
    assert "application/problem+json" in responses["415"]["content"]
