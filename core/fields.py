"""The shapes of ids, names and class names that requests carry, as pydantic constraints so that /openapi.json
states what the server enforces."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

ID_MAX_LENGTH = 64
# Ids from core.ids (ds_0183f..., mdl_...) and the few named values that stand for no row (e.g. "inception").
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_MAX_LENGTH = 200
# Any printable text: class names are folder names of an uploaded archive, in any script.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"

ResourceId = Annotated[str, Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN,
                                  examples=["ds_0183f2a4c5d6e7a1b2c3d4e5f6"])]
ClassName = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)]
