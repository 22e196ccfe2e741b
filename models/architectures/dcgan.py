from __future__ import annotations

from models.architectures.dcgan_common import HYPERPARAMETER_DEFAULTS, RESOLUTIONS, DCGANTrainer
from models.config import GanConfig
from models.registry import Architecture, register


@register
class DCGAN(Architecture):
    """Unconditional DCGAN; labels are ignored."""

    name = "dcgan"
    conditional = False
    resolutions = RESOLUTIONS
    hyperparameter_defaults = HYPERPARAMETER_DEFAULTS

    def make_trainer(self, config: GanConfig) -> DCGANTrainer:
        self.check_config(config)
        return DCGANTrainer(config, conditional=False, default_real_label=1.0)
