from __future__ import annotations

from pydantic import Field

from models.architectures import register
from models.architectures.dcgan_common import DCGANBase, DCGANOptions


class CDCGANOptions(DCGANOptions):
    real_label: float = Field(0.9, gt=0, le=1, description="Target for real images (one-sided label smoothing).")


@register
class CDCGAN(DCGANBase):
    """Class-conditional DCGAN with one-sided label smoothing."""

    name = "cdcgan"
    conditional = True
    Options = CDCGANOptions
