"""StyleGAN2-ADA training step: non-saturating logistic losses, lazy R1 and path-length regularisation, an EMA
generator for sampling, and discriminator augmentation (ADA, DiffAugment or none)."""
from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from models.augment import DiscriminatorAugment
from models.ema import update_ema
from models.stylegan2.networks import Discriminator, Generator

if TYPE_CHECKING:
    from models.architectures.stylegan2_ada import StyleGAN2Options
    from models.config import GanConfig

PL_DECAY = 0.01
# The class embeddings; fresh when fine-tuning onto other classes.
CLASS_DEPENDENT_PREFIXES = ("mapping.embed.", "projection.")
COUNTERS = ("cur_nimg", "minibatch")


def sampling_generator(config: GanConfig) -> Generator:
    """G_ema's network alone, freshly initialised from config.seed, in eval mode on config.device."""
    net = _generator(config, torch.Generator().manual_seed(config.seed))
    _to_device(net, config)
    return net.eval()


def _class_count(config: GanConfig) -> int:
    """One class is unconditional: the networks get no class inputs at all."""
    return config.num_classes if config.num_classes > 1 else 0


def _generator(config: GanConfig, init_rng: torch.Generator) -> Generator:
    o = config.options
    with torch.random.fork_rng(devices=[]):  # weights come from init_rng alone
        return Generator(o.z_dim, o.w_dim, o.mapping_layers, _class_count(config), o.resolution, config.channels,
                         o.width, init_rng)


def _memory_format(device: torch.device | str) -> torch.memory_format:
    return torch.channels_last if torch.device(device).type == "cuda" else torch.contiguous_format


def _to_device(net: nn.Module, config: GanConfig) -> None:
    net.to(config.device, memory_format=_memory_format(config.device))


