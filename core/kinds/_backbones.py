"""The feature backbone a quality metric is measured in: the imported Inception weights or a workspace's own."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from core.errors import InvalidParam
from core.kinds.base import Named
from core.weights import IMPORT_HINT, inception_available

INCEPTION = "inception"
BackboneRef = Annotated[str, Field(description='"inception" (needs the imported FID weights) or a backbone id')]


def check_backbone(named: Named, ref: str, channels: int, field: str) -> None:
    if ref == INCEPTION:
        if not inception_available(named.services["settings"], named.services["store"]):
            raise InvalidParam(field, IMPORT_HINT)
        return
    backbone = named[field]
    if backbone.in_channels < channels:
        raise InvalidParam(field, f"backbone {ref} takes {backbone.in_channels}-channel images, these have {channels}")
