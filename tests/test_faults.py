"""Fault tests on the production stack (PostgreSQL, Redis, S3): each one asserts that nothing is lost."""
from __future__ import annotations

import random
import signal
import threading
import time

import httpx
import pytest
import torch

from core.queue import enqueue
from models.snapshot import model_info, read_model
from tests.conftest import TINY_TRAIN, sample_zip, submit, wait_job
from tests.stack import Stack, wait_until

FAST = {**TINY_TRAIN, "sample_every": 10_000}


@pytest.fixture
def prod(stack: Stack) -> Stack:
    if stack.kind != "production":
        pytest.skip("fault tests run against the production stack")
    return stack


def _running_at(client: httpx.Client, job_id: str, step: int, attempts: int | None = None) -> dict:
    def reached() -> dict | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        ready = job["status"] == "running" and job["progress"].get("step", 0) >= step
        return job if ready and (attempts is None or job["attempts"] == attempts) else None

    return wait_until(reached, 180, interval=0.1, what=f"job {job_id} running at step {step}")


def _events(client: httpx.Client, job_id: str) -> list[dict]:
    return client.get(f"/v1/jobs/{job_id}/events", params={"limit": 500}).json()["items"]


def _assert_valid_model(client: httpx.Client, model_id: str, step: int) -> None:
    model = client.get(f"/v1/models/{model_id}").json()
    assert model["step"] == step
    info = model_info(client.get(f"/v1/models/{model_id}/checkpoint").content)
    assert info["step"] == step


def test_sigkill_during_training_resumes_each_time(prod, client, dataset):
    interval = 20
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 200, "checkpoint_every": interval,
                                   **FAST}).json()
    rng = random.Random(1)
    for attempt in (1, 2, 3):
        _running_at(client, job["id"], rng.randint(1, 2 * interval) + (attempt - 1) * interval, attempt)
        time.sleep(rng.uniform(0, 1.0))
        prod.kill_workers()
        prod.start_worker()
    job = wait_job(client, job["id"], timeout=300)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 4  # three lost workers and the one that finished, within the cap of 4
    _assert_valid_model(client, job["result"]["model_id"], 200)

    events = _events(client, job["id"])
    starts = [e for e in events if e["type"] == "status" and e["data"]["status"] == "running"]
    resumes = [e for e in events if e["type"] == "resumed"]
    assert len(resumes) == 3
    for before, after, resumed in zip(starts, starts[1:], resumes):
        last_step = max((e["step"] for e in events if before["id"] < e["id"] < after["id"] and e["step"]),
                        default=0)
        saved = [e["step"] for e in events if e["type"] == "checkpoint" and e["id"] < after["id"]]
        # Each attempt resumes from a checkpoint no older than the last one recorded (a worker killed between
        # storing a checkpoint and recording its event leaves a newer one), at most one interval behind the step
        # seen.
        assert resumed["step"] >= max(saved, default=0), (resumed, saved)
        assert resumed["step"] >= last_step - interval, (resumed, last_step)


def test_a_job_that_kills_its_worker_every_time_fails_after_the_cap(prod, client, dataset):
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 100_000, **FAST}).json()
    for attempt in (1, 2, 3, 4):
        _running_at(client, job["id"], 1, attempt)
        prod.kill_workers()
        prod.start_worker()
    job = wait_job(client, job["id"], timeout=120)
    assert job["status"] == "failed" and job["attempts"] == 4
    assert job["error"]["code"] == "worker_lost" and "4 attempts" in job["error"]["message"]


def test_singan_killed_mid_pyramid_resumes_and_ends_as_an_uninterrupted_run(prod, client, dataset):
    # 2 classes x 1 image x 3 scales x 30 steps: the kill lands in the first pyramid's second scale or later
    params = {"dataset_id": dataset["id"], "architecture": "singan", "resolution": 32, "min_size": 20, "width": 8,
              "steps_per_scale": 30, "images_per_class": 1, "checkpoint_every": 5, "sample_every": 10_000}
    killed = submit(client, "train", params).json()
    _running_at(client, killed["id"], 40)
    prod.kill_workers()
    prod.start_worker()
    killed = wait_job(client, killed["id"], timeout=300)
    whole = wait_job(client, submit(client, "train", params).json()["id"], timeout=300)
    assert killed["status"] == whole["status"] == "succeeded", (killed, whole)
    resumed = [e["step"] for e in _events(client, killed["id"]) if e["type"] == "resumed"]
    assert killed["attempts"] == 2 and len(resumed) == 1 and 35 <= resumed[0] < killed["progress"]["total_steps"]
    a, b = (read_model(client.get(f"/v1/models/{job['result']['model_id']}/checkpoint").content).generator
            for job in (killed, whole))
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_redis_restart_loses_no_job_and_runs_none_twice(prod, client, dataset):
    running = submit(client, "train", {"dataset_id": dataset["id"], "steps": 150, "checkpoint_every": 25,
                                       **FAST}).json()
    queued = [submit(client, "train", {"dataset_id": dataset["id"], "steps": 10, "seed": i, **FAST}).json()
              for i in range(2)]
    _running_at(client, running["id"], 10)
    prod.servers.redis.restart()
    for job in (running, *queued):
        done = wait_job(client, job["id"], timeout=300)
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 1  # claimed exactly once: never two workers on one job
        statuses = [e["data"]["status"] for e in _events(client, job["id"]) if e["type"] == "status"]
        assert statuses == ["queued", "running", "succeeded"]


