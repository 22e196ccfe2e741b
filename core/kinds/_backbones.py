"""The feature backbone a quality metric is measured in: the imported Inception weights, a small CNN trained on
the dataset ("auto", models.metrics.auto), or a workspace's own."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

from core.errors import InvalidParam
from core.fields import ResourceId
from core.kinds.base import Named
from core.weights import IMPORT_HINT, inception_available

INCEPTION = "inception"
AUTO = "auto"
NOT_IDS = frozenset({INCEPTION, AUTO})
SIFID_NEEDS_A_MAP = ('sifid compares spatial feature maps, which backbone "auto" does not have: use "inception" or '
                     'a backbone with a spatial_features() method')
BackboneRef = Annotated[ResourceId | None, Field(
    description='"inception" (needs the imported FID weights), "auto" (a small CNN trained on the dataset\'s own '
                'classes, from its training split; needs 2 classes) or a backbone id. Default: "inception" where '
                'its weights are imported, else "auto".')]


def resolve_backbone(named: Named, ref: str | None, channels: int, num_classes: int, field: str) -> str:
    """The backbone a job measures in (None: the default), checked against the images and the dataset."""
    if ref is None:
        ref = INCEPTION if inception_available(named.services["settings"], named.services["store"]) else AUTO
    if ref == INCEPTION:
        if not inception_available(named.services["settings"], named.services["store"]):
            raise InvalidParam(field, IMPORT_HINT)
        return ref
    if ref == AUTO:
        if num_classes < 2:
            raise InvalidParam(field, 'backbone "auto" is a classifier of the dataset\'s classes and needs at least '
                                      "2; import the Inception weights or a backbone for a one-class dataset")
        return ref
    backbone = named[field]
    if backbone.in_channels < channels:
        raise InvalidParam(field, f"backbone {ref} takes {backbone.in_channels}-channel images, these have {channels}")
    return ref
