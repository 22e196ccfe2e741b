"""The evaluate job: a generator and a dataset -> quality metrics, on the job and on the model."""
from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from core.errors import InvalidParam
from core.fields import ResourceId
from core.kinds._backbones import AUTO, INCEPTION, NOT_IDS, SIFID_NEEDS_A_MAP, BackboneRef, resolve_backbone
from core.kinds.base import JobKind, Named, Params, Reference
from core.kinds.generate import check_generator
from core.tables import Backbone, Dataset, RegisteredModel
from models.metrics.registry import FAKE_LOGITS, PAIRS, get_metric, metric_names


class EvaluateParams(Params):
    model_id: ResourceId
    dataset_id: ResourceId
    metrics: list[str] = Field(default_factory=lambda: ["fid", "kid", "diversity"], min_length=1,
                               json_schema_extra={"items": {"type": "string", "enum": metric_names()}})
    num_samples: int = Field(1000, ge=2, le=50_000, description="Generated images, spread over the classes "
                                                                "like the dataset's images.")
    backbone: BackboneRef = None
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(metric_names()))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(metric_names())}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _logits_need_inception(self) -> EvaluateParams:
        needing = [name for name in self.metrics if FAKE_LOGITS in get_metric(name).needs]
        if needing and self.backbone not in (None, INCEPTION):
            raise ValueError(f"{needing} need the Inception backbone's class logits")
        return self


class Evaluate(JobKind):
    name = "evaluate"
    Params = EvaluateParams
    references = {"model_id": Reference(RegisteredModel, "model"), "dataset_id": Reference(Dataset, "dataset"),
                  "backbone": Reference(Backbone, "backbone", NOT_IDS)}

    def resolve(self, params: EvaluateParams, named: Named) -> dict[str, Any]:
        model = named["model_id"]
        check_generator(model, "model_id")
        missing = sorted(set(model.classes) - {c["name"] for c in named["dataset_id"].classes})
        if missing:
            raise InvalidParam("dataset_id", f"the dataset lacks the model's classes {missing}")
        backbone = params.backbone
        if backbone is None and any(FAKE_LOGITS in get_metric(name).needs for name in params.metrics):
            backbone = INCEPTION  # the only one with class logits
        resolved = resolve_backbone(named, backbone, model.channels, len(named["dataset_id"].classes), "backbone")
        if resolved == AUTO and any(PAIRS in get_metric(name).needs for name in params.metrics):
            raise InvalidParam("backbone", SIFID_NEEDS_A_MAP)
        return {**params.model_dump(mode="json"), "backbone": resolved}


SPEC = Evaluate()
