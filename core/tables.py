"""Database tables. The database holds metadata only; bytes live in the object store."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Dialect, ForeignKey, Index, Integer, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend; SQLite would otherwise hand back naive datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, datetime: UTCDateTime()}


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_workspace_sha256", "workspace_id", "sha256"),)  # duplicate uploads
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    num_images: Mapped[int] = mapped_column(Integer)
    num_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    image_mode: Mapped[str] = mapped_column(String(8))
    min_size: Mapped[list[Any]]
    max_size: Mapped[list[Any]]
    classes: Mapped[list[Any]]
    sha256: Mapped[str] = mapped_column(String(64))
    # The bytes of its stored images, for the workspace's storage limit; 0 for rows from before it was recorded.
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Image(Base):
    __tablename__ = "images"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    class_name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(300))
    object_key: Mapped[str] = mapped_column(String(600))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(8))


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_workspace_idempotency", "workspace_id", "idempotency_key", unique=True),
        Index("ix_jobs_status_lease", "status", "lease_expires_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The Celery queue it is sent to, so that workers can requeue it without loading its kind's spec.
    queue: Mapped[str] = mapped_column(String(16), default="gpu", server_default="gpu")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    params: Mapped[dict[str, Any]]
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # The job that started this one (a sweep's candidates); ending the parent early ends its children.
    parent_job_id: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class JobEvent(Base):
    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    step: Mapped[int | None] = mapped_column(Integer, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegisteredModel(Base):
    """A generator (its sampling network, see models.snapshot) or a classifier (trained by an augmentation
    report, or imported)."""

    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="generator", server_default="generator")
    architecture: Mapped[str] = mapped_column(String(40))
    dataset_id: Mapped[str | None] = mapped_column(String(40), default=None)
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    classes: Mapped[list[Any]]
    resolution: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(Integer, default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Warnings about the generator, e.g. "collapsed" (worker/collapse.py); they follow its latest measurement.
    flags: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # The training configuration as the checkpoint holds it; None for rows made before it was recorded.
    config: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    object_key: Mapped[str] = mapped_column(String(600))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str | None] = mapped_column(String(40), default=None)
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    count: Mapped[int] = mapped_column(Integer)
    classes: Mapped[list[Any]]
    image_format: Mapped[str] = mapped_column(String(8), default="png")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Backbone(Base):
    """A workspace's own feature extractor for metrics: a TorchScript module, which runs no arbitrary Python."""

    __tablename__ = "backbones"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    feature_dim: Mapped[int] = mapped_column(Integer)
    in_channels: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(String(600))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    """An augmentation report: does a classifier trained with synthetic images beat one trained without?"""

    __tablename__ = "reports"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str] = mapped_column(String(40))
    train_dataset_id: Mapped[str] = mapped_column(String(40))
    test_dataset_id: Mapped[str | None] = mapped_column(String(40), default=None)
    synthetic_source: Mapped[dict[str, Any]]
    classifier: Mapped[str] = mapped_column(String(40))
    classifier_model_id: Mapped[str | None] = mapped_column(String(40), default=None)
    summary: Mapped[dict[str, Any]]
    plots: Mapped[list[Any]]  # file names under the report's plots/
    gradcam: Mapped[list[Any]]  # setting keys that have a Grad-CAM grid
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """A receiver of a workspace's job outcomes. `secret` is the Standard Webhooks signing key (whsec_…): the
    worker needs it in the clear to sign, so it is stored as is and shown once, at creation."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[Any]]
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook, written in the transaction that ends the job (an outbox); its id is the
    `webhook-id` header, so a receiver can drop duplicates."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A sender's claim on the row while it posts, so that two workers never send one delivery at once.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
