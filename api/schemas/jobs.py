"""Job submission bodies (one per kind, from the kinds' specs) and the job resource."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field

from api.schemas.common import Out
from core.kinds import all_kinds

JobCreate = Annotated[Union[tuple(spec.create_model() for spec in all_kinds())],  # noqa: UP007
                      Field(discriminator="kind")]


class Progress(BaseModel):
    fraction: float = 0.0
    step: int = 0
    total_steps: int | None = Field(None, description="null until the job's worker reports its first progress (a "
                                                      "queued job's total is not known yet).")
    eta_seconds: float | None = None
    message: str = Field("", description="What the job is doing; once it has ended, its final status.")


class JobOut(Out):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: Progress
    params: dict[str, Any]
    metrics: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, str] | None
    attempts: int
    parent_job_id: str | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobEventOut(Out):
    id: int
    type: str
    step: int | None
    data: dict[str, Any]
    created_at: datetime


class SampleOut(BaseModel):
    step: int
    url: str
    created_at: datetime
