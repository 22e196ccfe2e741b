"""The job state machine on a real database: leases, recovery and the attempt cap."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core import jobs
from core.db import make_engine
from core.keys import ensure_workspace
from core.tables import Base, Job, JobEvent, utcnow


@pytest.fixture
def session(tmp_path) -> Session:  # type: ignore[misc]
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    Base.metadata.create_all(engine)
    with sessionmaker(engine, expire_on_commit=False)() as s:
        yield s


def _job(session: Session) -> Job:
    workspace = ensure_workspace(session, "w")
    job = Job(id="job_1", workspace_id=workspace.id, kind="train", params={}, progress={}, metrics={})
    session.add(job)
    session.commit()
    return job


def test_only_one_worker_can_claim(session):
    _job(session)
    assert jobs.claim(session, "job_1", "a", 10) is not None
    assert jobs.claim(session, "job_1", "b", 10) is None
    job = session.get(Job, "job_1")
    assert (job.status, job.lease_owner, job.attempts) == ("running", "a", 1)


def test_heartbeat_only_for_the_owner_and_sees_cancel(session):
    job = _job(session)
    jobs.claim(session, job.id, "a", 10)
    assert jobs.heartbeat(session, job.id, "b", 10, {"step": 1}, {}) == (False, False)
    assert jobs.request_cancel(session, job)
    assert jobs.heartbeat(session, job.id, "a", 10, {"step": 2}, {"loss": 1.0}) == (True, True)
    assert session.get(Job, job.id, populate_existing=True).progress == {"step": 2}


def test_finish_needs_the_lease(session):
    job = _job(session)
    jobs.claim(session, job.id, "a", 10)
    assert not jobs.finish(session, job.id, "b", jobs.SUCCEEDED)
    assert jobs.finish(session, job.id, "a", jobs.SUCCEEDED, result={"model_id": "m"})
    assert not jobs.request_cancel(session, session.get(Job, job.id, populate_existing=True))


def test_expired_lease_requeues_until_attempts_run_out(session):
    job = _job(session)
    later = utcnow() + timedelta(seconds=60)
    for attempt in range(1, 3):
        assert jobs.claim(session, job.id, f"w{attempt}", 10)
        assert jobs.recover_expired(session, max_attempts=3) == []  # lease still valid
        assert jobs.recover_expired(session, max_attempts=3, now=later) == [(job.id, "train", "gpu")]
    assert jobs.claim(session, job.id, "w3", 10)
    assert jobs.recover_expired(session, max_attempts=3, now=later) == []
    failed = session.get(Job, job.id, populate_existing=True)
    assert failed.status == "failed" and failed.error["code"] == "worker_lost" and failed.attempts == 3
    statuses = [e.data["status"] for e in session.query(JobEvent).order_by(JobEvent.id) if e.type == "status"]
    assert statuses == ["running", "queued", "running", "queued", "running", "failed"]


def test_queued_cancel_is_immediate(session):
    job = _job(session)
    assert jobs.request_cancel(session, job)
    assert session.get(Job, job.id, populate_existing=True).status == "cancelled"
    assert jobs.claim(session, job.id, "a", 10) is None
