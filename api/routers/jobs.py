from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, StoreDep, WorkspaceDep
from api.errors import Problem, not_found
from api.json_body import UNSUPPORTED, JsonBody
from api.paths import IdPath
from api.quotas import JOBS_LIMIT_RESPONSE, STORAGE_LIMIT_RESPONSE, check_job_slots, check_storage
from api.schemas.common import Page
from api.schemas.jobs import JobCreate, JobEventOut, JobOut, SampleOut
from api.workspace_rows import owned, page
from core import jobs
from core.ids import new_id
from core.kinds import get_kind, resolve_job
from core.queue import enqueue
from core.storage_keys import sample_key
from core.tables import Job, JobEvent, utcnow

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
IDEMPOTENCY_WINDOW = timedelta(hours=24)
JobStatus = Annotated[str | None, Query(pattern="^(" + "|".join(jobs.STATUSES) + ")$")]


def get_job(session: Session, workspace: str, job_id: str) -> Job:
    return owned(session, Job, workspace, job_id, "job")


def _request_hash(body: JobCreate) -> str:
    return hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _replay(session: Session, workspace: str, key: str, request_hash: str) -> Job | None:
    job = session.scalar(select(Job).where(Job.workspace_id == workspace, Job.idempotency_key == key))
    if job is None:
        return None
    if job.created_at < utcnow() - IDEMPOTENCY_WINDOW:
        job.idempotency_key = None  # the key has expired and may be used again
        session.flush()
        return None
    if job.request_hash != request_hash:
        raise Problem(422, "this Idempotency-Key was used with a different request body",
                      errors=[{"loc": ["header", "Idempotency-Key"], "msg": "reused with another body"}])
    return job


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             responses={**JOBS_LIMIT_RESPONSE, **STORAGE_LIMIT_RESPONSE, **UNSUPPORTED})
def create_job(
    body: Annotated[JobCreate, Body()],
    workspace: WorkspaceDep,
    _json: JsonBody,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Job:
    request_hash = _request_hash(body)
    if idempotency_key and (earlier := _replay(session, workspace, idempotency_key, request_hash)):
        return earlier
    params = resolve_job(session, workspace, body.kind, body.params, settings=settings, store=store)
    check_job_slots(session, workspace, settings)
    check_storage(session, workspace, settings)
    job = Job(id=new_id("job"), workspace_id=workspace, kind=body.kind, queue=get_kind(body.kind).queue,
              status=jobs.QUEUED, params=params, progress={}, metrics={}, idempotency_key=idempotency_key,
              request_hash=request_hash)
    session.add(job)
    jobs.status_event(session, job.id, jobs.QUEUED)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent request with the same Idempotency-Key won the insert
        if idempotency_key and (earlier := _replay(session, workspace, idempotency_key, request_hash)):
            return earlier
        raise
    try:
        enqueue(job.id, job.kind, job.queue)
    except Exception as exc:
        session.delete(job)
        session.commit()
        raise Problem(503, f"the job queue is unreachable, nothing was stored: {exc}") from None
    return job


@router.get("", response_model=Page[JobOut])
def list_jobs(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None,
              status: JobStatus = None, kind: str | None = None,
              parent_job_id: Annotated[str | None, Query(max_length=64,
                                                         description="Only the children of this job (a sweep's "
                                                                     "candidates).")] = None) -> dict:
    filters = [column == value for column, value in
               ((Job.status, status), (Job.kind, kind), (Job.parent_job_id, parent_job_id)) if value]
    return page(session, Job, workspace, limit, cursor, *filters)


@router.get("/{job_id}", response_model=JobOut)
def read_job(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Job:
    return get_job(session, workspace, job_id)


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def cancel_job(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Job:
    job = get_job(session, workspace, job_id)
    if not jobs.request_cancel(session, job):
        raise Problem(409, f"job {job_id!r} is already {job.status}")
    session.commit()
    session.refresh(job)
    return job


@router.get("/{job_id}/events", response_model=Page[JobEventOut])
def job_events(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 500,
               cursor: CursorQuery = None) -> dict:
    get_job(session, workspace, job_id)
    stmt = select(JobEvent).where(JobEvent.job_id == job_id)
    if cursor:
        stmt = stmt.where(JobEvent.id > int(cursor))
    rows = list(session.scalars(stmt.order_by(JobEvent.id).limit(limit + 1)))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


@router.get("/{job_id}/samples", response_model=list[SampleOut])
def job_samples(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> list[SampleOut]:
    get_job(session, workspace, job_id)
    events = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "sample")
                             .order_by(JobEvent.id))
    latest = {event.step: event for event in events}  # a resumed job may write a step twice
    return [SampleOut(step=step, url=f"/v1/jobs/{job_id}/samples/{step}.png", created_at=event.created_at)
            for step, event in sorted(latest.items())]


@router.get("/{job_id}/samples/{step}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "A sample grid, a row per class."}})
def job_sample(job_id: IdPath, step: int, workspace: WorkspaceDep, session: SessionDep,
               store: StoreDep) -> Response:
    get_job(session, workspace, job_id)
    key = sample_key(job_id, step)
    if not store.exists(key):
        raise not_found("sample", f"{job_id}@{step}")
    return Response(store.get_bytes(key), media_type="image/png")
