"""Keys are required everywhere under /v1, and a workspace sees nothing of another (404, never 403)."""
from __future__ import annotations

import httpx
import pytest

from tests.conftest import submit, wait_job

V1_ROUTES = [
    ("GET", "/v1/datasets"), ("POST", "/v1/datasets"), ("GET", "/v1/jobs"), ("POST", "/v1/jobs"),
    ("GET", "/v1/models"), ("POST", "/v1/models"), ("GET", "/v1/batches"), ("GET", "/v1/datasets/ds_x"),
]


@pytest.mark.parametrize("method,path", V1_ROUTES)
def test_missing_or_wrong_key_is_401(stack, method, path):
    for headers in ({}, {"Authorization": "Bearer dg_wrong"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = httpx.request(method, stack.url + path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_health_and_metrics_need_no_key(stack):
    assert httpx.get(f"{stack.url}/healthz").status_code == 200
    assert httpx.get(f"{stack.url}/readyz").status_code == 200
    metrics = httpx.get(f"{stack.url}/metrics")
    assert metrics.status_code == 200 and "defectgen_http_requests_total" in metrics.text


def test_other_workspace_sees_nothing(client, other_client, dataset, trained_model):
    job = submit(client, "generate", {"model_id": trained_model["id"], "count_per_class": 1}).json()
    batch_id = wait_job(client, job["id"])["result"]["batch_id"]
    owned = {
        "dataset": [f"/v1/datasets/{dataset['id']}", f"/v1/datasets/{dataset['id']}/preview.png"],
        "job": [f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/events", f"/v1/jobs/{job['id']}/samples"],
        "model": [f"/v1/models/{trained_model['id']}", f"/v1/models/{trained_model['id']}/checkpoint"],
        "batch": [f"/v1/batches/{batch_id}", f"/v1/batches/{batch_id}/download",
                  f"/v1/batches/{batch_id}/download-url"],
    }
    for paths in owned.values():
        for path in paths:
            assert client.get(path).status_code in (200, 501), path
            response = other_client.get(path)
            assert response.status_code == 404, (path, response.text)
    for path in (f"/v1/datasets/{dataset['id']}", f"/v1/models/{trained_model['id']}", f"/v1/batches/{batch_id}"):
        assert other_client.delete(path).status_code == 404
    assert other_client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 404
    for listing in ("/v1/datasets", "/v1/jobs", "/v1/models", "/v1/batches"):
        assert other_client.get(listing).json()["items"] == []
    # ids of another workspace are unknown ids when a job names them
    stolen = submit(other_client, "generate", {"model_id": trained_model["id"], "count_per_class": 1})
    assert stolen.status_code == 422
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 200
