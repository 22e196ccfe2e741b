"""Brings back jobs whose worker died: runs in each worker's main process, never in a job process."""
from __future__ import annotations

import logging
import threading

from core import jobs
from core.db import session_scope
from core.queue import enqueue
from core.settings import get_settings

log = logging.getLogger(__name__)
_stop = threading.Event()


def recover_once() -> list[tuple[str, str, str]]:
    with session_scope() as session:
        requeued = jobs.recover_expired(session, get_settings().max_job_attempts)
    for job_id, kind, queue in requeued:
        log.warning("job %s lost its worker; dispatching it again", job_id)
        enqueue(job_id, kind, queue)
    return requeued


def _loop() -> None:
    interval = max(get_settings().job_lease_seconds / 3, 0.5)
    while True:
        try:
            recover_once()
        except Exception:
            log.exception("job recovery pass failed")
        if _stop.wait(interval):
            return


def start() -> None:
    _stop.clear()
    threading.Thread(target=_loop, name="job-recovery", daemon=True).start()


def stop() -> None:
    _stop.set()
