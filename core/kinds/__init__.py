"""The job kinds. Each is one module here, named after its kind, holding its spec (`SPEC`): a params model,
a resolve step, the references it holds and its queue; its handler is worker/handlers/<kind>.py.

Importing this package imports no spec: the worker's parent process registers one Celery task per kind from
the module names alone and never loads PyTorch, which the specs' parameter models import.
"""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import workspace_row
from core.errors import InvalidParam
from core.jobs import ACTIVE
from core.kinds.base import JobKind, Named, value_at
from core.tables import Job


@lru_cache
def kind_names() -> tuple[str, ...]:
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if m.name != "base" and not m.name.startswith("_")))


def get_kind(name: str) -> JobKind:
    if name not in kind_names():
        raise KeyError(f"unknown job kind {name!r}; known: {', '.join(kind_names())}")
    return importlib.import_module(f"{__name__}.{name}").SPEC


def all_kinds() -> list[JobKind]:
    return [get_kind(name) for name in kind_names()]


def resolve_job(session: Session, workspace_id: str, kind: str, params: Any, **services: Any) -> dict[str, Any]:
    """The params as the job will run them: every reference checked to exist in the workspace, then the
    kind's own checks and defaults. Raises InvalidParam."""
    spec = get_kind(kind)
    given = params.model_dump()
    rows = {}
    for path, ref in spec.references.items():
        value = value_at(given, path)
        if value is None or value in ref.not_ids:
            continue
        row = workspace_row(session, ref.table, workspace_id, value)
        if row is None:
            raise InvalidParam(path, f"{ref.noun} {value!r} does not exist in this workspace")
        rows[path] = row
    return spec.resolve(params, Named(session, workspace_id, rows, services))


def active_users(session: Session, workspace_id: str, table: type, resource_id: str) -> list[str]:
    """Ids of the workspace's queued or running jobs whose parameters reference `resource_id` of `table`."""
    active = session.scalars(select(Job).where(Job.workspace_id == workspace_id, Job.status.in_(ACTIVE)))
    return [job.id for job in active
            if any(ref.table is table and value_at(job.params, path) == resource_id
                   for path, ref in get_kind(job.kind).references.items())]
