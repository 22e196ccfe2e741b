"""What every job needs before it touches a model: torch configured, rows loaded from the database."""
from __future__ import annotations

from typing import TypeVar

import torch

from core.db import session_scope
from core.settings import Settings
from worker.runner import JobContext, JobFailed

Row = TypeVar("Row")


def torch_device(settings: Settings) -> str:
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_row(ctx: JobContext, table: type[Row], row_id: str, what: str) -> Row:
    """A row of the job's own workspace, detached; a job whose input was deleted fails clearly."""
    with session_scope() as session:
        row = session.get(table, row_id)
        if row is None or row.workspace_id != ctx.workspace_id:  # type: ignore[attr-defined]
            raise JobFailed(f"{what}_missing", f"{what} {row_id!r} no longer exists")
        session.expunge(row)
    return row
