"""Webhooks: job outcomes posted to a workspace's receivers, signed per Standard Webhooks.

An outbox: a job's final status and one delivery row per matching webhook are committed in one transaction
(record_job_outcome, called from core/jobs.py), so the outcome is stored whatever the receivers do, and no
event is lost when a process dies. Each worker's delivery thread (worker/webhook_delivery.py) claims due rows
for a short lease, posts them and records the answer; a failed attempt is retried with exponential backoff
until the retry window is spent. Delivery is at least once: receivers drop duplicates by `webhook-id`.
"""
from __future__ import annotations

import base64
import ipaddress
import random
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.ids import new_id
from core.settings import Settings
from core.tables import Job, Webhook, WebhookDelivery, utcnow

JOB_EVENTS = {"succeeded": "job.succeeded", "failed": "job.failed", "cancelled": "job.cancelled"}
EVENT_TYPES = tuple(JOB_EVENTS.values())
TEST_EVENT = "webhook.test"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_RETRY_DELAY = timedelta(hours=1)
MAX_ERROR_CHARS = 500

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
# Cloud metadata services; fd00:ec2::254 lies in fc00::/7, so allowing private ranges must not let it through.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))


class UrlRefused(ValueError):
    """A webhook URL that may not be posted to; the message says why."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, allow_private: bool) -> None:
    """Refuse what is not an http(s) URL of a public host (or, with allow_private, a loopback or private one).
    Checked when a webhook is made and again before each delivery, since DNS answers change."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("a webhook URL must use http or https")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UrlRefused("a webhook URL must name a host")
    if host in METADATA_HOSTS:
        raise UrlRefused(f"{host} is a cloud metadata service")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise UrlRefused(f"the host {host!r} does not resolve: {exc}") from None
    for *_, sockaddr in infos:
        refusal = _address_refusal(ipaddress.ip_address(sockaddr[0].split("%")[0]), allow_private)
        if refusal:
            raise UrlRefused(f"{host} resolves to {sockaddr[0]}, {refusal}")


def _address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast or address.is_unspecified or (address.is_reserved and not address.is_loopback):
        return "not a unicast address"
    if not address.is_global and not allow_private:
        return ("a loopback or private address (DEFECTGEN_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows them)"
                if address.is_loopback or address.is_private else "not a public address")
    return None


def queue_delivery(session: Session, webhook: Webhook, event_type: str, data: dict[str, Any],
                   job_id: str | None = None) -> WebhookDelivery:
    now = utcnow()
    delivery = WebhookDelivery(
        id=new_id("msg"), webhook_id=webhook.id, job_id=job_id, event_type=event_type, status=PENDING,
        payload={"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data},
        attempts=0, next_attempt_at=now, created_at=now)
    session.add(delivery)
    return delivery


def record_job_outcome(session: Session, job_id: str) -> None:
    """A delivery for each of the workspace's webhooks that wants this job's final status; in the caller's
    transaction, the one that sets that status."""
    job = session.execute(select(Job.id, Job.workspace_id, Job.kind, Job.status, Job.result, Job.error,
                                 Job.created_at, Job.finished_at).where(Job.id == job_id)).one()
    event_type = JOB_EVENTS[job.status]
    hooks = [hook for hook in session.scalars(select(Webhook).where(Webhook.workspace_id == job.workspace_id))
             if event_type in hook.event_types]
    if not hooks:
        return
    data = {"id": job.id, "kind": job.kind, "status": job.status, "result": job.result, "error": job.error,
            "created_at": _rfc3339(job.created_at), "finished_at": _rfc3339(job.finished_at),
            "links": {"job": f"/v1/jobs/{job.id}", "events": f"/v1/jobs/{job.id}/events"}}
    for hook in hooks:
        queue_delivery(session, hook, event_type, data, job.id)


def _rfc3339(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else None


@dataclass(frozen=True)
class Claimed:
    id: str
    url: str
    secret: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int


def claim_due(session: Session, limit: int, lease: timedelta, now: datetime | None = None) -> list[Claimed]:
    """Take up to `limit` due deliveries for `lease`: a conditional UPDATE per row, so that two workers never
    send one at once; a sender that dies leaves its rows to be claimed again once the lease has run out."""
    now = now or utcnow()
    free = or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now)
    due = session.execute(
        select(WebhookDelivery, Webhook.url, Webhook.secret).join(Webhook)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now, free)
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)).all()
    claimed = []
    for delivery, url, secret in due:
        taken = session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == PENDING, free)
            .values(claimed_until=now + lease)).rowcount
        if taken:
            claimed.append(Claimed(delivery.id, url, secret, delivery.payload, delivery.created_at,
                                   delivery.attempts))
    return claimed


def retry_at(created_at: datetime, attempts: int, now: datetime, settings: Settings) -> datetime | None:
    """When to try again after `attempts` failed ones: base · 2^(attempts-1), capped at an hour, plus up to 25%
    jitter (so that receivers coming back are not hit by every retry at once), and a last try at the end of
    the retry window; None once the window is spent."""
    deadline = created_at + timedelta(seconds=settings.webhook_retry_window_seconds)
    if now >= deadline:
        return None
    delay = min(timedelta(seconds=settings.webhook_retry_base_seconds * 2 ** (attempts - 1)), MAX_RETRY_DELAY)
    return min(now + delay * random.uniform(1.0, 1.25), deadline)


def record_attempt(session: Session, claimed: Claimed, status_code: int | None, error: str | None,
                   settings: Settings, now: datetime | None = None) -> str:
    """Store one attempt's answer (a status code, or the error that kept it from one); returns the new status."""
    now = now or utcnow()
    values: dict[str, Any] = dict(attempts=WebhookDelivery.attempts + 1, last_status_code=status_code,
                                  claimed_until=None, last_error=error[:MAX_ERROR_CHARS] if error else None)
    if status_code is not None and 200 <= status_code < 300:
        values.update(status=DELIVERED, delivered_at=now)
    elif (later := retry_at(claimed.created_at, claimed.attempts + 1, now, settings)) is None:
        values.update(status=FAILED)
    else:
        values.update(next_attempt_at=later)
    session.execute(update(WebhookDelivery)
                    .where(WebhookDelivery.id == claimed.id, WebhookDelivery.status == PENDING).values(**values))
    return values.get("status", PENDING)
