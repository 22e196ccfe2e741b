from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from models.architectures import register
from models.architectures.base import Architecture, ArchitectureOptions, adam_beta, learning_rate, network_width
from models.cyclegan.trainer import CycleGANTrainer, Translator, sampling_translator

if TYPE_CHECKING:
    from models.config import GanConfig


class CycleGANOptions(ArchitectureOptions):
    resolution: Literal[32, 64, 128, 256] = Field(64, description="Side of the training crops; translation runs "
                                                                   "on whole images of any size.")
    width: int = network_width(16)
    resnet_blocks: int | None = Field(None, ge=1, le=32, description="Residual blocks in G; null: 6 at up to 128 "
                                                                     "px, 9 above.")
    lr: float = learning_rate(2e-4)
    beta1: float = adam_beta(0.5, 1)
    beta2: float = adam_beta(0.999, 2)
    lambda_cycle: float = Field(10.0, ge=0, le=1000, allow_inf_nan=False, description="Weight of the cycle loss.")
    lambda_identity: float | None = Field(None, ge=0, le=1000, allow_inf_nan=False,
                                          description="Weight of the identity loss; null: 0.5 x lambda_cycle.")
    pool_size: int = Field(50, ge=0, le=1000, description="Generated images kept in D's history pool; 0: none.")
    decay_fraction: float = Field(0.5, ge=0, le=1, allow_inf_nan=False,
                                  description="The learning rate decays linearly to zero over this last share "
                                              "of the steps.")

    def identity_weight(self) -> float:
        return 0.5 * self.lambda_cycle if self.lambda_identity is None else self.lambda_identity


@register
class CycleGAN(Architecture):
    """Unpaired translation from a source class (class 0) to each target class (the others)."""

    name = "cyclegan"
    conditional = False
    translator = True
    Options = CycleGANOptions
    shape_options = ("resolution", "width", "resnet_blocks")
    # The paper's width (an estimate of the GPU's budget: no GPU run has measured it yet).
    device_defaults: ClassVar[dict[str, dict[str, Any]]] = {"cuda": {"width": 64, "steps": 10_000}}

    def make_trainer(self, config: GanConfig) -> CycleGANTrainer:
        return CycleGANTrainer(config)

    def make_sampler(self, config: GanConfig) -> Translator:  # type: ignore[override]
        return sampling_translator(config)

    def check_config(self, config: GanConfig) -> None:
        if config.num_classes < 2:
            raise ValueError("a translation needs a source class and at least one target class")
