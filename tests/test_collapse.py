"""Diversity in the auto backbone through the live service: measured while training, by evaluate jobs, and the
collapse flag on the model and its generate jobs."""
from __future__ import annotations

from core.db import session_scope
from core.storage import get_store
from core.tables import RegisteredModel
from tests.conftest import TINY_TRAIN, submit, wait_job

CLASSES = {"crazing", "scratches"}


def events(client, job_id: str, type_: str) -> list[dict]:  # type: ignore[no-untyped-def]
    items = client.get(f"/v1/jobs/{job_id}/events", params={"limit": 500}).json()["items"]
    return [e for e in items if e["type"] == type_]


def test_train_reports_diversity_and_evaluate_measures_in_auto(client, dataset, trained_model):
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 8, "sample_every": 4, "checkpoint_every": 8,
                                   "eval_every": 4, "eval_samples": 8, "eval_backbone": "auto", **TINY_TRAIN}).json()
    job = wait_job(client, job["id"], timeout=300)
    assert job["status"] == "succeeded", job
    measured = events(client, job["id"], "diversity")
    assert [e["step"] for e in measured] == [4, 8]
    fingerprint = measured[0]["data"]["backbone_fingerprint"]
    for event in measured:
        data = event["data"]
        assert data["backbone"] == "auto" and data["backbone_fingerprint"] == fingerprint and len(fingerprint) == 64
        assert set(data["per_class"]) == CLASSES and data["threshold"] == 0.3 and data["pixel_spread"] >= 0
    evals = events(client, job["id"], "eval")
    assert [e["step"] for e in evals] == [4, 8]
    assert all(e["data"]["backbone"] == "auto" and e["data"]["backbone_fingerprint"] == fingerprint for e in evals)
    best = min(evals, key=lambda e: e["data"]["value"])
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    assert model["metrics"]["diversity"] == best["data"]["diversity"] == job["metrics"]["diversity"]
    collapsed = best["data"]["diversity"] < 0.3
    assert model["metrics"]["collapsed"] is job["metrics"]["collapsed"] is collapsed
    assert model["flags"] == (["collapsed"] if collapsed else [])
    assert len(events(client, job["id"], "collapse")) == int(collapsed)

    backbones = set(get_store().list_keys("backbones/auto/"))
    evaluate = submit(client, "evaluate", {"model_id": trained_model["id"], "dataset_id": dataset["id"],
                                           "backbone": "auto", "metrics": ["fid", "kid", "recall", "diversity"],
                                           "num_samples": 12}).json()
    evaluate = wait_job(client, evaluate["id"], timeout=300)
    assert evaluate["status"] == "succeeded", evaluate
    result = evaluate["result"]["metrics"]
    # the same dataset at the same size: the auto backbone trained for the train job is reused
    assert result["backbone"] == "auto" and result["backbone_fingerprint"] == fingerprint
    assert set(get_store().list_keys("backbones/auto/")) == backbones  # none trained afresh
    assert result["metrics"]["fid"]["fid"] > 0 and result["metrics"]["kid"]["kid"] is not None
    diversity = result["metrics"]["diversity"]
    assert diversity["diversity"] is not None and set(diversity["per_class"]) == CLASSES
    for name in CLASSES:
        assert {"recall", "diversity"} <= set(result["per_class"][name])
    assert evaluate["result"]["flags"] == (["collapsed"] if diversity["collapsed"] else [])
    model = client.get(f"/v1/models/{trained_model['id']}").json()
    assert model["metrics"]["diversity"] == diversity["diversity"] and model["flags"] == evaluate["result"]["flags"]


def test_a_generate_job_from_a_flagged_model_says_so(client, trained_model):
    with session_scope() as session:
        row = session.get(RegisteredModel, trained_model["id"])
        saved = (row.flags, row.metrics)
        row.flags, row.metrics = ["collapsed"], {**row.metrics, "diversity": 0.12}
    try:
        assert client.get(f"/v1/models/{trained_model['id']}").json()["flags"] == ["collapsed"]
        job = submit(client, "generate", {"model_id": trained_model["id"], "count_per_class": 1}).json()
        job = wait_job(client, job["id"])
        assert job["status"] == "succeeded", job
        assert job["result"]["warnings"] == [f"model {trained_model['id']} is flagged as collapsed: "
                                             f"diversity 0.12 < 0.3"]
    finally:
        with session_scope() as session:
            row = session.get(RegisteredModel, trained_model["id"])
            row.flags, row.metrics = saved
