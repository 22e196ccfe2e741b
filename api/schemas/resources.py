"""Response bodies for datasets, models and batches."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from api.schemas.common import ClassCount, Out


class DatasetOut(Out):
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


class ModelOut(Out):
    id: str
    architecture: str
    dataset_id: str | None
    job_id: str | None
    classes: list[str]
    resolution: int
    channels: int
    step: int | None
    metrics: dict[str, Any]
    created_at: datetime
    size_bytes: int


class BatchOut(Out):
    id: str
    model_id: str | None
    job_id: str | None
    count: int
    classes: list[ClassCount]
    size_bytes: int
    created_at: datetime


class DownloadUrl(Out):
    url: str
    expires_at: datetime


class BackboneOut(Out):
    id: str
    name: str
    fingerprint: str
    feature_dim: int
    in_channels: int
    size_bytes: int
    created_at: datetime
