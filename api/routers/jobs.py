from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, StoreDep, WorkspaceDep
from api.errors import Problem, invalid, not_found
from api.rows import Row, owned, page
from api.schemas.common import Page
from api.schemas.jobs import (
    INCEPTION,
    EvaluateParams,
    GenerateParams,
    JobCreate,
    JobEventOut,
    JobOut,
    SampleOut,
    TrainParams,
)
from core import jobs
from core.ids import new_id
from core.objects import sample_key
from core.queue import enqueue
from core.settings import get_settings
from core.storage import get_store
from core.tables import Backbone, Dataset, Job, JobEvent, Model, utcnow
from core.weights import IMPORT_HINT, inception_available

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
IDEMPOTENCY_WINDOW = timedelta(hours=24)
JobStatus = Annotated[str | None, Query(pattern="^(" + "|".join(jobs.STATUSES) + ")$")]


def get_job(session: Session, workspace: str, job_id: str) -> Job:
    return owned(session, Job, workspace, job_id, "job")


NOUNS = {Dataset: "dataset", Model: "model", Backbone: "backbone"}


def _named(session: Session, table: type[Row], workspace: str, id_: str, field: str) -> Row:
    """A row that a job's parameters name: unknown, or another workspace's, is a 422 on that field."""
    try:
        return owned(session, table, workspace, id_, NOUNS[table])
    except Problem as exc:
        raise invalid(["body", "params", field], exc.detail) from None


def _check_backbone(session: Session, workspace: str, ref: str, channels: int, field: str) -> None:
    if ref == INCEPTION:
        if not inception_available(get_settings(), get_store()):
            raise invalid(["body", "params", field], IMPORT_HINT)
        return
    backbone = _named(session, Backbone, workspace, ref, field)
    if backbone.in_channels < channels:
        raise invalid(["body", "params", field],
                      f"backbone {ref} takes {backbone.in_channels}-channel images, these have {channels}")


def _check_train(session: Session, workspace: str, params: TrainParams) -> dict:
    dataset = _named(session, Dataset, workspace, params.dataset_id, "dataset_id")
    resolved = params.model_dump()
    resolved["channels"] = params.channels or (1 if dataset.image_mode == "L" else 3)
    if params.base_model_id:
        base = _named(session, Model, workspace, params.base_model_id, "base_model_id")
        classes = [c["name"] for c in dataset.classes]
        mine = (params.architecture, params.resolution, resolved["channels"], classes)
        theirs = (base.architecture, base.resolution, base.channels, base.classes)
        if mine != theirs:
            raise invalid(["body", "params", "base_model_id"],
                          f"cannot fine-tune {base.architecture} {base.resolution}px {base.channels}ch "
                          f"classes {base.classes} into {mine[0]} {mine[1]}px {mine[2]}ch classes {classes}")
    if params.eval_every:
        _check_backbone(session, workspace, params.eval_backbone, resolved["channels"], "eval_backbone")
    return resolved


def _check_generate(session: Session, workspace: str, params: GenerateParams) -> dict:
    model = _named(session, Model, workspace, params.model_id, "model_id")
    unknown = sorted(set(params.counts or ()) - set(model.classes))
    if unknown:
        raise invalid(["body", "params", "counts"], f"classes {unknown} are not among the model's {model.classes}")
    return params.model_dump()


def _check_evaluate(session: Session, workspace: str, params: EvaluateParams) -> dict:
    model = _named(session, Model, workspace, params.model_id, "model_id")
    dataset = _named(session, Dataset, workspace, params.dataset_id, "dataset_id")
    missing = sorted(set(model.classes) - {c["name"] for c in dataset.classes})
    if missing:
        raise invalid(["body", "params", "dataset_id"], f"the dataset lacks the model's classes {missing}")
    _check_backbone(session, workspace, params.backbone, model.channels, "backbone")
    return params.model_dump()


CHECKS = {"train": _check_train, "generate": _check_generate, "evaluate": _check_evaluate}


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


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def create_job(
    body: Annotated[JobCreate, Body()],
    workspace: WorkspaceDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Job:
    request_hash = _request_hash(body)
    if idempotency_key and (earlier := _replay(session, workspace, idempotency_key, request_hash)):
        return earlier
    params = CHECKS[body.kind](session, workspace, body.params)  # type: ignore[operator]
    job = Job(id=new_id("job"), workspace_id=workspace, kind=body.kind, status=jobs.QUEUED, params=params,
              progress={}, metrics={}, idempotency_key=idempotency_key, request_hash=request_hash)
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
        enqueue(job.id, job.kind)
    except Exception as exc:
        session.delete(job)
        session.commit()
        raise Problem(503, f"the job queue is unreachable, nothing was stored: {exc}") from None
    return job


@router.get("", response_model=Page[JobOut])
def list_jobs(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None,
              status: JobStatus = None, kind: str | None = None) -> dict:
    filters = [column == value for column, value in ((Job.status, status), (Job.kind, kind)) if value]
    return page(session, Job, workspace, limit, cursor, *filters)


@router.get("/{job_id}", response_model=JobOut)
def read_job(job_id: str, workspace: WorkspaceDep, session: SessionDep) -> Job:
    return get_job(session, workspace, job_id)


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
def cancel_job(job_id: str, workspace: WorkspaceDep, session: SessionDep) -> Job:
    job = get_job(session, workspace, job_id)
    if not jobs.request_cancel(session, job):
        raise Problem(409, f"job {job_id!r} is already {job.status}")
    session.commit()
    session.refresh(job)
    return job


@router.get("/{job_id}/events", response_model=Page[JobEventOut])
def job_events(job_id: str, workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 500,
               cursor: CursorQuery = None) -> dict:
    get_job(session, workspace, job_id)
    stmt = select(JobEvent).where(JobEvent.job_id == job_id)
    if cursor:
        stmt = stmt.where(JobEvent.id > int(cursor))
    rows = list(session.scalars(stmt.order_by(JobEvent.id).limit(limit + 1)))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


@router.get("/{job_id}/samples", response_model=list[SampleOut])
def job_samples(job_id: str, workspace: WorkspaceDep, session: SessionDep) -> list[SampleOut]:
    get_job(session, workspace, job_id)
    events = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "sample")
                             .order_by(JobEvent.id))
    latest = {event.step: event for event in events}  # a resumed job may write a step twice
    return [SampleOut(step=step, url=f"/v1/jobs/{job_id}/samples/{step}.png", created_at=event.created_at)
            for step, event in sorted(latest.items())]


@router.get("/{job_id}/samples/{step}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "A sample grid, a row per class."}})
def job_sample(job_id: str, step: int, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> Response:
    get_job(session, workspace, job_id)
    key = sample_key(job_id, step)
    if not store.exists(key):
        raise not_found("sample", f"{job_id}@{step}")
    return Response(store.get_bytes(key), media_type="image/png")
