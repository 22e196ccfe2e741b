"""/openapi.json agrees with ../shared/API.md: every documented route exists with its methods."""
from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

API_MD = Path(__file__).resolve().parents[2] / "shared" / "API.md"


def _shape(path: str) -> str:
    """'/v1/jobs/{job_id}?x=1' -> '/v1/jobs/{}': parameter names may differ between the two documents."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


def documented_routes() -> set[tuple[str, str]]:
    found = re.findall(r"`(GET|POST|DELETE|PUT|PATCH) (/[^`\s]*)`", API_MD.read_text())
    return {(method.lower(), _shape(path)) for method, path in found}


@pytest.mark.skipif(not API_MD.exists(), reason="the contract lives in ../shared beside the checkout")
def test_every_documented_route_is_served(stack):
    spec = httpx.get(f"{stack.url}/openapi.json").json()
    served = {(method, _shape(path)) for path, item in spec["paths"].items() for method in item}
    missing = documented_routes() - served
    assert not missing, f"API.md routes missing from /openapi.json: {sorted(missing)}"


def test_openapi_documents_kinds_and_problems(stack):
    spec = httpx.get(f"{stack.url}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"TrainParams_cdcgan", "GenerateParams", "JobOut", "DatasetOut", "ModelOut", "BatchOut"} <= set(schemas)
    assert set(schemas["JobOut"]["properties"]["status"]["enum"]) == {
        "queued", "running", "succeeded", "failed", "cancelled"}


embedded = pytest.mark.parametrize("stack", ["embedded"], indirect=True)
ERROR_STATUSES = ("4", "5")


def _document() -> dict:
    from api.main import app

    return app.openapi()


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_every_error_is_a_problem_in_the_document():
    document = _document()
    schemas = document["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError"} & set(schemas)
    assert set(schemas["Problem"]["required"]) == {"title", "status", "detail"}
    assert schemas["ProblemError"]["required"] == ["loc", "msg"]
    for method, path, op in _operations(document):
        assert op.get("summary") and op.get("description"), (method, path)
        for status, response in op["responses"].items():
            if status.startswith(ERROR_STATUSES):
                assert response["content"] == {"application/problem+json": {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path, status)
        if path.startswith("/v1/"):
            assert op["security"] == [{"HTTPBearer": []}] and {"401", "422"} <= set(op["responses"]), (method, path)
        ids = [p for p in op.get("parameters", []) if p["in"] == "path" and p["name"].endswith("_id")]
        for parameter in ids:
            assert parameter["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.-]*$", (method, path)
            assert "404" in op["responses"], (method, path)


def test_creating_routes_link_to_the_routes_that_use_the_new_id():
    document = _document()
    operation_ids = {op["operationId"] for _, _, op in _operations(document)}
    creating = {("POST", "/v1/datasets"): "201", ("POST", "/v1/jobs"): "202", ("POST", "/v1/models"): "201",
                ("POST", "/v1/backbones"): "201"}
    for (method, path), status in creating.items():
        links = document["paths"][path][method.lower()]["responses"][status]["links"]
        assert links and {link["operationId"] for link in links.values()} <= operation_ids, path
    dataset_links = document["paths"]["/v1/datasets"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in dataset_links.values()} == {
        "read_dataset", "delete_dataset", "dataset_preview", "create_job"}
    assert dataset_links["TrainOnDataset"]["requestBody"]["params"]["dataset_id"] == "$response.body#/id"


def test_names_from_the_registries_are_enums():
    from core.kinds import kind_names
    from models.classifiers import classifier_names
    from models.metrics.registry import metric_names

    document = _document()
    schemas = document["components"]["schemas"]
    jobs_query = {p["name"]: p["schema"] for p in document["paths"]["/v1/jobs"]["get"]["parameters"]}
    assert jobs_query["kind"]["anyOf"][0]["enum"] == list(kind_names())
    assert schemas["Body_import_model"]["properties"]["architecture"]["enum"] == classifier_names()
    assert schemas["AugmentationReportParams"]["properties"]["classifier"]["enum"] == classifier_names()
    assert schemas["EvaluateParams"]["properties"]["metrics"]["items"]["enum"] == metric_names()
    assert schemas["Body_upload_dataset"]["properties"]["file"]["minLength"] == 1
    assert "/v1/reports/{report_id}/plots/{name}.png" in document["paths"]


@pytest.mark.parametrize(("params", "loc"), [
    ({"architecture": "nope"}, ["body", "params", "architecture"]),
    ({"architecture": "stylegan2-ada", "resolution": 7}, ["body", "params", "resolution"]),
    ({"resolution": 7}, ["body", "params", "resolution"]),
    ({"architecture": "fastgan", "resolution": 512}, ["body", "params", "resolution"]),  # needs CUDA: resolve's
    ({"holdout": {"fraction": 2}}, ["body", "params", "holdout", "fraction"]),
    ({"dataset_id": "ds_nowhere"}, ["body", "params", "dataset_id"]),
])
def test_an_invalid_param_is_located_at_its_field(api, params, loc):
    from core.tables import Dataset
    from tests.inprocess import add_row

    body = {"kind": "train", "params": {"dataset_id": add_row(Dataset).id, **params}}
    refused = api.post("/v1/jobs", json=body)
    assert refused.status_code == 422, refused.text
    assert [error["loc"] for error in refused.json()["errors"]] == [loc]


@pytest.mark.parametrize(("body", "loc"), [({"kind": "nope", "params": {}}, ["body", "kind"]),
                                           ({"params": {}}, ["body", "kind"])])
def test_a_kind_that_names_none_is_located_at_kind(api, body, loc):
    refused = api.post("/v1/jobs", json=body)
    assert refused.status_code == 422 and [error["loc"] for error in refused.json()["errors"]] == [loc]


def test_a_queued_job_does_not_claim_zero_steps(api):
    from core.tables import Dataset
    from tests.inprocess import add_row

    job = api.post("/v1/jobs", json={"kind": "train", "params": {"dataset_id": add_row(Dataset).id}}).json()
    assert job["status"] == "queued" and job["progress"]["total_steps"] is None


@embedded
def test_a_finished_job_says_how_it_ended(client, trained_model):
    job = client.get(f"/v1/jobs/{trained_model['job_id']}").json()
    assert job["status"] == "succeeded" and job["progress"]["message"] == "succeeded"
    assert job["progress"]["step"] == job["progress"]["total_steps"] == 20
