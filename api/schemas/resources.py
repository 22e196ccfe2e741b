"""Response bodies for datasets, models and batches."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

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
    size_bytes: int = Field(description="Bytes of its stored images, counted in workspace_max_stored_bytes; 0 for "
                                        "datasets uploaded before it was recorded.")


class ModelOut(Out):
    id: str
    kind: str = Field(description='"generator" (a GAN), "translator" (an image-to-image GAN such as cyclegan, '
                                  'for translate jobs) or "classifier" (from an augmentation report, or imported)')
    architecture: str
    dataset_id: str | None
    job_id: str | None
    classes: list[str]
    resolution: int
    channels: int
    step: int | None
    metrics: dict[str, Any]
    flags: list[str] = Field(default_factory=list, description='Warnings about a generator: "collapsed" when its '
                                                               "latest diversity (metrics.diversity) is below the "
                                                               "collapse threshold.")
    config: dict[str, Any] | None = Field(description="The training configuration the checkpoint holds.")
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


class ReportOut(Out):
    id: str
    job_id: str
    train_dataset_id: str
    test_dataset_id: str | None
    synthetic_source: dict[str, str]
    classifier: str
    classifier_model_id: str | None
    summary: dict[str, Any] = Field(description="Per setting: accuracy and macro-F1 (mean, std, ci95, runs), "
                                                "per-class precision and recall, the confusion matrix, the "
                                                "uplift over real-only training (naming its setting and "
                                                "baseline) with its paired test, alias_of (the setting it "
                                                "equals by construction, or null) and few_repeats with "
                                                "few_repeats_reason; interval_method says how ci95 is made "
                                                "(within [0, 1], uplift within [-1, 1]).")
    plots: dict[str, str] = Field(description="Plot name -> URL of its PNG.")
    gradcam: dict[str, str] = Field(description="Setting key -> URL of its Grad-CAM grid (PNG).")
    created_at: datetime
