"""Webhooks through the service: a real worker posts to receivers on loopback that fail, hang, or are down while
the worker is killed and replaced; every delivery verifies with the standardwebhooks verifier."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import standardwebhooks.webhooks
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import TINY_TRAIN, submit, wait_job
from tests.stack import free_port, wait_until

pytestmark = pytest.mark.parametrize("stack", ["embedded"], indirect=True)
QUICK = {**TINY_TRAIN, "steps": 2, "sample_every": 10_000, "checkpoint_every": 10_000}


@dataclass
class Received:
    at: float  # time.monotonic()
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server in this process that records each POST and answers with the next of `answers` (then 200),
    after `delay` seconds."""

    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/defectgen"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(Received(time.monotonic(), dict(self.headers), body))
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.block_on_close = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _create(client: httpx.Client, url: str, event_types: list[str]) -> dict:
    response = client.post("/v1/webhooks", json={"url": url, "event_types": event_types})
    assert response.status_code == 201, response.text
    return response.json()


def _deliveries(client: httpx.Client, hook: dict) -> list[dict]:
    return client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]


def _verified(hook: dict, request: Received) -> dict:
    return Webhook(hook["secret"]).verify(request.body, request.headers)


def test_failing_and_hanging_receivers(client, dataset, monkeypatch):
    flaky = Receiver(answers=[500, 500]).start()
    hanging = Receiver(delay=5).start()  # beyond DEFECTGEN_WEBHOOK_TIMEOUT_SECONDS=2
    try:
        flaky_hook = _create(client, flaky.url, ["job.succeeded", "job.failed"])
        hanging_hook = _create(client, hanging.url, ["job.succeeded"])
        _create(client, flaky.url, ["job.cancelled"])  # not this job's outcome: never sent
        job = submit(client, "train", {"dataset_id": dataset["id"], **QUICK}).json()

        def final() -> float | None:
            status = client.get(f"/v1/jobs/{job['id']}").json()["status"]
            assert status in ("queued", "running", "succeeded"), status
            return time.monotonic() if status == "succeeded" else None

        finished = wait_until(final, 120, interval=0.05, what="the job to succeed")
        wait_until(lambda: hanging.requests, 10, interval=0.05, what="the hanging receiver's first request")
        # The outcome is visible as soon as it is committed, with its deliveries; had sending been part of
        # finishing the job, the status would have appeared only after the hanging request had timed out (2 s).
        assert finished < hanging.requests[0].at + 1.0

        delivered = wait_until(lambda: [d for d in _deliveries(client, flaky_hook) if d["status"] == "delivered"],
                               30, interval=0.1, what="the flaky receiver's delivery")
        [delivery] = delivered
        assert (delivery["attempts"], delivery["last_status_code"], delivery["event_type"]) == (
            3, 200, "job.succeeded")
        assert len(flaky.requests) == 3  # two 500s, then the 200
        payloads = [_verified(flaky_hook, request) for request in flaky.requests]  # each try signed afresh
        assert {request.headers["webhook-id"] for request in flaky.requests} == {delivery["id"]}
        assert payloads[0]["type"] == "job.succeeded" and payloads[0] == payloads[-1]
        assert payloads[0]["data"]["id"] == job["id"] and payloads[0]["data"]["status"] == "succeeded"
        assert payloads[0]["data"]["result"]["model_id"].startswith("mdl_")
        gaps = [later.at - earlier.at for earlier, later in zip(flaky.requests, flaky.requests[1:])]
        # Backoff from 0.2 s, doubling (test_webhook_urls checks the schedule; here the 0.2 s polling blurs it).
        assert gaps[0] >= 0.2 and gaps[1] >= 0.4

        last = flaky.requests[-1]
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(flaky_hook["secret"]).verify(last.body.replace(b"succeeded", b"failed"), last.headers)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(hanging_hook["secret"]).verify(last.body, last.headers)  # another webhook's secret
        refreshed = {**last.headers, "webhook-timestamp": str(int(time.time()) + 1)}
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            _verified(flaky_hook, Received(last.at, refreshed, last.body))  # a replay passed off as fresh

        class SixMinutesLater(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[no-untyped-def]
                return datetime.now(tz) + timedelta(minutes=6)

        monkeypatch.setattr(standardwebhooks.webhooks, "datetime", SixMinutesLater)
        with pytest.raises(WebhookVerificationError, match="too old"):
            _verified(flaky_hook, last)  # the same delivery, replayed beyond the verifier's 5 minutes
        monkeypatch.undo()

        [hung] = wait_until(lambda: [d for d in _deliveries(client, hanging_hook) if d["attempts"]], 15,
                            interval=0.2, what="the hanging receiver's attempt to time out")
        assert hung["status"] == "pending" and hung["last_status_code"] is None and "Timeout" in hung["last_error"]
    finally:
        for hook in client.get("/v1/webhooks").json()["items"]:
            client.delete(f"/v1/webhooks/{hook['id']}")  # their pending deliveries go too
        flaky.stop()
        hanging.stop()


def test_receiver_down_while_the_worker_restarts(client, stack, dataset):
    receiver = Receiver()  # not started: connections are refused
    hook = _create(client, receiver.url, ["job.cancelled"])
    try:
        # Cancelled in the queue (or, if the worker was quicker, within its first step): an outcome, no training.
        job = submit(client, "train", {"dataset_id": dataset["id"], **TINY_TRAIN, "steps": 100_000}).json()
        assert client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
        assert wait_job(client, job["id"], timeout=60)["status"] == "cancelled"
        # Killed just after its second failed attempt, so that no claim is held (the next one is ~0.4 s away).
        [failing] = wait_until(lambda: [d for d in _deliveries(client, hook) if d["attempts"] >= 2], 30,
                               interval=0.05, what="two failed attempts")
        stack.kill_workers()
        assert failing["status"] == "pending" and "ConnectError" in failing["last_error"]

        receiver.start()
        stack.start_worker()
        [delivery] = wait_until(lambda: [d for d in _deliveries(client, hook) if d["status"] == "delivered"],
                                60, interval=0.2, what="the delivery after the restart")
        assert delivery["attempts"] > failing["attempts"] and delivery["last_status_code"] == 200
        [request] = receiver.requests
        assert _verified(hook, request)["data"]["id"] == job["id"]
        assert request.headers["webhook-id"] == delivery["id"]
    finally:
        client.delete(f"/v1/webhooks/{hook['id']}")
        receiver.stop()
        if not any(worker.poll() is None for worker in stack.workers):
            stack.start_worker()
