"""CycleGAN's training step, one pair of networks per target class.

Class 0 of the config is the source; each other class is a target with its own G (source -> target), F (target
-> source) and a discriminator per domain. Every minibatch holds source and one target's images
(models.training._draw_batch), and trains that target's pair: LSGAN losses, the cycle loss and the identity
loss; D sees G's current images mixed with older ones from a history pool. The learning rate decays linearly to
zero over the last `decay_fraction` of the steps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from models.architectures.base import eval_samples
from models.cyclegan.networks import PatchDiscriminator, ResnetGenerator, default_blocks, init_weights

if TYPE_CHECKING:
    from models.architectures.cyclegan import CycleGANOptions
    from models.config import GanConfig

DIRECTIONS = ("forward", "backward")


def _generator(config: GanConfig) -> ResnetGenerator:
    o: CycleGANOptions = config.options  # type: ignore[assignment]
    return ResnetGenerator(config.channels, o.width, o.resnet_blocks or default_blocks(o.resolution))


class Translator(nn.Module):
    """The sampling network: for target k, forward[k] translates source -> target and backward[k] the reverse."""

    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        targets = config.num_classes - 1
        self.forward_nets = nn.ModuleList(_generator(config) for _ in range(targets))
        self.backward_nets = nn.ModuleList(_generator(config) for _ in range(targets))

    def network(self, target: int, direction: str) -> ResnetGenerator:
        """The G of target `target` (0-based among the targets) in `direction`."""
        nets = self.forward_nets if direction == "forward" else self.backward_nets
        return nets[target]  # type: ignore[return-value]

    def translate(self, images: torch.Tensor, target: int, direction: str) -> torch.Tensor:
        """Eval-mode, no-grad translation of images in [-1, 1] whose sides are multiples of 4."""
        net = self.network(target, direction)
        return eval_samples(net, lambda: net(images))


class HistoryPool:
    """The last `size` images G made (Shrivastava et al. 2017): once full, each new image is shown to D with
    probability 1/2, else a stored one it then replaces. Draws the same random numbers whatever the pool holds,
    so that resuming is bit-identical."""

    def __init__(self, size: int, shape: tuple[int, ...], device: torch.device) -> None:
        self.images = torch.zeros((size, *shape), device=device)
        self.count = 0

    def __call__(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        size = len(self.images)
        if size == 0:
            return images
        swap = (torch.rand(len(images), generator=rng, device=rng.device) < 0.5).tolist()
        slots = torch.randint(size, (len(images),), generator=rng, device=rng.device).tolist()
        shown = []
        for image, swapped, slot in zip(images.detach(), swap, slots):
            if self.count < size:
                self.images[self.count] = image
                self.count += 1
                shown.append(image)
            elif swapped:
                shown.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                shown.append(image)
        return torch.stack(shown)

    def state_dict(self) -> dict:
        return {"images": self.images, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        if state["images"].shape != self.images.shape:
            raise ValueError(f"history pool of shape {tuple(state['images'].shape)}, expected "
                             f"{tuple(self.images.shape)}")
        self.images.copy_(state["images"])
        self.count = int(state["count"])


def _lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))


class CycleGANTrainer:
    def __init__(self, config: GanConfig) -> None:
        o: CycleGANOptions = config.options  # type: ignore[assignment]
        self.options, self.steps = o, config.steps
        device = torch.device(config.device)
        targets = config.num_classes - 1
        with torch.random.fork_rng(devices=[]):  # weights come from config.seed alone
            self.translator = Translator(config)
            self.discriminators = nn.ModuleDict({
                domain: nn.ModuleList(PatchDiscriminator(config.channels, o.width, o.resolution)
                                      for _ in range(targets)) for domain in ("source", "target")})
        init_rng = torch.Generator().manual_seed(config.seed)
        init_weights(self.translator, init_rng)
        init_weights(self.discriminators, init_rng)
        self.translator.to(device)
        self.discriminators.to(device)
        betas = (o.beta1, o.beta2)
        self.opt_g = [torch.optim.Adam([*self.translator.forward_nets[k].parameters(),
                                        *self.translator.backward_nets[k].parameters()], lr=o.lr, betas=betas)
                      for k in range(targets)]
        self.opt_d = [torch.optim.Adam([*self.discriminators["source"][k].parameters(),
                                        *self.discriminators["target"][k].parameters()], lr=o.lr, betas=betas)
                      for k in range(targets)]
        shape = (config.channels, o.resolution, o.resolution)
        self.pools = [[HistoryPool(o.pool_size, shape, device) for _ in range(2)] for _ in range(targets)]
        self.step = 0

    def _lr(self) -> float:
        """Constant, then linear to zero over the last decay_fraction of the steps (never 0 at a step taken)."""
        decay = self.options.decay_fraction * self.steps
        return self.options.lr * min(1.0, (self.steps - self.step) / decay) if decay > 0 else self.options.lr

    def train_step(self, real: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        is_source = labels == 0
        target_labels = labels[~is_source]
        low, high = target_labels.aminmax()
        if int(low) != int(high) or not bool(is_source.any()):
            raise ValueError("a CycleGAN minibatch holds source images and images of one target")
        k = int(low) - 1
        real_a, real_b = real[is_source], real[~is_source]
        g_ab, g_ba = self.translator.forward_nets[k], self.translator.backward_nets[k]
        d_a, d_b = self.discriminators["source"][k], self.discriminators["target"][k]
        lr = self._lr()
        for opt in (self.opt_g[k], self.opt_d[k]):
            for group in opt.param_groups:
                group["lr"] = lr
        o = self.options

        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        loss_cycle = F.l1_loss(g_ba(fake_b), real_a) + F.l1_loss(g_ab(fake_a), real_b)
        identity_weight = o.identity_weight()
        loss_identity = (F.l1_loss(g_ab(real_b), real_b) + F.l1_loss(g_ba(real_a), real_a)
                         if identity_weight > 0 else torch.zeros((), device=real.device))
        d_a.requires_grad_(False)
        d_b.requires_grad_(False)
        loss_adversarial = _lsgan(d_b(fake_b), True) + _lsgan(d_a(fake_a), True)
        loss_g = loss_adversarial + o.lambda_cycle * loss_cycle + identity_weight * loss_identity
        self.opt_g[k].zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g[k].step()
        d_a.requires_grad_(True)
        d_b.requires_grad_(True)

        pool_a, pool_b = self.pools[k]
        loss_d = 0.5 * (_lsgan(d_b(real_b), True) + _lsgan(d_b(pool_b(fake_b, generator)), False)
                        + _lsgan(d_a(real_a), True) + _lsgan(d_a(pool_a(fake_a, generator)), False))
        self.opt_d[k].zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d[k].step()
        self.step += 1

        with torch.no_grad():
            values = torch.stack([loss_g, loss_adversarial, loss_cycle, loss_identity, loss_d]).tolist()
        return {**dict(zip(("loss_g", "loss_adversarial", "loss_cycle", "loss_identity", "loss_d"), values)),
                "lr": lr}

    def sampling_network(self) -> Translator:
        return self.translator

    def discriminator_state(self) -> dict[str, torch.Tensor]:
        return self.discriminators.state_dict()

    def state_dict(self) -> dict:
        return {"generator": self.translator.state_dict(), "discriminator": self.discriminators.state_dict(),
                "opt_g": [opt.state_dict() for opt in self.opt_g], "opt_d": [opt.state_dict() for opt in self.opt_d],
                "pools": [[pool.state_dict() for pool in pair] for pair in self.pools], "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.translator.load_state_dict(state["generator"])
        self.discriminators.load_state_dict(state["discriminator"])
        for opts, key in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d")):
            if len(state[key]) != len(opts):
                raise ValueError(f"{key} for {len(state[key])} targets, expected {len(opts)}")
            for opt, opt_state in zip(opts, state[key]):
                opt.load_state_dict(opt_state)
        for pair, pair_state in zip(self.pools, state["pools"], strict=True):
            for pool, pool_state in zip(pair, pair_state, strict=True):
                pool.load_state_dict(pool_state)
        self.step = int(state["step"])

    def load_pretrained(self, generator: dict[str, torch.Tensor], discriminator: dict[str, torch.Tensor] | None,
                        keep_classes: bool) -> None:
        """Every pair from the base model's: it must have as many targets (the class names may differ)."""
        self.translator.load_state_dict(generator)
        if discriminator is not None:
            self.discriminators.load_state_dict(discriminator)


def sampling_translator(config: GanConfig) -> Translator:
    with torch.random.fork_rng(devices=[]):  # the weights are loaded next: leave the caller's RNG alone
        net = Translator(config)
    return net.to(config.device).eval()
