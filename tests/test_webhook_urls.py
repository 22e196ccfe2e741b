"""Webhooks without a worker: the URL guard, the retry schedule, the outbox rows that job transitions write, the
claim that keeps two senders apart, and the REST routes in-process."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from core import jobs, webhooks
from core.db import make_engine
from core.keys import add_key, ensure_workspace
from core.settings import Settings
from core.tables import Base, Job, Webhook, WebhookDelivery, utcnow

REFUSED_ALWAYS = [
    ("ftp://example.com/hook", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("http:///no-host", "must name a host"),
    ("http://169.254.169.254/latest/meta-data", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://100.100.100.200/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://169.254.10.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://224.0.0.1/", "unicast"),
    ("http://0.0.0.0:8000/", "unicast"),
    ("http://[::]/", "unicast"),
    ("http://does-not-exist.invalid/", "does not resolve"),
]
PRIVATE = ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]/", "http://10.1.2.3/",
           "http://172.16.0.9/", "https://192.168.1.20/hook", "http://[fd12:3456::1]/"]


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(("url", "reason"), REFUSED_ALWAYS)
def test_refused_whatever_the_setting(url, reason, allow_private):
    with pytest.raises(webhooks.UrlRefused, match=reason):
        webhooks.check_url(url, allow_private)


@pytest.mark.parametrize("url", PRIVATE)
def test_loopback_and_private_only_when_allowed(url):
    with pytest.raises(webhooks.UrlRefused, match="DEFECTGEN_WEBHOOK_ALLOW_PRIVATE_NETWORKS"):
        webhooks.check_url(url, False)
    webhooks.check_url(url, True)


@pytest.mark.parametrize("url", ["https://93.184.216.34/hook", "http://[2606:4700::1111]:8080/x"])
def test_public_addresses_pass(url):
    webhooks.check_url(url, False)


def test_backoff_doubles_to_an_hour_and_ends_with_the_window():
    settings = Settings(webhook_retry_base_seconds=5, webhook_retry_window_seconds=86400)
    start = utcnow()
    delays = [(webhooks.retry_at(start, n, start, settings) - start).total_seconds() for n in range(1, 14)]
    for n, delay in enumerate(delays[:9]):
        assert 5 * 2**n <= delay <= 1.25 * 5 * 2**n
    assert all(3600 <= delay <= 4500 for delay in delays[10:])  # capped at an hour, plus jitter
    near_end = start + timedelta(seconds=86000)
    assert webhooks.retry_at(start, 20, near_end, settings) == start + timedelta(seconds=86400)  # a last try
    assert webhooks.retry_at(start, 20, start + timedelta(seconds=86400), settings) is None


@pytest.fixture(params=["sqlite", "postgresql"])
def session(request, tmp_path) -> Session:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    else:
        url = request.getfixturevalue("servers").postgres.url
        with make_engine(url).execution_options(isolation_level="AUTOCOMMIT").connect() as admin:
            admin.execute(text("DROP DATABASE IF EXISTS webhooks_check"))
            admin.execute(text("CREATE DATABASE webhooks_check"))
        engine = make_engine(url.rsplit("/", 1)[0] + "/webhooks_check")
    Base.metadata.create_all(engine)
    with sessionmaker(engine, expire_on_commit=False)() as s:
        yield s
    engine.dispose()


def _setup(session: Session, event_types: list[str]) -> tuple[Webhook, Job]:
    workspace = ensure_workspace(session, "w")
    other = ensure_workspace(session, "other")
    hook = Webhook(id="wh_1", workspace_id=workspace.id, url="http://127.0.0.1:1/", event_types=event_types,
                   secret=webhooks.new_secret())
    stranger = Webhook(id="wh_2", workspace_id=other.id, url="http://127.0.0.1:1/", event_types=event_types,
                       secret=webhooks.new_secret())
    job = Job(id="job_1", workspace_id=workspace.id, kind="train", params={}, progress={}, metrics={})
    session.add_all([hook, stranger, job])
    session.commit()
    return hook, job


def _deliveries(session: Session) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).execution_options(populate_existing=True)))


def test_an_outcome_and_its_delivery_commit_together(session):
    _setup(session, ["job.cancelled"])
    job = session.get(Job, "job_1")
    assert jobs.request_cancel(session, job)
    session.rollback()  # the process died before committing: neither the status nor the delivery exists
    assert session.get(Job, "job_1", populate_existing=True).status == "queued" and _deliveries(session) == []

    assert jobs.request_cancel(session, session.get(Job, "job_1"))
    session.commit()
    [delivery] = _deliveries(session)  # only the job's workspace's webhook
    assert (delivery.webhook_id, delivery.event_type, delivery.status, delivery.job_id) == (
        "wh_1", "job.cancelled", "pending", "job_1")
    assert delivery.id.startswith("msg_")
    assert delivery.payload["type"] == "job.cancelled" and delivery.payload["data"]["status"] == "cancelled"
    assert delivery.payload["data"]["links"]["job"] == "/v1/jobs/job_1"


def test_only_subscribed_events_and_every_final_transition(session):
    _setup(session, ["job.failed"])
    assert jobs.claim(session, "job_1", "a", 10)
    assert jobs.finish(session, "job_1", "a", jobs.SUCCEEDED, result={"model_id": "mdl_1"})
    session.commit()
    assert _deliveries(session) == []  # not subscribed to job.succeeded

    session.add(Job(id="job_2", workspace_id=session.get(Job, "job_1").workspace_id, kind="train", params={},
                    progress={}, metrics={}, attempts=3))
    session.commit()
    assert jobs.claim(session, "job_2", "a", 10)  # its fourth attempt: a lost worker fails it
    session.commit()
    jobs.recover_expired(session, max_attempts=4, now=utcnow() + timedelta(seconds=60))
    session.commit()
    [delivery] = _deliveries(session)
    assert delivery.event_type == "job.failed" and delivery.payload["data"]["error"]["code"] == "worker_lost"


def test_claims_keep_senders_apart_and_failures_are_rescheduled(session):
    _setup(session, ["job.cancelled"])
    jobs.request_cancel(session, session.get(Job, "job_1"))
    session.commit()
    lease = timedelta(seconds=30)
    [claimed] = webhooks.claim_due(session, 10, lease)
    session.commit()
    assert webhooks.claim_due(session, 10, lease) == []  # another sender finds it taken
    settings = Settings(webhook_retry_base_seconds=5)
    assert webhooks.record_attempt(session, claimed, 503, "HTTP 503", settings) == "pending"
    session.commit()
    [delivery] = _deliveries(session)
    assert (delivery.attempts, delivery.last_status_code, delivery.claimed_until) == (1, 503, None)
    assert delivery.next_attempt_at > utcnow() + timedelta(seconds=4)
    assert webhooks.claim_due(session, 10, lease) == []  # not due yet
    [again] = webhooks.claim_due(session, 10, lease, now=utcnow() + timedelta(seconds=10))
    assert webhooks.claim_due(session, 10, lease, now=utcnow() + timedelta(seconds=10 + 31))  # a dead sender's
    assert webhooks.record_attempt(session, again, 200, None, settings) == "delivered"
    session.commit()
    [delivery] = _deliveries(session)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert delivery.delivered_at is not None


def test_a_spent_window_fails_the_delivery(session):
    _setup(session, ["job.cancelled"])
    jobs.request_cancel(session, session.get(Job, "job_1"))
    session.commit()
    [claimed] = webhooks.claim_due(session, 10, timedelta(seconds=30))
    spent = Settings(webhook_retry_window_seconds=0)
    assert webhooks.record_attempt(session, claimed, None, "ConnectError: refused", spent) == "failed"
    session.commit()
    [delivery] = _deliveries(session)
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("failed", None,
                                                                                "ConnectError: refused")


# The REST routes, in this process (no worker: deliveries stay pending).


def test_create_list_read_delete(api):
    created = api.post("/v1/webhooks", json={"url": "https://93.184.216.34/hook", "event_types": ["job.failed"]})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["id"].startswith("wh_") and hook["secret"].startswith("whsec_")
    assert hook["event_types"] == ["job.failed"]
    read = api.get(f"/v1/webhooks/{hook['id']}").json()
    assert "secret" not in read and read["url"] == "https://93.184.216.34/hook"
    all_events = api.post("/v1/webhooks", json={"url": "https://93.184.216.34/other"}).json()
    assert all_events["event_types"] == ["job.succeeded", "job.failed", "job.cancelled"]
    first = api.get("/v1/webhooks", params={"limit": 1}).json()
    second = api.get("/v1/webhooks", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [all_events["id"], hook["id"]]
    assert "secret" not in first["items"][0]

    ping = api.post(f"/v1/webhooks/{hook['id']}/test")
    assert ping.status_code == 202 and ping.json()["event_type"] == "webhook.test"
    [delivery] = api.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
    assert (delivery["id"], delivery["status"], delivery["attempts"]) == (ping.json()["id"], "pending", 0)
    assert api.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "delivered"}).json()["items"] == []

    assert api.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert api.get(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert api.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404
    from core.db import session_scope

    with session_scope() as session:  # its pending ping went with it
        assert session.get(WebhookDelivery, delivery["id"]) is None
    api.delete(f"/v1/webhooks/{all_events['id']}")


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"url": "http://127.0.0.1:9000/hook"}, "url", "DEFECTGEN_WEBHOOK_ALLOW_PRIVATE_NETWORKS"),
    ({"url": "http://169.254.169.254/"}, "url", "metadata"),
    ({"url": "ftp://93.184.216.34/"}, "url", "https?://"),
    ({"url": "https://93.184.216.34/" + "x" * 2100}, "url", "at most 2048"),
    ({"url": "https://93.184.216.34/", "event_types": ["job.exploded"]}, "event_types", "job.succeeded"),
    ({"url": "https://93.184.216.34/", "event_types": []}, "event_types", "at least 1"),
    ({"url": "https://93.184.216.34/", "secret": "mine"}, "secret", "Extra inputs"),
])
def test_bad_webhooks_are_refused_and_nothing_is_stored(api, body, field, reason):
    before = api.get("/v1/webhooks").json()["items"]
    response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert reason in response.text
    assert response.json()["errors"][0]["loc"][:2] == ["body", field]
    assert api.get("/v1/webhooks").json()["items"] == before


def test_other_workspaces_webhooks_are_not_found(api):
    from core.db import session_scope

    with session_scope() as session:
        add_key(session, "elsewhere", "dg_test-elsewhere-key")
    hook = api.post("/v1/webhooks", json={"url": "https://93.184.216.34/hook"}).json()
    other = {"Authorization": "Bearer dg_test-elsewhere-key"}
    for method, path in [("GET", ""), ("DELETE", ""), ("GET", "/deliveries"), ("POST", "/test")]:
        assert api.request(method, f"/v1/webhooks/{hook['id']}{path}", headers=other).status_code == 404
    assert api.get("/v1/webhooks", headers=other).json()["items"] == []
    assert api.get(f"/v1/webhooks/{hook['id']}").status_code == 200
    assert api.get("/v1/webhooks", headers={"Authorization": "Bearer dg_wrong"}).status_code == 401
