from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, StoreDep, WorkspaceDep
from api.errors import Problem, not_found
from api.json_body import JsonBody
from api.openapi import link, problems
from api.paths import IdPath
from api.quotas import check_job_slots, check_storage
from api.schemas.common import Page
from api.schemas.jobs import JobCreate, JobEventOut, JobOut, SampleOut
from api.workspace_rows import owned, page
from core import jobs
from core.fields import ID_MAX_LENGTH, ID_PATTERN
from core.ids import new_id
from core.kinds import get_kind, kind_names, resolve_job
from core.queue import enqueue
from core.storage_keys import sample_key
from core.tables import Job, JobEvent, utcnow

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=problems(401, 422))
IDEMPOTENCY_WINDOW = timedelta(hours=24)
JobStatus = Annotated[Literal[jobs.STATUSES] | None,  # type: ignore[valid-type]
                      Query(description="Only jobs in this status.")]
JobKindQuery = Annotated[Literal[kind_names()] | None,  # type: ignore[valid-type]
                         Query(description="Only jobs of this kind.")]
# An event id: digits that fit the database's 64-bit integer.
EventCursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$",
                                          description="The next_cursor of the previous page.")]
JOB_ID = {"job_id": "$response.body#/id"}
JOB_LINKS = {
    "GetJob": link("read_job", "The job, to poll.", **JOB_ID),
    "CancelJob": link("cancel_job", "Cancel the job.", **JOB_ID),
    "GetJobEvents": link("job_events", "Its progress and metric history.", **JOB_ID),
    "GetJobSamples": link("job_samples", "Its sample grids.", **JOB_ID),
}


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
             responses={202: {"description": "The job, queued.", "links": JOB_LINKS},
                        **problems((400, "The body cannot be decoded as JSON text (e.g. it is not UTF-8)."), 413,
                                   (415, "The body is not sent as `Content-Type: application/json`."),
                                   (422, "The body is invalid, or a parameter names something that does not exist "
                                         "in this workspace or does not fit the rest: `errors` names it, e.g. "
                                         '["body", "params", "dataset_id"]; or the Idempotency-Key was used with '
                                         "another body."), 429, 503)})
def create_job(
    body: Annotated[JobCreate, Body()],
    workspace: WorkspaceDep,
    _json: JsonBody,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    idempotency_key: Annotated[str | None, Header(max_length=200, description=(
        "The same key and body within 24 h answer the first job instead of creating a second."))] = None,
) -> Job:
    """Submit a job of a kind with its params (202); it runs on a worker. Ids in the params must exist in the
    workspace, and the params must fit them (422 otherwise, never a failed job later)."""
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
              status: JobStatus = None, kind: JobKindQuery = None,
              parent_job_id: Annotated[str | None, Query(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN,
                                                         description="Only the children of this job (a sweep's "
                                                                     "candidates).")] = None) -> dict:
    """The workspace's jobs, newest first."""
    filters = [column == value for column, value in
               ((Job.status, status), (Job.kind, kind), (Job.parent_job_id, parent_job_id)) if value]
    return page(session, Job, workspace, limit, cursor, *filters)


@router.get("/{job_id}", response_model=JobOut, responses=problems(404))
def read_job(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Job:
    """One job: its status, progress, metrics, and its result or error once it has ended."""
    return get_job(session, workspace, job_id)


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             responses=problems(404, (409, "The job has already ended.")))
def cancel_job(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Job:
    """Cancel a job (202): a queued one at once, a running one within one training step."""
    job = get_job(session, workspace, job_id)
    if not jobs.request_cancel(session, job):
        raise Problem(409, f"job {job_id!r} is already {job.status}")
    session.commit()
    session.refresh(job)
    return job


@router.get("/{job_id}/events", response_model=Page[JobEventOut], responses=problems(404))
def job_events(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 500,
               cursor: EventCursor = None) -> dict:
    """The job's status changes, progress and metric history, oldest first."""
    get_job(session, workspace, job_id)
    stmt = select(JobEvent).where(JobEvent.job_id == job_id)
    if cursor:
        stmt = stmt.where(JobEvent.id > int(cursor))
    rows = list(session.scalars(stmt.order_by(JobEvent.id).limit(limit + 1)))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


@router.get("/{job_id}/samples", response_model=list[SampleOut], responses=problems(404))
def job_samples(job_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> list[SampleOut]:
    """The sample grids a training job wrote, each with its step and URL."""
    get_job(session, workspace, job_id)
    events = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "sample")
                             .order_by(JobEvent.id))
    latest = {event.step: event for event in events}  # a resumed job may write a step twice
    return [SampleOut(step=step, url=f"/v1/jobs/{job_id}/samples/{step}.png", created_at=event.created_at)
            for step, event in sorted(latest.items())]


@router.get("/{job_id}/samples/{step}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "A sample grid, a row per class."},
                       **problems((404, "No such job in this workspace, or it wrote no sample at this step."))})
def job_sample(job_id: IdPath, step: Annotated[int, Path(ge=0, le=2**62)], workspace: WorkspaceDep,
               session: SessionDep, store: StoreDep) -> Response:
    """One sample grid (PNG), a row per class."""
    get_job(session, workspace, job_id)
    key = sample_key(job_id, step)
    if not store.exists(key):
        raise not_found("sample", f"{job_id}@{step}")
    return Response(store.get_bytes(key), media_type="image/png")
