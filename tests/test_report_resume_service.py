"""An augmentation_report whose worker is killed after its first checkpoint resumes on a new worker and does
not train its finished (repeat, setting) runs again."""
from __future__ import annotations

from tests.conftest import submit, wait_job
from tests.stack import wait_until

# 2 repeats x 2 settings; enough epochs that the kill lands before the report ends.
REPORT = {"classifier": "small-cnn", "epochs": 40, "repeats": 2, "resolution": 32, "batch_size": 8,
          "synthetic_per_class": [2], "gradcam_samples": 0, "test_fraction": 0.35}


def _events(client, job_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return client.get(f"/v1/jobs/{job_id}/events", params={"limit": 500}).json()["items"]


def test_killed_report_resumes_without_rerunning_finished_settings(client, stack, dataset, trained_model):
    batch = wait_job(client, submit(client, "generate", {"model_id": trained_model["id"],
                                                         "count_per_class": 2}).json()["id"])
    job = submit(client, "augmentation_report", {"train_dataset_id": dataset["id"],
                                                 "batch_id": batch["result"]["batch_id"], **REPORT}).json()
    wait_until(lambda: any(e["type"] == "checkpoint" for e in _events(client, job["id"])), 120, interval=0.05,
               what="the report's first checkpoint")
    stack.kill_workers()
    stack.start_worker()

    job = wait_job(client, job["id"], timeout=180)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    events = _events(client, job["id"])
    resumed = next(e for e in events if e["type"] == "resumed")
    before = [e["data"] for e in events if e["type"] == "checkpoint" and e["id"] < resumed["id"]]
    after = [e["data"] for e in events if e["type"] == "checkpoint" and e["id"] > resumed["id"]]
    assert resumed["data"]["finished"] >= len(before) >= 1
    assert [d["finished"] for d in after] == list(range(resumed["data"]["finished"] + 1, 5))
    runs = [(d["repeat"], d["setting"]) for d in before + after]
    assert len(set(runs)) == len(runs) == 4 - (resumed["data"]["finished"] - len(before))
    report = client.get(f"/v1/reports/{job['result']['report_id']}").json()
    assert all(len(s["accuracy"]["runs"]) == 2 for s in report["summary"]["settings"])