def _stored_datasets() -> tuple[set[str], set[str]]:
    from core.db import session_scope
    from core.storage import get_store
    from core.tables import Dataset

    with session_scope() as session:
        rows = {d.id for d in session.query(Dataset)}
    return rows, {key.split("/")[1] for key in get_store().list_keys("datasets/")}


def _upload_in_background(client: httpx.Client, **request: object) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def upload() -> None:
        try:
            outcome["response"] = client.post("/v1/datasets", **request)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=upload)
    thread.start()
    return thread, outcome


def _restart_api_and_check(prod: Stack, thread: threading.Thread, outcome: dict, before: tuple,
                           killed: threading.Event | None = None) -> None:
    prod.kill(prod.api)
    if killed:
        killed.set()
    thread.join(60)
    assert "error" in outcome, f"a killed upload must not be answered, got {outcome.get('response')}"
    # Nothing else uploads meanwhile. Only this API start may use no grace: the API sweeps only at start, but a
    # worker restarted later with it would sweep the uploads of tests that run after this one.
    prod.env["DEFECTGEN_ORPHAN_UPLOAD_GRACE_SECONDS"] = "0"
    try:
        prod.start_api()
    finally:
        del prod.env["DEFECTGEN_ORPHAN_UPLOAD_GRACE_SECONDS"]
    assert _stored_datasets() == before


def test_api_killed_while_the_upload_streams_in(prod, client):
    before = _stored_datasets()
    boundary = "defectgen-test-boundary"
    sent, killed = threading.Event(), threading.Event()

    def slow_body():  # type: ignore[no-untyped-def]
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.zip\"\r\n"
               "Content-Type: application/zip\r\n\r\n").encode()
        data = sample_zip()
        yield data[: len(data) // 2]
        sent.set()
        killed.wait(30)  # the API dies meanwhile
        yield data[len(data) // 2:] + f"\r\n--{boundary}--\r\n".encode()

    thread, outcome = _upload_in_background(
        client, content=slow_body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert sent.wait(30)
    _restart_api_and_check(prod, thread, outcome, before, killed)


def test_api_killed_while_the_dataset_is_being_stored(prod, client):
    before = _stored_datasets()
    data = sample_zip(per_class=1500, size=24)
    thread, outcome = _upload_in_background(client, files={"file": ("big.zip", data, "application/zip")})
    # The first objects of the new dataset appear in the store before its rows are committed.
    wait_until(lambda: _stored_datasets()[1] - before[1], 60, interval=0.01, what="the upload's first objects")
    _restart_api_and_check(prod, thread, outcome, before)


def test_s3_outage_during_checkpoint_writes(prod, client, dataset):
    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 120, "checkpoint_every": 2,
                                   **FAST}).json()
    _running_at(client, job["id"], 10)
    prod.servers.s3.stop()
    time.sleep(3)
    prod.servers.s3.start()
    job = wait_job(client, job["id"], timeout=300)
    if job["status"] == "succeeded":
        _assert_valid_model(client, job["result"]["model_id"], 120)
    else:  # failing cleanly is allowed; a corrupt checkpoint is not
        assert job["status"] == "failed" and job["error"]["message"]
    from core.storage import get_store
    from core.storage_keys import checkpoint_key

    assert not get_store().exists(checkpoint_key(job["id"]))  # training state ends with the job


def test_duplicate_deliveries_never_train_one_job_twice(prod, client, dataset):
    extra = prod.start_worker()
    try:
        job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 40, **FAST}).json()
        for _ in range(3):
            enqueue(job["id"], "train", "gpu")  # the broker delivers the same job four times to two workers
        job = wait_job(client, job["id"], timeout=240)
        assert job["status"] == "succeeded" and job["attempts"] == 1
        statuses = [e["data"]["status"] for e in _events(client, job["id"]) if e["type"] == "status"]
        assert statuses == ["queued", "running", "succeeded"]
    finally:
        prod.kill(extra, signal.SIGTERM)
        prod.workers.remove(extra)
