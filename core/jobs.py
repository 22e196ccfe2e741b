"""The job state machine: queued -> running -> succeeded | failed | cancelled.

The database row is the authority. A worker owns a running job through a lease that its heartbeat renews;
a job whose lease expires (its worker died) goes back to the queue until it has used its attempts.
Every transition is a conditional UPDATE, so two processes can never both win it.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.tables import Job, JobEvent, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, RUNNING})


def add_event(session: Session, job_id: str, type_: str, data: dict[str, Any], step: int | None = None) -> None:
    session.add(JobEvent(job_id=job_id, type=type_, step=step, data=data))


def status_event(session: Session, job_id: str, status: str, error: dict[str, str] | None = None,
                  **details: Any) -> None:
    add_event(session, job_id, "status", {"status": status, **({"error": error} if error else {}), **details})


def latest_event(session: Session, job_id: str, type_: str, step: int) -> JobEvent:
    return session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == type_, JobEvent.step == step)
        .order_by(JobEvent.id.desc()).limit(1)
    ).one()


def claim(session: Session, job_id: str, owner: str, lease_seconds: float) -> Job | None:
    """Take a queued job for `owner`. None when another worker has it or it is no longer queued."""
    now = utcnow()
    taken = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == QUEUED)
        .values(
            status=RUNNING,
            attempts=Job.attempts + 1,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            started_at=now,
        )
    ).rowcount
    if not taken:
        return None
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    status_event(session, job_id, RUNNING, attempt=job.attempts, worker=owner)
    return job


def heartbeat(
    session: Session, job_id: str, owner: str, lease_seconds: float, progress: dict[str, Any], metrics: dict[str, Any]
) -> tuple[bool, bool]:
    """Renew the lease and store progress. Returns (still the owner, cancel requested)."""
    renewed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING, Job.lease_owner == owner)
        .values(
            lease_expires_at=utcnow() + timedelta(seconds=lease_seconds),
            progress=progress,
            metrics=metrics,
        )
    ).rowcount
    cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    return bool(renewed), bool(cancel)


def finish(
    session: Session,
    job_id: str,
    owner: str,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: dict[str, str] | None = None,
    progress: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> bool:
    """Move an owned running job to a final status. False when the lease was lost to another worker."""
    assert status in FINAL
    values: dict[str, Any] = dict(
        status=status, result=result, error=error, finished_at=utcnow(), lease_owner=None, lease_expires_at=None
    )
    if progress is not None:
        values["progress"] = progress
    if metrics is not None:
        values["metrics"] = metrics
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.status == RUNNING, Job.lease_owner == owner).values(**values)
    ).rowcount
    if done:
        status_event(session, job_id, status, error)
    return bool(done)


def release(session: Session, job_id: str, owner: str) -> bool:
    """Hand an owned running job back to the queue (its worker is shutting down); no attempt is spent."""
    released = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING, Job.lease_owner == owner)
        .values(status=QUEUED, attempts=Job.attempts - 1, lease_owner=None, lease_expires_at=None)
    ).rowcount
    if released:
        status_event(session, job_id, QUEUED, reason="worker shut down, handed back")
    return bool(released)


def request_cancel(session: Session, job: Job) -> bool:
    """Cancel a queued job at once or flag a running one. False when the job is already final."""
    cancelled_now = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == QUEUED)
        .values(status=CANCELLED, finished_at=utcnow(), cancel_requested=True)
    ).rowcount
    if cancelled_now:
        status_event(session, job.id, CANCELLED)
        return True
    flagged = session.execute(
        update(Job).where(Job.id == job.id, Job.status == RUNNING).values(cancel_requested=True)
    ).rowcount
    if flagged:
        add_event(session, job.id, "cancel_requested", {})
    return bool(flagged)


def recover_expired(session: Session, max_attempts: int,
                    now: datetime | None = None) -> list[tuple[str, str, str]]:
    """Requeue running jobs whose worker stopped renewing its lease; fail those out of attempts.

    Returns (id, kind, queue) of the jobs that went back to the queue, which the caller must dispatch again.
    """
    now = now or utcnow()
    expired = session.execute(
        select(Job.id, Job.kind, Job.queue, Job.attempts, Job.cancel_requested)
        .where(Job.status == RUNNING, Job.lease_expires_at < now)
    ).all()
    requeued = []
    for job_id, kind, queue, attempts, cancel_requested in expired:
        still_expired = (Job.id == job_id, Job.status == RUNNING, Job.lease_expires_at < now)
        error = None
        if cancel_requested:
            values: dict[str, Any] = dict(status=CANCELLED, finished_at=now)
        elif attempts >= max_attempts:
            error = {
                "code": "worker_lost",
                "message": f"the worker running this job stopped {attempts} times; "
                f"giving up after {max_attempts} attempts",
            }
            values = dict(status=FAILED, error=error, finished_at=now)
        else:
            values = dict(status=QUEUED)
        values.update(lease_owner=None, lease_expires_at=None)
        if not session.execute(update(Job).where(*still_expired).values(**values)).rowcount:
            continue
        if values["status"] == QUEUED:
            status_event(session, job_id, QUEUED, reason="worker lost, retrying")
            requeued.append((job_id, kind, queue))
        else:
            status_event(session, job_id, values["status"], error)
    return requeued
