"""Runs one job: claim it, keep its lease alive, report progress, and record how it ended.

The job's handler (worker/handlers/<kind>.py) sees only a JobContext, whose params its kind's spec has
parsed. A heartbeat thread writes progress to the database every
`progress_interval_seconds`, renews the lease and picks up cancellation, so a training step costs no
database round trip. SIGTERM (the worker shutting down) stops the job at its next step and hands it back
to the queue; it resumes from its checkpoint on the next worker. A handler that waits for its children (a sweep) raises
Park after each short step: the job stays running, its worker is freed, and each child that ends runs it again
(core.jobs.park).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core import jobs
from core.db import session_scope
from core.queue import enqueue
from core.settings import Settings, get_settings
from core.storage import ObjectStore, get_store
from core.storage_keys import best_snapshot_key, checkpoint_key
from models.errors import DataError
from models.monitor import Monitor, Progress, Stopped

log = logging.getLogger(__name__)


class JobFailed(Exception):
    """A failure the user can act on: its code and message go into the job's error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Park(Exception):
    """The handler has done one step of waiting for its children: park the job (still running) until one ends."""


@dataclass
class Outcome:
    result: dict[str, Any]
    records: list[Any] = field(default_factory=list)  # rows committed together with the final status
    keep_checkpoint: bool = False  # the training checkpoint outlives the job, for a later job to continue it


@dataclass
class JobContext:
    job_id: str
    kind: str
    queue: str
    workspace_id: str
    params: Any  # the kind's params model
    attempt: int
    settings: Settings
    store: ObjectStore
    stop: threading.Event = field(default_factory=threading.Event)
    shutdown: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)
    _first_step: int | None = None

    def report(self, step: int, total: int, metrics: dict[str, float] | None = None, message: str = "") -> None:
        if self._first_step is None:
            self._first_step, self._started = step, time.monotonic()
        done = step - self._first_step
        rate = done / max(time.monotonic() - self._started, 1e-9)
        eta = round((total - step) / rate, 1) if done > 0 else None
        self.progress = {
            "fraction": round(step / total, 4) if total else 1.0,
            "step": step,
            "total_steps": total,
            "eta_seconds": eta,
            "message": message,
        }
        if metrics:
            self.metrics = metrics

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def monitor(self) -> Monitor:
        """What models/ loops report to: progress into this job's row, and its stop event."""

        def on_progress(progress: Progress) -> None:
            self.report(progress.step, progress.total, dict(progress.metrics) if progress.metrics else None,
                        progress.message)

        return Monitor(on_progress, self.should_stop)

    def event(self, type_: str, data: dict[str, Any], step: int | None = None) -> None:
        with session_scope() as session:
            jobs.add_event(session, self.job_id, type_, data, step)

    def event_data(self, type_: str, step: int) -> dict[str, Any]:
        """The data of this job's latest event of a type at a step."""
        with session_scope() as session:
            return jobs.latest_event(session, self.job_id, type_, step).data


Handler = Callable[[JobContext], Outcome]


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: JobContext, owner: str) -> None:
        super().__init__(name=f"heartbeat-{ctx.job_id}", daemon=True)
        self.ctx, self.owner = ctx, owner
        self.done = threading.Event()
        self.lost = False
        self.cancelled = False
        self._last_logged_step: int | None = None

    def run(self) -> None:
        interval = self.ctx.settings.progress_interval_seconds
        while not self.done.wait(interval):
            self.beat()

    def beat(self) -> None:
        ctx = self.ctx
        try:
            with session_scope() as session:
                owned, cancel = jobs.heartbeat(
                    session, ctx.job_id, self.owner, ctx.settings.job_lease_seconds, ctx.progress, ctx.metrics
                )
                step = ctx.progress.get("step")
                if owned and ctx.metrics and step != self._last_logged_step:
                    jobs.add_event(session, ctx.job_id, "metrics", dict(ctx.metrics), step)
                    self._last_logged_step = step
        except Exception:  # a database hiccup must not kill the job; the lease allows for missed beats
            log.exception("heartbeat for %s failed", ctx.job_id)
            return
        if not owned:
            self.lost = True
            ctx.stop.set()
        if cancel:
            self.cancelled = True
            ctx.stop.set()


