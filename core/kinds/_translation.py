"""What a translator's train job adds to the train params: which images are the source and which the targets.

The model's classes are [source, *targets]: class 0 is the source. Several targets train one pair of networks
each (models/cyclegan/trainer.py).
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from core.errors import InvalidParam
from core.fields import ClassName, ResourceId
from core.kinds.base import Params
from core.tables import Dataset

# The source's class name when it is every image of a source dataset of several classes.
SOURCE = "source"


class TranslationFields(Params):
    source_class: ClassName | None = Field(None, description="The class of dataset_id translated from ...")
    source_dataset_id: ResourceId | None = Field(None, description="... or every image of this dataset (e.g. an upload "
                                                            "of defect-free parts).")
    target_class: ClassName | None = Field(None, description="The class of dataset_id translated to ...")
    target_classes: list[ClassName] | None = Field(None, min_length=1, max_length=16,
                                             description="... or several: one pair of networks per target.")

    @model_validator(mode="after")
    def _one_source_and_targets(self) -> TranslationFields:
        if (self.source_class is None) == (self.source_dataset_id is None):
            raise ValueError("give exactly one source: source_class or source_dataset_id")
        if (self.target_class is None) == (self.target_classes is None):
            raise ValueError("give exactly one of target_class and target_classes")
        if self.target_classes is not None and len(set(self.target_classes)) != len(self.target_classes):
            raise ValueError("target_classes must be distinct")
        return self


def targets(params: Any) -> list[str]:
    return [params.target_class] if params.target_class is not None else list(params.target_classes)


def source_name(params: Any, source_dataset: Dataset | None) -> str:
    """source_class, or the one class of the source dataset, or SOURCE for a source dataset of several."""
    if source_dataset is None:
        return params.source_class
    names = [c["name"] for c in source_dataset.classes]
    return names[0] if len(names) == 1 else SOURCE


def translation_classes(params: Any, dataset: Dataset, source_dataset: Dataset | None) -> list[str]:
    """The model's classes, [source, *targets]; InvalidParam for classes the datasets lack or a source that is
    also a target."""
    have = {c["name"] for c in dataset.classes}
    wanted = targets(params)
    field = "target_class" if params.target_class is not None else "target_classes"
    unknown = [name for name in wanted if name not in have]
    if unknown:
        raise InvalidParam(field, f"dataset {dataset.id} has no class {', '.join(map(repr, unknown))}; "
                                  f"it has {sorted(have)}")
    if source_dataset is None and params.source_class not in have:
        raise InvalidParam("source_class", f"dataset {dataset.id} has no class {params.source_class!r}; "
                                           f"it has {sorted(have)}")
    source = source_name(params, source_dataset)
    if source in wanted:
        raise InvalidParam("source_class" if source_dataset is None else "source_dataset_id",
                           f"the source {source!r} is also a target: translation needs two classes")
    return [source, *wanted]
