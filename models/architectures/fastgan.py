from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from models.architectures import register
from models.architectures.base import Architecture, ArchitectureOptions, adam_beta, latent_size, learning_rate
from models.augment import AugmentKind, AugmentOptions
from models.errors import OptionError
from models.fastgan.networks import Generator
from models.fastgan.trainer import FastGANTrainer, sampling_generator

if TYPE_CHECKING:
    from models.config import GanConfig

CUDA_ONLY_RESOLUTIONS = (512, 1024)


class FastGANOptions(AugmentOptions, ArchitectureOptions):
    resolution: Literal[64, 128, 256, 512, 1024] = Field(64, description="Image side; 512 and 1024 need CUDA.")
    z_dim: int = latent_size(256)
    width: int = Field(8, ge=1, le=1024, description=(
        "Base channel count of both networks (G has 16x it at 4x4, D 8x it at 8x8). 8 trains 2,000 steps at 64 px "
        "in minutes on a 2-core CPU; the paper's 64 suits a GPU."))
    lr: float = learning_rate(2e-4)
    beta1: float = adam_beta(0.5, 1)
    beta2: float = adam_beta(0.999, 2)
    reconstruction_weight: float = Field(1.0, ge=0, allow_inf_nan=False, description=(
        "Weight of D's reconstruction loss (L1 of its decoders' images against the real image and a quadrant)."))
    augment: AugmentKind = Field("diffaugment", description=AugmentOptions.model_fields["augment"].description)
    ema_images: float = Field(5_000, ge=1, allow_inf_nan=False,
                              description="Half-life of the EMA generator used for sampling, in images.")
    mode_seeking: float = Field(
        0.0, ge=0, le=100, allow_inf_nan=False,
        description="Weight of the mode-seeking term (MSGAN), as the DCGANs have it: G is penalised by the inverse "
                    "of how far apart two images of one class are for how far apart their z are; 0 = off.")


@register
class FastGAN(Architecture):
    """FastGAN with one generator per class (models/architectures/per_class.py)."""

    name = "fastgan"
    conditional = False
    per_class = True
    Options = FastGANOptions
    sampler_state_key = "g_ema"
    # The paper's width, and steps enough that each class's generator gets thousands (an estimate: no GPU run
    # has measured it yet).
    device_defaults: ClassVar[dict[str, dict[str, Any]]] = {"cuda": {"width": 64, "steps": 20_000}}

    def make_trainer(self, config: GanConfig) -> FastGANTrainer:
        return FastGANTrainer(config)

    def make_sampler(self, config: GanConfig) -> Generator:
        return sampling_generator(config)

    def check_config(self, config: GanConfig) -> None:
        check_device(config)


def check_device(config: GanConfig) -> None:
    if config.resolution in CUDA_ONLY_RESOLUTIONS and not config.device.startswith("cuda"):
        raise OptionError("resolution", f"resolution {config.resolution} needs device cuda: on a CPU a FastGAN of "
                                        "that size takes too long, and too much memory, to train")
