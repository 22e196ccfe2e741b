"""BEGAN (boundary equilibrium GAN) and its class-conditional form; networks and trainer in models/began/."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from pydantic import Field

from models.architectures import register
from models.architectures.base import (
    Architecture,
    ArchitectureOptions,
    adam_beta,
    latent_size,
    learning_rate,
)
from models.began.networks import Generator
from models.began.trainer import BEGANTrainer, sampling_generator

if TYPE_CHECKING:
    from models.config import GanConfig


class BEGANOptions(ArchitectureOptions):
    resolution: Literal[32, 64, 128] = 64
    z_dim: int = latent_size(64)
    width: int = Field(8, ge=1, le=1024, description=(
        "Channels of G and of D's decoder; D's encoder has width x (k + 1) at its k-th scale. 8 trains 2,000 steps "
        "at 64 px in minutes on a 2-core CPU; the paper's 64 to 128 suit a GPU."))
    hidden: int = Field(64, ge=1, le=1024, description="Size of the discriminator autoencoder's embedding.")
    lr: float = learning_rate(1e-4)
    beta1: float = adam_beta(0.5, 1)
    beta2: float = adam_beta(0.999, 2)
    gamma: float = Field(0.5, gt=0, le=1, allow_inf_nan=False, description=(
        "Diversity ratio: the equilibrium E[L(G(z))] = gamma E[L(x)] that k_t steers towards; lower is sharper "
        "and less varied."))
    lambda_k: float = Field(0.001, ge=0, le=1, allow_inf_nan=False, description="Learning rate of k_t.")
    lr_decay_every: int = Field(500, ge=0, le=1_000_000, description=(
        "Halve both learning rates when M_global's mean over a window of this many steps is no lower than the "
        "best earlier window's; 0 = never."))


class BEGANBase(Architecture):
    Options = BEGANOptions
    shape_options = ("resolution", "z_dim", "width", "hidden")
    # The paper's width and more steps (an estimate: no GPU run has measured it yet).
    device_defaults: ClassVar[dict[str, dict[str, Any]]] = {"cuda": {"width": 64, "steps": 20_000}}

    def make_trainer(self, config: GanConfig) -> BEGANTrainer:
        return BEGANTrainer(config, self.conditional)

    def make_sampler(self, config: GanConfig) -> Generator:
        with torch.random.fork_rng(devices=[]):  # the weights are loaded next: leave the caller's RNG alone
            net = sampling_generator(config, self.conditional)
        return net.to(config.device).eval()


@register
class BEGAN(BEGANBase):
    """Unconditional BEGAN; labels are ignored."""

    name = "began"
    conditional = False


@register
class CBEGAN(BEGANBase):
    """BEGAN conditioned on class: G and D's decoder take a class embedding beside their code."""

    name = "cbegan"
    conditional = True
