"""Limits per workspace: jobs in flight (429 beyond) and stored bytes (413 beyond).

The checks count committed rows, so requests that race may each pass and overshoot by their own size; the
limits keep a workspace from growing without bound, they are not an exact accounting.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.errors import Problem
from core import jobs
from core.settings import Settings
from core.tables import Backbone, Batch, Dataset, Job, RegisteredModel

STORED = (Dataset, RegisteredModel, Batch, Backbone)


def active_jobs(session: Session, workspace: str) -> int:
    return session.scalar(select(func.count()).select_from(Job).where(
        Job.workspace_id == workspace, Job.status.in_(sorted(jobs.ACTIVE)))) or 0


def stored_bytes(session: Session, workspace: str) -> int:
    return sum(session.scalar(select(func.coalesce(func.sum(table.size_bytes), 0))
                              .where(table.workspace_id == workspace)) or 0 for table in STORED)


def check_job_slots(session: Session, workspace: str, settings: Settings) -> None:
    limit = settings.workspace_max_active_jobs
    if active_jobs(session, workspace) >= limit:
        raise Problem(429, f"the workspace has {limit} queued or running jobs, its limit; wait for one to finish "
                           "or cancel one")


def check_storage(session: Session, workspace: str, settings: Settings, adding: int = 0) -> None:
    """Refuse `adding` more bytes (0: anything that will store more, such as a job) beyond the limit."""
    limit, used = settings.workspace_max_stored_bytes, stored_bytes(session, workspace)
    if used + adding <= limit and (adding or used < limit):
        return
    adds = f", this would add {adding}" if adding else ""
    raise Problem(413, f"the workspace stores {used} bytes of its limit of {limit}{adds}: delete datasets, models "
                       "or batches first", title="Storage Limit Exceeded")