class StyleGAN2Trainer:
    """`generator` is the trained G; `g_ema`, its exponential moving average, is the sampling network.
    Conditional when config.num_classes > 1."""

    def __init__(self, config: GanConfig) -> None:
        o: StyleGAN2Options = config.options  # type: ignore[assignment]
        self.options = o
        self.device = torch.device(config.device)
        self.z_dim = o.z_dim
        self.r1_gamma = 0.0002 * o.resolution ** 2 / config.batch_size if o.r1_gamma is None else o.r1_gamma
        self.ema_beta = 0.5 ** (config.batch_size / o.ema_images)
        init_rng = torch.Generator().manual_seed(config.seed)
        self.generator = _generator(config, init_rng)
        with torch.random.fork_rng(devices=[]):
            self.discriminator = Discriminator(o.resolution, config.channels, o.width, _class_count(config),
                                               init_rng)
        self.g_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        cuda = self.device.type == "cuda"
        self.memory_format = _memory_format(self.device)
        for net in (self.generator, self.discriminator, self.g_ema):
            _to_device(net, config)
        self.discriminator.blocks[:o.freeze_d].requires_grad_(False)
        self._d_trainable = [p for p in self.discriminator.parameters() if p.requires_grad]
        self.opt_g = self._adam(o, self.generator.parameters(), o.pl_interval if o.pl_weight > 0 else None)
        self.opt_d = self._adam(o, self._d_trainable, o.r1_interval if self.r1_gamma > 0 else None)
        self.augment = DiscriminatorAugment(o, self.device)
        self.cur_nimg = 0  # images shown to D
        self.minibatch = 0
        self.pl_mean = torch.zeros((), device=self.device)
        self.last_r1 = torch.zeros((), device=self.device)
        self.last_pl = torch.zeros((), device=self.device)
        # Double backward (R1, path length) does not go through torch.compile: those passes use the plain nets.
        self._g_forward = torch.compile(self.generator) if o.compile else self.generator
        self._d_forward = torch.compile(self.discriminator) if o.compile else self.discriminator
        self._autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext

    @staticmethod
    def _adam(o: StyleGAN2Options, params: Iterable[nn.Parameter], reg_interval: int | None) -> torch.optim.Adam:
        # Lazy regularisation takes an extra optimiser step every reg_interval minibatches: lr and betas are
        # rescaled so that the steps add up to about the same as without it (as StyleGAN2 does).
        ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
        return torch.optim.Adam(params, lr=o.lr * ratio, betas=(o.beta1 ** ratio, o.beta2 ** ratio), eps=1e-8)

    def train_step(self, real: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        n = real.shape[0]
        real = real.contiguous(memory_format=self.memory_format)
        o = self.options

        self._set_d_trainable(False)  # D's weight gradients are not needed in G's steps
        with self._autocast():
            fake = self._g_forward(self._z(n, generator), labels, noise=self._noise(n, generator))
            gen_logits = self._d_forward(self.augment(fake, generator), labels)
        loss_g = F.softplus(-gen_logits).mean()
        self._step(self.opt_g, loss_g)
        if o.pl_weight > 0 and self.minibatch % o.pl_interval == 0:
            self._path_length_step(labels, generator)

        self._set_d_trainable(True)
        with torch.no_grad(), self._autocast():
            fake = self._g_forward(self._z(n, generator), labels, noise=self._noise(n, generator), update_w_avg=True)
        with self._autocast():
            fake_logits = self._d_forward(self.augment(fake, generator), labels)
            real_logits = self._d_forward(self.augment(real, generator), labels)
        loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        self._step(self.opt_d, loss_d)
        self.augment.observe(real_logits)
        if self.r1_gamma > 0 and self.minibatch % o.r1_interval == 0:
            self._r1_step(real, labels, generator)

        update_ema(self.g_ema, self.generator, self.ema_beta)
        self.cur_nimg += n
        self.minibatch += 1
        self.augment.step(n)

        values = [loss_g, loss_d, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(), self.last_r1]
        names = ["loss_g", "loss_d", "d_real", "d_fake", "r1"]
        if o.pl_weight > 0:
            values.append(self.last_pl)
            names.append("pl")
        with torch.no_grad():
            metrics = dict(zip(names, torch.stack([v.float() for v in values]).tolist()))  # one device sync
        metrics["augment_p"] = self.augment.p
        return metrics

    def _z(self, n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=rng, device=self.device)

    def _noise(self, n: int, rng: torch.Generator) -> list[torch.Tensor]:
        return self.generator.synthesis.random_noise(n, rng)

    def _set_d_trainable(self, trainable: bool) -> None:
        for p in self._d_trainable:  # frozen blocks stay frozen
            p.requires_grad_(trainable)

    @staticmethod
    def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def _path_length_step(self, labels: torch.Tensor, rng: torch.Generator) -> None:
        """Path-length regularisation on half a batch: |J^T y| for image-space noise y should be constant."""
        n = max(1, labels.shape[0] // 2)
        with self._autocast():
            ws = self.generator.map(self._z(n, rng), labels[:n])
            images = self.generator.synthesis(ws, self._noise(n, rng)).float()
        noise = torch.randn(images.shape, generator=rng, device=self.device) / math.sqrt(images[0, 0].numel())
        (grads,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grads.float().square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean(), PL_DECAY)
        self.pl_mean.copy_(pl_mean.detach())
        penalty = (lengths - pl_mean).square().mean()
        self._step(self.opt_g, penalty * self.options.pl_weight * self.options.pl_interval)
        self.last_pl = penalty.detach()

    def _r1_step(self, real: torch.Tensor, labels: torch.Tensor, rng: torch.Generator) -> None:
        """Lazy R1: gamma / 2 * |grad D(augment(real))|^2 with respect to the real images, weighted by the interval."""
        real = real.detach().requires_grad_(True)
        with self._autocast():
            logits = self.discriminator(self.augment(real, rng), labels)
        (grads,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        penalty = grads.float().square().sum((1, 2, 3)).mean()
        self._step(self.opt_d, penalty * (self.r1_gamma / 2) * self.options.r1_interval)
        self.last_r1 = penalty.detach()

    def sampling_network(self) -> Generator:
        return self.g_ema

    def discriminator_state(self) -> dict[str, torch.Tensor]:
        return self.discriminator.state_dict()

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "g_ema": self.g_ema.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "ada": self.augment.state_dict(),
                "cur_nimg": self.cur_nimg, "minibatch": self.minibatch, "pl_mean": self.pl_mean,
                "last_r1": self.last_r1, "last_pl": self.last_pl}

    def load_state_dict(self, state: dict) -> None:
        for key, net in (("generator", self.generator), ("g_ema", self.g_ema), ("discriminator", self.discriminator)):
            net.load_state_dict(state[key])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.augment.load_state_dict(state["ada"])
        for name in COUNTERS:
            value = state[name]
            if type(value) is not int or value < 0:
                raise ValueError(f"invalid {name} {value!r}")
            setattr(self, name, value)
        for name in ("pl_mean", "last_r1", "last_pl"):
            getattr(self, name).copy_(state[name])

    def load_pretrained(self, generator: dict[str, torch.Tensor], discriminator: dict[str, torch.Tensor] | None,
                        keep_classes: bool) -> None:
        """G and G_ema both start from `generator`; D from `discriminator`, or fresh when None."""
        pairs = [(net, generator) for net in (self.generator, self.g_ema)]
        if discriminator is not None:
            pairs.append((self.discriminator, discriminator))
        for net, weights in pairs:
            net.load_state_dict(weights if keep_classes else _with_fresh_classes(weights, net.state_dict()))


def _with_fresh_classes(weights: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`weights` with the class embeddings taken from `own`; every class's w_avg starts at the base's mean."""
    out = {k: v for k, v in weights.items() if not k.startswith(CLASS_DEPENDENT_PREFIXES)}
    out.update((k, v) for k, v in own.items() if k.startswith(CLASS_DEPENDENT_PREFIXES))
    if "mapping.w_avg" in out:
        out["mapping.w_avg"] = out["mapping.w_avg"].mean(0, keepdim=True).expand_as(own["mapping.w_avg"])
    return out
