from __future__ import annotations

from models.architectures import register
from models.architectures.dcgan_common import DCGANBase, DCGANOptions


@register
class DCGAN(DCGANBase):
    """Unconditional DCGAN; labels are ignored."""

    name = "dcgan"
    conditional = False
    Options = DCGANOptions
