"""Path parameters that name a row: the same length and pattern as ids in request bodies (core.fields)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path

from core.fields import ID_MAX_LENGTH, ID_PATTERN

IdPath = Annotated[str, Path(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN)]
