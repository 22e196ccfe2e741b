"""Cancellation and crash recovery with real worker processes."""
from __future__ import annotations

import signal

from tests.conftest import TINY_TRAIN, submit, wait_job
from tests.stack import wait_until


def _progress(client, job_id: str, at_least: int) -> dict:  # type: ignore[no-untyped-def]
    def reached() -> dict | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        return job if job["progress"].get("step", 0) >= at_least else None

    return wait_until(reached, 120, interval=0.2, what=f"job {job_id} to reach step {at_least}")


def test_cancel_running_and_queued_jobs(client, dataset):
    long = {"dataset_id": dataset["id"], "steps": 100_000, **TINY_TRAIN}
    running = submit(client, "train", long).json()
    waiting = submit(client, "train", long).json()  # one worker process: this one waits in the queue
    _progress(client, running["id"], 3)

    cancelled = client.post(f"/v1/jobs/{waiting['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"

    assert client.post(f"/v1/jobs/{running['id']}/cancel").status_code == 202
    job = wait_job(client, running["id"], timeout=30)
    assert job["status"] == "cancelled" and job["finished_at"] and job["progress"]["step"] < 100_000

    again = client.post(f"/v1/jobs/{running['id']}/cancel")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/jobs/{waiting['id']}").json()["status"] == "cancelled"


def test_killed_worker_resumes_from_checkpoint(client, stack, dataset):
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 300, "checkpoint_every": 25,
                                   "sample_every": 1000, **TINY_TRAIN}).json()
    _progress(client, job["id"], 60)
    stack.kill_workers()
    killed_at = client.get(f"/v1/jobs/{job['id']}").json()["progress"]["step"]
    stack.start_worker()

    job = wait_job(client, job["id"], timeout=240)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    events = client.get(f"/v1/jobs/{job['id']}/events").json()["items"]
    assert any(e["type"] == "resumed" for e in events)
    requeue = [e for e in events if e["type"] == "status" and e["data"]["status"] == "queued"]
    assert len(requeue) == 2  # submitted, then requeued when the lease of the dead worker expired
    latest = max(e["step"] for e in events if e["type"] == "checkpoint" and e["id"] < requeue[1]["id"])
    resumed_from = next(e["step"] for e in events if e["type"] == "resumed")
    # The stored progress lags the running step by up to a heartbeat, so killed_at is a lower bound; a worker
    # killed between storing a checkpoint and recording its event resumes from a newer one than recorded.
    assert resumed_from >= latest and resumed_from >= killed_at - 25  # at most one interval lost
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    assert model["step"] == 300


def test_worker_shutdown_hands_the_job_back(client, stack, dataset):
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 250, "checkpoint_every": 10_000,
                                   "sample_every": 10_000, **TINY_TRAIN}).json()
    _progress(client, job["id"], 30)
    worker = stack.workers.pop()
    worker.send_signal(signal.SIGTERM)  # the main process only, as an orchestrator would stop it
    assert worker.wait(timeout=60) == 0

    handed_back = client.get(f"/v1/jobs/{job['id']}").json()
    assert handed_back["status"] == "queued" and handed_back["attempts"] == 0
    events = client.get(f"/v1/jobs/{job['id']}/events").json()["items"]
    saved_at = [e["step"] for e in events if e["type"] == "checkpoint"]
    assert len(saved_at) == 1 and saved_at[0] >= 30  # written at shutdown, not by the schedule

    stack.start_worker()
    job = wait_job(client, job["id"], timeout=240)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert any(e["type"] == "resumed" for e in client.get(f"/v1/jobs/{job['id']}/events").json()["items"])


def test_worker_parent_never_loads_torch(stack, client, trained_model):
    """Jobs run in pool processes; the parent must not initialise CUDA, so it never even loads torch."""
    job = submit(client, "generate", {"model_id": trained_model["id"], "count_per_class": 1}).json()
    assert wait_job(client, job["id"])["status"] == "succeeded"
    worker = stack.workers[-1]
    with open(f"/proc/{worker.pid}/maps") as maps:
        assert "libtorch" not in maps.read()
