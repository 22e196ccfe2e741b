from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from models.architectures import register
from models.architectures.base import Architecture
from models.architectures.fastgan import FastGAN, FastGANOptions, check_device
from models.fastgan.networks import Generator
from models.fastgan.trainer import FastGANTrainer, sampling_generator

if TYPE_CHECKING:
    from models.config import GanConfig


class ConditionalFastGANOptions(FastGANOptions):
    # Without the term one conditional G collapses on 10 images a class (diversity 0.18, flagged); with it at 0.3
    # diversity is 2.8 to 3.4 and FD ratio 2.1 to 2.2 on the alike photographs, uplift about 0 (docs/quality.md).
    mode_seeking: float = Field(0.3, ge=0, le=100, allow_inf_nan=False,
                                description=FastGANOptions.model_fields["mode_seeking"].description)


@register
class ConditionalFastGAN(Architecture):
    """FastGAN with one class-conditional generator and a projection discriminator: every class shares every
    step, where fastgan's generators per class each get steps / classes."""

    name = "cfastgan"
    conditional = True
    Options = ConditionalFastGANOptions
    sampler_state_key = "g_ema"
    device_defaults: ClassVar[dict[str, dict[str, Any]]] = FastGAN.device_defaults

    def make_trainer(self, config: GanConfig) -> FastGANTrainer:
        return FastGANTrainer(config, conditional=True)

    def make_sampler(self, config: GanConfig) -> Generator:
        return sampling_generator(config, conditional=True)

    def check_config(self, config: GanConfig) -> None:
        check_device(config)
