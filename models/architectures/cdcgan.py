from __future__ import annotations

from models.architectures.dcgan_common import HYPERPARAMETER_DEFAULTS, RESOLUTIONS, DCGANTrainer
from models.config import GanConfig
from models.registry import Architecture, register


@register
class CDCGAN(Architecture):
    """Class-conditional DCGAN with one-sided label smoothing (real targets 0.9 unless configured)."""

    name = "cdcgan"
    conditional = True
    resolutions = RESOLUTIONS
    hyperparameter_defaults = HYPERPARAMETER_DEFAULTS

    def make_trainer(self, config: GanConfig) -> DCGANTrainer:
        self.check_config(config)
        return DCGANTrainer(config, conditional=True, default_real_label=0.9)
