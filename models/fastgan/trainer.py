"""FastGAN's training step: hinge losses, D's reconstruction loss on real images, discriminator augmentation
(DiffAugment by default) on everything D sees, and an EMA generator for sampling.

The paper's reconstruction loss is LPIPS, which needs downloaded VGG weights; here it is L1 on targets of at most
128 px (the whole image area-downsampled to half size, a quadrant at native size up to 256 px). The loss is
there to make D's features describe the image, and an 8x8 code can carry little beyond such low-resolution
content anyway.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from models.augment import DiscriminatorAugment
from models.ema import update_ema
from models.fastgan.networks import Discriminator, Generator, quadrant, reconstruction_size
from models.mode_seeking import mode_seeking_loss, paired_labels

if TYPE_CHECKING:
    from models.architectures.fastgan import FastGANOptions
    from models.config import GanConfig

# The hinge margin is drawn uniformly from [1 - MARGIN_SPREAD, 1] per logit, as in the reference implementation.
MARGIN_SPREAD = 0.2
METRICS = ("loss_g", "loss_d", "d_real", "d_fake", "recon")
T = TypeVar("T")


def seeded(seed: int, build: Callable[[], T]) -> T:
    """`build()` with the global RNG seeded (for spectral norm's vectors and the init); the caller's is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _generator(config: GanConfig, conditional: bool) -> Generator:
    o = config.options
    return Generator(o.z_dim, config.channels, o.resolution, o.width, config.num_classes if conditional else 0)


def sampling_generator(config: GanConfig, conditional: bool = False) -> Generator:
    """G's network alone, initialised from config.seed as the trainer's, in eval mode on config.device."""
    return seeded(config.seed, lambda: _generator(config, conditional)).to(config.device).eval()


class FastGANTrainer:
    """Conditional (cfastgan): G and D see the labels. Unconditional (fastgan): labels are ignored, and one
    generator per class is models.architectures.per_class's."""

    def __init__(self, config: GanConfig, conditional: bool = False) -> None:
        o: FastGANOptions = config.options  # type: ignore[assignment]
        classes = config.num_classes if conditional else 0
        self.conditional = conditional
        self.device = torch.device(config.device)
        self.z_dim = o.z_dim
        self.reconstruction_weight = o.reconstruction_weight
        self.mode_seeking = o.mode_seeking
        self.size = reconstruction_size(o.resolution)
        self.ema_beta = 0.5 ** (config.batch_size / o.ema_images)
        self.generator, self.discriminator = seeded(config.seed, lambda: (
            _generator(config, conditional), Discriminator(config.channels, o.resolution, o.width, classes)))
        self.generator.to(self.device)
        self.discriminator.to(self.device)
        self.g_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=o.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=o.lr, betas=betas)
        self.augment = DiscriminatorAugment(o, self.device)

    def train_step(self, real: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        n = real.shape[0]
        classes = labels if self.conditional else None
        seeking = self.mode_seeking > 0 and n >= 2
        fake_classes = paired_labels(classes) if seeking and classes is not None else classes
        z = torch.randn(n, self.z_dim, generator=generator, device=self.device)
        generated = self.generator(z, generator, fake_classes)
        fake = self.augment(generated, generator)
        real = self.augment(real, generator)
        part = torch.randint(4, (n,), generator=generator, device=self.device)

        real_logits, whole, piece = self.discriminator.with_reconstructions(real, part, classes)
        fake_logits = self.discriminator(fake.detach(), fake_classes)
        recon = (F.l1_loss(whole, F.interpolate(real, self.size, mode="area"))
                 + F.l1_loss(piece, F.interpolate(quadrant(real, part), self.size, mode="area")))
        loss_d = (F.relu(self._margin(real_logits, generator) - real_logits).mean()
                  + F.relu(self._margin(fake_logits, generator) + fake_logits).mean()
                  + self.reconstruction_weight * recon)
        self._step(self.opt_d, loss_d)
        self.augment.observe(real_logits)

        self.discriminator.requires_grad_(False)  # D's weight gradients are not needed for G's step
        loss_g = -self.discriminator(fake, fake_classes).mean()
        if seeking:
            loss_g = loss_g + self.mode_seeking * mode_seeking_loss(generated, z)
        self._step(self.opt_g, loss_g)
        self.discriminator.requires_grad_(True)

        update_ema(self.g_ema, self.generator, self.ema_beta)
        self.augment.step(n)
        with torch.no_grad():
            values = torch.stack([loss_g, loss_d, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(),
                                  recon])
        metrics = dict(zip(METRICS, values.tolist()))  # one device sync for all metrics
        metrics["augment_p"] = self.augment.p
        return metrics

    @staticmethod
    def _margin(logits: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return 1 - MARGIN_SPREAD * torch.rand(logits.shape, generator=rng, device=logits.device)

    @staticmethod
    def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sampling_network(self) -> Generator:
        return self.g_ema

    def discriminator_state(self) -> dict[str, torch.Tensor]:
        return self.discriminator.state_dict()

    def _networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "g_ema": self.g_ema, "discriminator": self.discriminator}

    def state_dict(self) -> dict:
        return {**{key: net.state_dict() for key, net in self._networks().items()},
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "ada": self.augment.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for key, net in self._networks().items():
            net.load_state_dict(state[key])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.augment.load_state_dict(state["ada"])

    def load_pretrained(self, generator: dict[str, torch.Tensor], discriminator: dict[str, torch.Tensor] | None,
                        keep_classes: bool) -> None:
        """G and G_ema from `generator`, D from `discriminator` (fresh when None). keep_classes=False: the class
        embeddings ("embed.*", conditional only) keep their fresh initialisation."""
        for net, weights in ((self.generator, generator), (self.discriminator, discriminator)):
            if weights is None:
                continue
            if not keep_classes:
                own = net.state_dict()
                weights = {**{k: v for k, v in weights.items() if not k.startswith("embed.")},
                           **{k: v for k, v in own.items() if k.startswith("embed.")}}
            net.load_state_dict(weights)
        self.g_ema.load_state_dict(self.generator.state_dict())
