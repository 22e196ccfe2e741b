"""A classifier named in job params: one of the registry's, listed as an enum in the OpenAPI document."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from models.classifiers import classifier_names


def _known(value: str) -> str:
    if value not in classifier_names():
        raise ValueError(f"unknown classifier {value!r}; known: {', '.join(classifier_names())}")
    return value


ClassifierName = Annotated[str, AfterValidator(_known), Field(json_schema_extra={"enum": classifier_names()})]
