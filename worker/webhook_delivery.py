"""Posts due webhook deliveries: a thread in each worker's main process, like recovery.

Not a Celery task: the pool runs one job at a time, for hours, and a delivery must not wait for it. Sends run on
a few threads of their own, so a slow receiver holds up only its own deliveries.
"""
from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks import Webhook

from core import webhooks
from core.db import session_scope
from core.settings import get_settings

log = logging.getLogger(__name__)
SENDERS = 4
_stop = threading.Event()


def signed_headers(secret: str, msg_id: str, body: str, when: datetime) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, when, body), "content-type": "application/json"}


def send(claimed: webhooks.Claimed) -> str:
    """One attempt: check the URL again (its host may resolve elsewhere now), post, record the answer."""
    settings = get_settings()
    status_code, error = None, None
    try:
        webhooks.check_url(claimed.url, settings.webhook_allow_private_networks)
        body = json.dumps(claimed.payload, separators=(",", ":"))
        headers = signed_headers(claimed.secret, claimed.id, body, datetime.now(UTC))  # signed afresh each try
        # Redirects are not followed: a receiver could point them anywhere the URL check would refuse. Of the
        # answer only the status and the start of the body are read, however much the receiver sends.
        with httpx.stream("POST", claimed.url, content=body, headers=headers, follow_redirects=False,
                          timeout=settings.webhook_timeout_seconds) as response:
            status_code = response.status_code
            if not response.is_success:
                start = next(response.iter_bytes(), b"")[:200].decode(errors="replace")
                error = f"HTTP {status_code}: {start}" if start else f"HTTP {status_code}"
    except webhooks.UrlRefused as exc:
        error = f"refused: {exc}"
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    with session_scope() as session:
        outcome = webhooks.record_attempt(session, claimed, status_code, error, settings)
    if outcome != webhooks.DELIVERED:
        log.warning("webhook delivery %s to %s: %s (%s)", claimed.id, claimed.url, error, outcome)
    return outcome


def _loop() -> None:
    settings = get_settings()
    # Longer than an attempt can take, so that a row is never claimed again while its send is under way.
    lease = timedelta(seconds=2 * settings.webhook_timeout_seconds + 10)
    in_flight: set[Future[str]] = set()
    with ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook-send") as pool:
        while not _stop.is_set():
            for future in [future for future in in_flight if future.done()]:
                in_flight.discard(future)
                if future.exception():  # its claim runs out and another pass sends it again
                    log.error("webhook delivery failed", exc_info=future.exception())
            try:
                if len(in_flight) < SENDERS:
                    with session_scope() as session:
                        due = webhooks.claim_due(session, SENDERS - len(in_flight), lease)
                    in_flight |= {pool.submit(send, claimed) for claimed in due}
            except Exception:
                log.exception("webhook delivery pass failed")
            _stop.wait(settings.webhook_poll_seconds)


def start() -> None:
    _stop.clear()
    threading.Thread(target=_loop, name="webhook-delivery", daemon=True).start()


def stop() -> None:
    _stop.set()
