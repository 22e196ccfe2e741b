"""The resources the REST API answers with, as the client returns them.

These mirror api/schemas/ (tests/test_client.py checks them against /openapi.json) but are declared again here, so
that the client imports neither the server nor PyTorch. Fields the server adds later are kept (extra="allow"),
since the contract changes by addition.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

FINAL_STATUSES = ("succeeded", "failed", "cancelled")


class Resource(BaseModel):
    model_config = ConfigDict(extra="allow")


class ClassCount(Resource):
    name: str
    count: int


class Dataset(Resource):
    id: str
    name: str
    created_at: datetime
    num_images: int
    num_duplicates: int
    image_mode: str
    min_size: tuple[int, int]
    max_size: tuple[int, int]
    classes: list[ClassCount]
    sha256: str
    size_bytes: int
    duplicate: bool = False  # set by the client: the upload answered with an earlier dataset of the same content


class Progress(Resource):
    fraction: float = 0.0
    step: int = 0
    total_steps: int | None = None  # null until the job's worker reports its first progress
    eta_seconds: float | None = None
    message: str = ""


class Job(Resource):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: Progress
    params: dict[str, Any]
    metrics: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, str] | None
    attempts: int
    parent_job_id: str | None = None  # a sweep's candidates name their sweep
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class JobEvent(Resource):
    id: int
    type: str
    step: int | None
    data: dict[str, Any]
    created_at: datetime


class Sample(Resource):
    step: int
    url: str
    created_at: datetime


class Model(Resource):
    id: str
    kind: str
    architecture: str
    dataset_id: str | None
    job_id: str | None
    classes: list[str]
    resolution: int
    channels: int
    step: int | None
    metrics: dict[str, Any]
    flags: list[str] = []
    config: dict[str, Any] | None
    created_at: datetime
    size_bytes: int


class Batch(Resource):
    id: str
    model_id: str | None
    job_id: str | None
    count: int
    classes: list[ClassCount]
    size_bytes: int
    created_at: datetime


class DownloadUrl(Resource):
    url: str
    expires_at: datetime


class Backbone(Resource):
    id: str
    name: str
    fingerprint: str
    feature_dim: int
    in_channels: int
    size_bytes: int
    created_at: datetime


class Report(Resource):
    id: str
    job_id: str
    train_dataset_id: str
    test_dataset_id: str | None
    synthetic_source: dict[str, str]
    classifier: str
    classifier_model_id: str | None
    summary: dict[str, Any]
    plots: dict[str, str]
    gradcam: dict[str, str]
    created_at: datetime



class Webhook(Resource):
    id: str
    url: str
    event_types: list[str]
    created_at: datetime
    secret: str | None = None  # only in the answer that created it


class Delivery(Resource):
    id: str
    event_type: str
    job_id: str | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
