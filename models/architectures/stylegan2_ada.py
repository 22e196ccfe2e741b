from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from models.architectures import register
from models.architectures.base import (
    Architecture,
    ArchitectureOptions,
    adam_beta,
    latent_size,
    learning_rate,
    network_width,
)
from models.augment import AugmentKind, AugmentOptions
from models.stylegan2.networks import Generator, discriminator_block_count
from models.stylegan2.trainer import StyleGAN2Trainer, sampling_generator

if TYPE_CHECKING:
    from models.config import GanConfig


class StyleGAN2Options(AugmentOptions, ArchitectureOptions):
    resolution: Literal[32, 64, 128, 256] = 64
    z_dim: int = latent_size(100)
    width: int = network_width(16)
    lr: float = learning_rate(0.0025)
    beta1: float = adam_beta(0.0, 1)
    beta2: float = adam_beta(0.99, 2)
    mapping_layers: int = Field(2, ge=1, le=8, description="Mapping network depth.")
    w_dim: int = Field(256, ge=1, le=1024, description="Intermediate latent size.")
    augment: AugmentKind = Field("ada", description=AugmentOptions.model_fields["augment"].description)
    r1_gamma: float | None = Field(None, ge=0, allow_inf_nan=False,
                                   description="R1 weight; null: 0.0002 * resolution^2 / batch_size.")
    r1_interval: int = Field(16, ge=1, description="Lazy R1 interval in minibatches.")
    pl_weight: float = Field(0.0, ge=0, allow_inf_nan=False, description="Path-length regularisation; 0 = off.")
    pl_interval: int = Field(4, ge=1, description="Path-length regularisation interval in minibatches.")
    ema_images: float = Field(10_000, ge=1, allow_inf_nan=False,
                              description="Half-life of the EMA generator, in images.")
    freeze_d: int = Field(0, ge=0, description="Freeze the first K discriminator blocks (FreezeD).")
    compile: bool = Field(False, description="torch.compile the networks.")

    @field_validator("freeze_d")
    @classmethod
    def _within_discriminator(cls, value: int, info: ValidationInfo) -> int:
        resolution = info.data.get("resolution")
        if resolution is not None and value > (blocks := discriminator_block_count(resolution)):
            raise ValueError(f"must be <= {blocks}, the number of discriminator blocks at resolution {resolution}")
        return value


@register
class StyleGAN2ADA(Architecture):
    """StyleGAN2 with adaptive discriminator augmentation; class-conditional when there is more than one class."""

    name = "stylegan2-ada"
    conditional = True
    Options = StyleGAN2Options
    shape_options = ("resolution", "z_dim", "width", "mapping_layers", "w_dim")
    # On the CPU width 64 takes hours for 2,000 steps at 64 px, width 16 about 11 minutes (benchmarks/quality.py).
    device_defaults: ClassVar[dict[str, dict[str, Any]]] = {"cuda": {"width": 64, "steps": 20_000}}
    one_class_is_unconditional = True
    sampler_state_key = "g_ema"

    def make_trainer(self, config: GanConfig) -> StyleGAN2Trainer:
        return StyleGAN2Trainer(config)

    def make_sampler(self, config: GanConfig) -> Generator:
        return sampling_generator(config)
