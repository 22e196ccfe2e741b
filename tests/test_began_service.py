"""BEGAN through the service, on both stacks: M_global and k_t are in the job's metrics history (its "metrics"
events) and in its final metrics and the model's, so that a curve shows convergence."""
from __future__ import annotations

from tests.conftest import submit, wait_job

TINY = {"architecture": "began", "resolution": 32, "width": 8, "z_dim": 8, "hidden": 8, "batch_size": 4,
        "steps": 60, "sample_every": 60, "checkpoint_every": 60}


def test_m_global_and_k_t_are_in_the_metrics_history(client, dataset):
    accepted = submit(client, "train", {"dataset_id": dataset["id"], **TINY})
    assert accepted.status_code == 202, accepted.text
    job = wait_job(client, accepted.json()["id"])
    assert job["status"] == "succeeded", job
    history = [e for e in client.get(f"/v1/jobs/{job['id']}/events").json()["items"] if e["type"] == "metrics"]
    assert history, "no metrics event"
    for event in history:
        assert {"m_global", "k_t"} <= set(event["data"]), event
        assert 0.0 <= event["data"]["k_t"] <= 1.0
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    for metrics in (job["metrics"], model["metrics"]):
        assert metrics["m_global"] > 0 and 0.0 <= metrics["k_t"] <= 1.0
