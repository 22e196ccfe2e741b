"""The job state machine: queued -> running -> succeeded | failed | cancelled.

The database row is the authority. A worker owns a running job through a lease that its heartbeat renews;
a job whose lease expires (its worker died) goes back to the queue until it has used its attempts.
Every transition is a conditional UPDATE, so two processes can never both win it.

A job that waits for its children (a sweep for its candidates) is *parked* between the short steps it runs: still
running, but holding no worker and no heartbeat (lease_owner is PARKED plus when it parked). Each child that ends
wakes it (a message that claims it again, wake_parent); a parked job none of whose children is active is woken by
recovery once PARK_GRACE has passed since it parked or was last woken, in case a child ended without waking it
(cancelled in the queue, failed for good with its worker) or the wake-up was lost with a worker. A job that ends
early (failed or cancelled) cancels its children.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import webhooks
from core.tables import Job, JobEvent, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, RUNNING})
PARKED = "parked@"
# Longer than a worker takes to start the step a wake-up asks for, so that recovery does not send a second one.
PARK_GRACE = timedelta(seconds=60)


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
        return _claim_parked(session, job_id, owner, lease_seconds, now)
    job = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    status_event(session, job_id, RUNNING, attempt=job.attempts, worker=owner)
    return job


def _parked_at(lease_owner: str | None) -> datetime | None:
    if lease_owner is None or not lease_owner.startswith(PARKED):
        return None
    return datetime.fromisoformat(lease_owner.removeprefix(PARKED))


def _claim_parked(session: Session, job_id: str, owner: str, lease_seconds: float, now: datetime) -> Job | None:
    """A parked job, woken. It never stopped running: no attempt is spent, no event written."""
    parked = session.scalar(select(Job.lease_owner).where(Job.id == job_id, Job.status == RUNNING))
    if _parked_at(parked) is None:
        return None
    taken = session.execute(
        update(Job).where(Job.id == job_id, Job.status == RUNNING, Job.lease_owner == parked)
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
    ).rowcount
    return session.get(Job, job_id, populate_existing=True) if taken else None


def park(session: Session, job_id: str, owner: str, progress: dict[str, Any], metrics: dict[str, Any]) -> bool:
    """Free an owned running job's worker until one of its children wakes it; its status stays running. False when
    the lease was lost or a cancel was requested."""
    now = utcnow()
    return bool(session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == RUNNING, Job.lease_owner == owner, Job.cancel_requested.is_(False))
        .values(lease_owner=PARKED + now.isoformat(), lease_expires_at=now + PARK_GRACE, progress=progress,
                metrics=metrics)
    ).rowcount)


def wake_parent(session: Session, job_id: str) -> tuple[str, str, str] | None:
    """(id, kind, queue) of the parent of a job that has just ended, where the parent is parked and this was its
    last active child: the message to send it wakes it. A parent with children still at work waits for the last
    (the sweep decides once a rung is complete); one busy with a step reads its children afresh at its next step,
    which recovery starts if no child is left to."""
    parent_id = session.scalar(select(Job.parent_job_id).where(Job.id == job_id))
    parent = session.execute(select(Job.id, Job.kind, Job.queue, Job.lease_owner)
                             .where(Job.id == parent_id, Job.status == RUNNING)).first() if parent_id else None
    if parent is None or _parked_at(parent.lease_owner) is None or session.scalar(
            select(Job.id).where(Job.parent_job_id == parent.id, Job.status.in_(ACTIVE)).limit(1)) is not None:
        return None
    now = utcnow()
    woken = session.execute(  # the wake-up is on its way: recovery gives it PARK_GRACE from now
        update(Job).where(Job.id == parent.id, Job.status == RUNNING, Job.lease_owner == parent.lease_owner)
        .values(lease_owner=PARKED + now.isoformat(), lease_expires_at=now + PARK_GRACE)
    ).rowcount
    if not woken:
        return None
    return parent.id, parent.kind, parent.queue


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
        webhooks.record_job_outcome(session, job_id)
        if status != SUCCEEDED:
            cancel_children(session, job_id)
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
    """Cancel a queued or parked job at once or flag a running one, and its children likewise. False when the
    job is already final."""
    waiting = (Job.status == QUEUED) | ((Job.status == RUNNING) & Job.lease_owner.startswith(PARKED))
    cancelled_now = session.execute(
        update(Job)
        .where(Job.id == job.id, waiting)
        .values(status=CANCELLED, finished_at=utcnow(), cancel_requested=True, lease_owner=None,
                lease_expires_at=None)
    ).rowcount
    if cancelled_now:
        status_event(session, job.id, CANCELLED)
        webhooks.record_job_outcome(session, job.id)
    else:
        cancelled_now = session.execute(
            update(Job).where(Job.id == job.id, Job.status == RUNNING).values(cancel_requested=True)
        ).rowcount
        if cancelled_now:
            add_event(session, job.id, "cancel_requested", {})
    if cancelled_now:
        cancel_children(session, job.id)
    return bool(cancelled_now)


def cancel_children(session: Session, parent_id: str) -> None:
    """Children of a parent that ends early: queued or parked ones cancelled at once, running ones flagged."""
    for child in session.scalars(select(Job).where(Job.parent_job_id == parent_id, Job.status.in_(ACTIVE))).all():
        request_cancel(session, child)


def recover_expired(session: Session, max_attempts: int,
                    now: datetime | None = None) -> list[tuple[str, str, str]]:
    """Requeue running jobs whose worker stopped renewing its lease; fail those out of attempts.

    Returns (id, kind, queue) of the jobs that went back to the queue, which the caller must dispatch again.
    """
    now = now or utcnow()
    expired = session.execute(
        select(Job.id, Job.kind, Job.queue, Job.attempts, Job.cancel_requested, Job.lease_owner)
        .where(Job.status == RUNNING, Job.lease_expires_at < now)
    ).all()
    requeued = []
    for job_id, kind, queue, attempts, cancel_requested, lease_owner in expired:
        if _parked_at(lease_owner) is not None:  # no wake-up for PARK_GRACE: send one if no child is left to
            active = session.scalar(select(Job.id).where(Job.parent_job_id == job_id, Job.status.in_(ACTIVE))
                                    .limit(1))
            woken = active is None and session.execute(
                update(Job).where(Job.id == job_id, Job.status == RUNNING, Job.lease_owner == lease_owner)
                .values(lease_owner=PARKED + now.isoformat(), lease_expires_at=now + PARK_GRACE)
            ).rowcount
            if woken:
                requeued.append((job_id, kind, queue))
            continue
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
            webhooks.record_job_outcome(session, job_id)
            cancel_children(session, job_id)
    return requeued