@contextmanager
def _stop_on_sigterm(ctx: JobContext) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(*_: object) -> None:
        ctx.shutdown.set()
        ctx.stop.set()

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_job(job_id: str, handler: Handler, parse: Callable[[dict[str, Any]], Any]) -> None:
    """parse: the kind's stored params -> its params model (the one the API validated them with)."""
    settings = get_settings()
    owner = _owner()
    with session_scope() as session:
        job = jobs.claim(session, job_id, owner, settings.job_lease_seconds)
        if job is None:
            log.info("job %s is not queued (taken, cancelled or finished); skipping", job_id)
            return
        if job.cancel_requested:
            jobs.finish(session, job_id, owner, jobs.CANCELLED)
            return
        ctx = JobContext(job.id, job.kind, job.queue, job.workspace_id, parse(dict(job.params)), job.attempts,
                         settings, get_store())
    beat = _Heartbeat(ctx, owner)
    beat.start()
    ending: tuple[str, dict[str, Any]] | None = None  # None: stopped early, for the heartbeat's reason
    parked: Park | None = None
    try:
        with _stop_on_sigterm(ctx):
            ending = (jobs.SUCCEEDED, {"outcome": handler(ctx)})
    except Stopped:
        pass
    except Park as park:
        parked = park
    except JobFailed as exc:
        ending = (jobs.FAILED, {"error": {"code": exc.code, "message": exc.message}})
    except DataError as exc:  # bad user data that no earlier check caught
        log.info("job %s refused its data: %s", job_id, exc)
        ending = (jobs.FAILED, {"error": {"code": "bad_data", "message": str(exc)}})
    except Exception as exc:
        log.exception("job %s raised", job_id)
        ending = (jobs.FAILED, {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}})
    finally:
        beat.done.set()
        beat.join()
    if beat.lost:
        log.warning("job %s lost its lease; leaving it to its new owner", job_id)
    elif ending is not None:
        _finish(ctx, owner, ending[0], **ending[1])
    elif beat.cancelled:
        _finish(ctx, owner, jobs.CANCELLED)
    elif parked is not None:
        _park(ctx, owner)
    elif ctx.shutdown.is_set():
        _hand_back(ctx, owner)


def _park(ctx: JobContext, owner: str) -> None:
    with session_scope() as session:
        parked = jobs.park(session, ctx.job_id, owner, ctx.progress, ctx.metrics)
    if not parked:  # a cancel came during the step (or the lease was lost, and finishing does nothing)
        _finish(ctx, owner, jobs.CANCELLED)


def _hand_back(ctx: JobContext, owner: str) -> None:
    with session_scope() as session:
        released = jobs.release(session, ctx.job_id, owner)
    if released:
        log.info("job %s handed back to the queue at shutdown", ctx.job_id)
        enqueue(ctx.job_id, ctx.kind, ctx.queue)


def _finish(
    ctx: JobContext,
    owner: str,
    status: str,
    *,
    outcome: Outcome | None = None,
    error: dict[str, str] | None = None,
) -> None:
    with session_scope() as session:
        finished = jobs.finish(
            session,
            ctx.job_id,
            owner,
            status,
            result=outcome.result if outcome else None,
            error=error,
            progress={**ctx.progress, "message": status},  # not the last step's "generating"
            metrics=ctx.metrics or None,
        )
        if finished and outcome:
            session.add_all(outcome.records)
        parent = jobs.wake_parent(session, ctx.job_id) if finished else None
    if parent is not None:
        enqueue(*parent)  # its next step sees this job ended
    if finished:
        _drop_training_state(ctx, keep_checkpoint=bool(outcome and outcome.keep_checkpoint))


def _drop_training_state(ctx: JobContext, keep_checkpoint: bool = False) -> None:
    """Training checkpoints are kept while a job can resume, and never once it has ended, unless it asked to keep
    it for a job that continues it (core/orphans.py removes it after the retention period)."""
    keys = (best_snapshot_key(ctx.job_id),) if keep_checkpoint else (checkpoint_key(ctx.job_id),
                                                                     best_snapshot_key(ctx.job_id))
    for key in keys:
        try:
            ctx.store.delete(key)
        except Exception:  # the job's outcome is already safe; the object is only wasted space
            log.exception("could not delete %s after job %s", key, ctx.job_id)
