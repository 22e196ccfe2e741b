"""Service settings, read from DEFECTGEN_* environment variables.

With nothing set, the service runs on the embedded default: SQLite, a local folder as object store and
kombu's filesystem transport as the Celery broker, all under DATA_DIR.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEFECTGEN_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".defectgen-data")
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""
    storage_url: str = ""
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_public_endpoint: str = ""
    bootstrap_api_key: SecretStr | None = None

    max_upload_bytes: int = 1024**3
    max_json_bytes: int = Field(1024**2, ge=1, description="The largest JSON request body; larger ones get a 413.")
    max_archive_entries: int = 20_000
    max_uncompressed_bytes: int = 4 * 1024**3
    max_image_pixels: int = 4096 * 4096
    min_images_per_class: int = 2
    # One class is a dataset too: good parts as a translation source, or the one defect an unconditional
    # generator learns.
    min_classes: int = Field(1, ge=1)
    orphan_upload_grace_seconds: float = Field(3600.0, ge=0, description=(
        "How long an upload or import may take before its objects, with no row, count as orphaned."))
    store_sweep_interval_seconds: float = Field(3600.0, gt=0, description=(
        "How often each worker removes objects that no row owns (core/orphans.py)."))
    job_state_retention_seconds: float = Field(86400.0, ge=0, description=(
        "How long a job that failed for good keeps its training checkpoint."))

    job_lease_seconds: float = Field(30.0, gt=0)
    progress_interval_seconds: float = Field(1.0, gt=0)
    max_job_attempts: int = Field(3, ge=1)
    max_job_hours: float = Field(48.0, gt=0)
    presigned_url_seconds: int = 3600
    torch_threads: int = 0
    train_device: Literal["cpu", "cuda"] = Field("cpu", description=(
        "What the gpu-queue workers train on; train jobs take that device's defaults (models.architectures: "
        "device_defaults) where a request leaves a setting out."))
    workspace_max_active_jobs: int = Field(1000, ge=1, description=(
        "Queued plus running jobs a workspace may have; a submission beyond gets a 429."))
    workspace_max_stored_bytes: int = Field(1024**4, ge=1, description=(
        "Bytes of datasets, models, batches and backbones a workspace may store; beyond, uploads and new jobs "
        "get a 413."))
    api_max_concurrency: int = Field(24, ge=1, description="Requests served at once per API process.")
    webhook_allow_private_networks: bool = Field(False, description=(
        "Webhook URLs may point at loopback and private ranges (10/8, 172.16/12, 192.168/16, fc00::/7): factory "
        "networks. Link-local, multicast and cloud metadata addresses are refused either way."))
    webhook_retry_window_seconds: float = Field(86400.0, ge=0, description=(
        "How long a webhook delivery is retried after its event before it is marked failed."))
    webhook_retry_base_seconds: float = Field(5.0, gt=0, description=(
        "The first retry's delay; each further one doubles it, up to an hour, plus jitter."))
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="How long one delivery may take.")
    webhook_poll_seconds: float = Field(1.0, gt=0, description="How often each worker looks for due deliveries.")
    inception_weights_path: Path | None = None

    @field_validator("inception_weights_path", "bootstrap_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        data = self.data_dir.resolve()
        self.data_dir = data
        if not self.database_url:
            self.database_url = f"sqlite:///{data / 'defectgen.db'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if not self.storage_url:
            self.storage_url = (data / "objects").as_uri()
        return self

    @property
    def broker_folder(self) -> Path:
        return self.data_dir / "broker"

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")


@lru_cache
def get_settings() -> Settings:
    return Settings()
