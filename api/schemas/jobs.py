"""Job submission bodies (validated per kind) and the job resource."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.common import Out
from models.metrics.registry import metric_names
from models.registry import architecture_names, get_architecture

INCEPTION = "inception"
BackboneRef = Annotated[str, Field(description='"inception" (needs the imported FID weights) or a backbone id')]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainParams(Params):
    dataset_id: str
    architecture: str = Field("cdcgan", description="One of the registered architectures.")
    steps: int = Field(2000, ge=1, le=1_000_000)
    batch_size: int = Field(16, ge=1, le=1024)
    resolution: int = 64
    channels: Literal[1, 3] | None = Field(None, description="Default: 1 for a grayscale dataset, else 3.")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    base_model_id: str | None = Field(None, description="Fine-tune from this model's weights.")
    z_dim: int = Field(100, ge=1, le=1024)
    width: int = Field(64, ge=4, le=1024, description="Base channel count of both networks.")
    lr: float = Field(2e-4, gt=0, le=1)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    sample_every: int = Field(200, ge=1)
    checkpoint_every: int = Field(200, ge=1)
    eval_every: int | None = Field(None, ge=1, description="Evaluate every N steps; the model is the best one.")
    eval_metric: Literal["kid", "fid"] = "kid"
    eval_samples: int = Field(500, ge=2, le=50_000, description="Generated images per evaluation.")
    eval_backbone: BackboneRef = INCEPTION

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, value: str) -> str:
        if value not in architecture_names():
            raise ValueError(f"unknown architecture {value!r}; known: {', '.join(architecture_names())}")
        return value

    @model_validator(mode="after")
    def _supported_resolution(self) -> TrainParams:
        supported = get_architecture(self.architecture).resolutions
        if self.resolution not in supported:
            raise ValueError(f"{self.architecture} supports resolutions {list(supported)}, not {self.resolution}")
        return self


class GenerateParams(Params):
    model_id: str
    count_per_class: int | None = Field(None, ge=1, le=100_000)
    counts: dict[str, Annotated[int, Field(ge=0, le=100_000)]] | None = None
    seed: int = Field(0, ge=0, le=2**31 - 1)
    truncation_psi: float = Field(1.0, ge=0, le=2)

    @model_validator(mode="after")
    def _one_count(self) -> GenerateParams:
        if (self.count_per_class is None) == (self.counts is None):
            raise ValueError("give exactly one of count_per_class and counts")
        if self.counts is not None and not any(self.counts.values()):
            raise ValueError("counts asks for no images")
        return self


class EvaluateParams(Params):
    model_id: str
    dataset_id: str
    metrics: list[str] = Field(default_factory=lambda: ["fid", "kid"], min_length=1)
    num_samples: int = Field(1000, ge=2, le=50_000, description="Generated images, spread over the classes "
                                                                "like the dataset's images.")
    backbone: BackboneRef = INCEPTION
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(metric_names()))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(metric_names())}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _is_needs_inception(self) -> EvaluateParams:
        if "is" in self.metrics and self.backbone != INCEPTION:
            raise ValueError("the Inception Score needs the Inception backbone's class logits")
        return self


class TrainJobCreate(BaseModel):
    kind: Literal["train"]
    params: TrainParams


class GenerateJobCreate(BaseModel):
    kind: Literal["generate"]
    params: GenerateParams


class EvaluateJobCreate(BaseModel):
    kind: Literal["evaluate"]
    params: EvaluateParams


JobCreate = Annotated[TrainJobCreate | GenerateJobCreate | EvaluateJobCreate, Field(discriminator="kind")]


class Progress(BaseModel):
    fraction: float = 0.0
    step: int = 0
    total_steps: int = 0
    eta_seconds: float | None = None
    message: str = ""


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
