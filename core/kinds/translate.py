"""The translate job: a translator model (e.g. cyclegan) and real images -> a batch of translated images, each
with the mask of what the translation changed (models/translation.py)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from core.errors import InvalidParam
from core.fields import ClassName, ResourceId
from core.kinds.base import JobKind, Named, Params, Reference
from core.tables import Dataset, RegisteredModel


class TranslateParams(Params):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model_id: ResourceId = Field(description="A translator model (kind \"translator\", e.g. a cyclegan).")
    dataset_id: ResourceId | None = Field(None, description="Translate the images of `class` of this dataset ...")
    class_name: ClassName | None = Field(None, alias="class", description="... (with dataset_id) ...")
    source_dataset_id: ResourceId | None = Field(None, description="... or every image of this dataset.")
    direction: Literal["forward", "backward"] = Field(
        "forward", description="forward: source -> target (into each target of the model, or target_class); "
                               "backward: target -> source.")
    target_class: ClassName | None = Field(None, description="The model's target to translate into (forward) or from "
                                                       "(backward). Default: forward, every target; backward, "
                                                       "`class` where it is a target, else the only target.")
    count: int | None = Field(None, ge=1, le=100_000, description="Translate this many images, drawn with `seed`; "
                                                                  "default: all.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Which images `count` draws.")
    mask_threshold: float = Field(0.1, gt=0, lt=1, description="A pixel is changed where the output differs "
                                                               "from the input by more than this (1 = the full "
                                                               "grey range) after a 3x3 blur, then opened "
                                                               "with a 3x3 square (docs/cyclegan.md).")
    min_changed: float = Field(0.001, ge=0, le=1, description="Flag an image \"unchanged\" when less than this "
                                                              "share of its pixels changed.")
    max_changed: float = Field(0.5, ge=0, le=1, description="Flag an image \"changed_everywhere\" when more "
                                                            "than this share of its pixels changed.")

    @model_validator(mode="after")
    def _one_source(self) -> TranslateParams:
        if (self.dataset_id is None) == (self.source_dataset_id is None):
            raise ValueError("give exactly one of dataset_id (with class) and source_dataset_id")
        if (self.dataset_id is None) != (self.class_name is None):
            raise ValueError("class goes with dataset_id")
        if self.min_changed >= self.max_changed:
            raise ValueError("min_changed must be below max_changed")
        return self


def pairs(params: TranslateParams, classes: list[str]) -> list[int]:
    """The model's targets (indices among classes[1:]) the job translates into (forward) or from (backward)."""
    targets = classes[1:]
    if params.target_class is not None:
        return [targets.index(params.target_class)]
    if params.direction == "forward":
        return list(range(len(targets)))
    if params.class_name in targets:
        return [targets.index(params.class_name)]
    return [0]


class Translate(JobKind):
    name = "translate"
    Params = TranslateParams
    references = {"model_id": Reference(RegisteredModel, "model"), "dataset_id": Reference(Dataset, "dataset"),
                  "source_dataset_id": Reference(Dataset, "dataset")}

    def resolve(self, params: TranslateParams, named: Named) -> dict[str, Any]:
        model = named["model_id"]
        if model.kind != "translator":
            raise InvalidParam("model_id", f"model {model.id} is a {model.architecture} {model.kind}, not a "
                                           f"translator (e.g. cyclegan)")
        targets = model.classes[1:]
        if params.target_class is not None and params.target_class not in targets:
            raise InvalidParam("target_class", f"{params.target_class!r} is not among the model's targets {targets}")
        if (params.direction == "backward" and params.target_class is None and len(targets) > 1
                and params.class_name not in targets):
            raise InvalidParam("target_class", f"the model has several targets {targets}: name the one to "
                                               f"translate back from")
        if params.dataset_id is not None:
            counts = {c["name"]: c["count"] for c in named["dataset_id"].classes}
            if params.class_name not in counts:
                raise InvalidParam("class", f"dataset {params.dataset_id} has no class {params.class_name!r}; it "
                                            f"has {sorted(counts)}")
            available, field = counts[params.class_name], "class"
        else:
            available, field = named["source_dataset_id"].num_images, "source_dataset_id"
        if params.count is not None and params.count > available:
            raise InvalidParam("count", f"{params.count} images asked for, the {field} has {available}")
        return params.model_dump(mode="json", by_alias=True)


SPEC = Translate()
