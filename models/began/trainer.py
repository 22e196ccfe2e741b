"""BEGAN's trainer: L(v) = mean |v - D(v)|, L_D = L(x) - k_t L(G(z)), L_G = L(G(z)), with the equilibrium
k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) and the convergence measure
M_global = L(x) + |gamma L(x) - L(G(z))|. Both learning rates halve whenever the mean M_global of a window of
`lr_decay_every` steps is no lower than that of the best window before it (the paper's "when M stalls")."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from models.began.networks import Discriminator, Generator

if TYPE_CHECKING:
    from models.architectures.began import BEGANOptions
    from models.config import GanConfig


def sampling_generator(config: GanConfig, conditional: bool) -> Generator:
    o: BEGANOptions = config.options  # type: ignore[assignment]
    return Generator(o.z_dim, config.channels, o.resolution, o.width, config.num_classes if conditional else 0)


def _reconstruction_losses(d: Discriminator, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """L(v) of each image: [N]."""
    return (d(images, labels) - images).abs().mean((1, 2, 3))


class BEGANTrainer:
    def __init__(self, config: GanConfig, conditional: bool) -> None:
        o: BEGANOptions = config.options  # type: ignore[assignment]
        self.options = o
        self.conditional = conditional
        # Weights come from config.seed alone; the caller's global RNG is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator = sampling_generator(config, conditional).to(config.device)
            self.discriminator = Discriminator(config.channels, o.resolution, o.width, o.hidden,
                                               config.num_classes if conditional else 0).to(config.device)
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=o.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=o.lr, betas=betas)
        self.k = 0.0
        self.window_sum = 0.0  # M_global summed over the current lr-decay window
        self.window_steps = 0
        self.best_window: float | None = None  # the lowest window mean so far

    def train_step(self, real: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        o = self.options
        n = real.shape[0]
        cond = labels if self.conditional else None
        z = torch.rand(n, o.z_dim, device=real.device, generator=generator) * 2 - 1
        fake = self.generator(z, cond)

        # D has no batch statistics: one pass over reals and fakes together is the same as two.
        both = _reconstruction_losses(self.discriminator, torch.cat([real, fake.detach()]),
                                      None if cond is None else torch.cat([cond, cond]))
        loss_real, loss_fake = both[:n].mean(), both[n:].mean()
        loss_d = loss_real - self.k * loss_fake
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        self.discriminator.requires_grad_(False)  # G's update needs no gradient of D's weights
        loss_g = _reconstruction_losses(self.discriminator, fake, cond).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)

        values = torch.stack([loss_real, loss_fake, loss_g, loss_d]).detach()
        l_real, l_fake, l_g, l_d = values.tolist()  # one device sync for all metrics
        balance = o.gamma * l_real - l_fake
        m_global = l_real + abs(balance)
        k_used = self.k
        self.k = min(max(self.k + o.lambda_k * balance, 0.0), 1.0)
        lr = self._decay_when_stalled(m_global)
        return {"loss_g": l_g, "loss_d": l_d, "loss_real": l_real, "loss_fake": l_fake, "m_global": m_global,
                "k_t": k_used, "lr": lr}

    def _decay_when_stalled(self, m_global: float) -> float:
        """The learning rate after this step: halved when this step closes a window that did not improve."""
        every = self.options.lr_decay_every
        if every:
            self.window_sum += m_global
            self.window_steps += 1
            if self.window_steps == every:
                mean = self.window_sum / every
                if self.best_window is not None and mean >= self.best_window:
                    for opt in (self.opt_g, self.opt_d):
                        for group in opt.param_groups:
                            group["lr"] /= 2
                else:
                    self.best_window = mean
                self.window_sum, self.window_steps = 0.0, 0
        return self.opt_g.param_groups[0]["lr"]

    def sampling_network(self) -> Generator:
        return self.generator

    def discriminator_state(self) -> dict[str, torch.Tensor]:
        return self.discriminator.state_dict()

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "equilibrium": {"k": self.k, "window_sum": self.window_sum, "window_steps": self.window_steps,
                                "best_window": self.best_window}}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        equilibrium = state["equilibrium"]
        self.k = float(equilibrium["k"])
        self.window_sum = float(equilibrium["window_sum"])
        self.window_steps = int(equilibrium["window_steps"])
        best = equilibrium["best_window"]
        self.best_window = None if best is None else float(best)

    def load_pretrained(self, generator: dict[str, torch.Tensor], discriminator: dict[str, torch.Tensor] | None,
                        keep_classes: bool) -> None:
        """k_t and the lr schedule start afresh; keep_classes=False leaves the class embeddings as initialised."""
        for net, weights in ((self.generator, generator), (self.discriminator, discriminator)):
            if weights is not None:
                net.load_state_dict(weights if keep_classes else _fresh_embeddings(net, weights))


def _fresh_embeddings(net: nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    own = net.state_dict()
    is_embedding = [key for key in own if "embed" in key.split(".")]
    return {**{k: v for k, v in weights.items() if k not in is_embedding}, **{k: own[k] for k in is_embedding}}
