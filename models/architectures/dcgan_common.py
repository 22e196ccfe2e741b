"""DCGAN networks and trainer shared by "dcgan" and "cdcgan" (conditional when num_classes > 0).

The defaults are the few-shot recipe, each part chosen on benchmarks/quality.py (photographs, 10 images per
class; the ablations are in docs/quality.md): resize-convolutions in G (transposed convolutions leave
checkerboards), a discriminator that cannot simply memorise (spectral normalisation, a minibatch standard-deviation
feature grouped by class, hinge loss), DiffAugment on everything D sees, and a mode-seeking term without which the
conditional G still gives each class one picture. `stored_defaults` (and the "neu-dcgan" preset) keep the original
DCGAN recipe: transposed convolutions, batch-normalised D, BCE, no augmentation.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.architectures.base import (
    Architecture,
    ArchitectureOptions,
    adam_beta,
    eval_samples,
    latent_size,
    learning_rate,
    network_width,
)
from models.augment import AugmentOptions, DiscriminatorAugment
from models.ema import update_ema
from models.mode_seeking import mode_seeking_loss, paired_labels

if TYPE_CHECKING:
    from models.config import GanConfig

EMBED_DIM = 50
# Off: on benchmarks/quality.py a half-life of 1,000 images gave an FD ratio of 5.80 against 4.74 without
# (docs/quality.md); batch-normalised G's running statistics do not follow averaged weights.
EMA_IMAGES = 0
METRICS = ("loss_g", "loss_d", "d_real", "d_fake")


class DCGANOptions(AugmentOptions, ArchitectureOptions):
    resolution: Literal[28, 32, 64, 128] = 64
    z_dim: int = latent_size(100)
    width: int = network_width(32)
    lr: float = learning_rate(2e-4)
    beta1: float = adam_beta(0.5, 1)
    beta2: float = adam_beta(0.999, 2)
    real_label: float = Field(1.0, gt=0, le=1, description="BCE target for real images; below 1 is one-sided "
                                                            "label smoothing (the hinge loss ignores it).")
    upsample: Literal["resize", "transpose"] = Field(
        "resize", description="G's 2x upsampling: nearest-neighbour resize then a 3x3 convolution, or a 4x4 "
                              "transposed convolution (the original DCGAN; leaves checkerboard artefacts).")
    d_norm: Literal["spectral", "batch"] = Field(
        "spectral", description="D's normalisation: spectral normalisation of every layer, or batch norm.")
    minibatch_std: bool = Field(True, description="Give D the standard deviation across the minibatch as a feature "
                                                  "map, so that a G whose images are all alike is easy to spot.")
    loss: Literal["hinge", "bce"] = Field("hinge", description="Adversarial loss.")
    r1_gamma: float = Field(0.0, ge=0, allow_inf_nan=False, description="R1 penalty weight on real images; 0 = off.")
    mode_seeking: float = Field(
        0.3, ge=0, le=100, allow_inf_nan=False,
        description="Weight of the mode-seeking term (Mao et al. 2019, MSGAN): G is penalised by the inverse of "
                    "how far apart two images of one class are for how far apart their z are; 0 = off.")
    ema_images: float = Field(
        EMA_IMAGES, ge=0, allow_inf_nan=False,
        description="Half-life, in images, of the moving average of G's weights that the model samples from; "
                    "0 = sample from G itself.")


# The original recipe, which every stored DCGAN config without these options was trained with.
ORIGINAL_RECIPE: dict[str, Any] = {"upsample": "transpose", "d_norm": "batch", "minibatch_std": False,
                                   "loss": "bce", "augment": "none", "r1_gamma": 0.0, "mode_seeking": 0.0,
                                   "ema_images": 0.0}


class DCGANBase(Architecture):
    Options = DCGANOptions
    stored_defaults: ClassVar[dict[str, Any]] = ORIGINAL_RECIPE
    shape_options = ("resolution", "z_dim", "width", "upsample", "d_norm", "minibatch_std")
    # The declared width fits the CPU's budget (benchmarks/quality.py); a GPU affords the original width and
    # more steps (an estimate: no GPU run has measured it yet).
    device_defaults: ClassVar[dict[str, dict[str, Any]]] = {"cuda": {"width": 64, "steps": 10_000}}

    def make_trainer(self, config: GanConfig) -> DCGANTrainer:
        return DCGANTrainer(config, conditional=self.conditional)

    def make_sampler(self, config: GanConfig) -> Generator:
        with torch.random.fork_rng(devices=[]):  # the weights are loaded next: leave the caller's RNG alone
            net = _generator(config, self.conditional)
        return net.to(config.device).eval()


def _generator(config: GanConfig, conditional: bool) -> Generator:
    o = config.options
    return Generator(o.z_dim, config.channels, o.resolution, o.width, config.num_classes if conditional else 0,
                     o.upsample)


def _layout(resolution: int) -> tuple[int, int]:
    """(start size, number of 2x up/down-sampling stages) for a resolution."""
    start = 7 if resolution == 28 else 4
    stages = (resolution // start).bit_length() - 1
    if start << stages != resolution:
        raise ValueError(f"unsupported resolution {resolution}")
    return start, stages


def _upsample(in_ch: int, out_ch: int, how: str) -> nn.Module:
    if how == "transpose":
        return nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False)
    # Every output pixel sees the same number of input pixels, unlike a stride-2 transposed convolution; reflected
    # rather than zero padding leaves no stripe along the borders.
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False, padding_mode="reflect"))


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int, num_classes: int = 0,
                 upsample: str = "transpose") -> None:
        super().__init__()
        start, stages = _layout(resolution)
        self.embed = nn.Embedding(num_classes, EMBED_DIM) if num_classes else None
        ch = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim + (EMBED_DIM if num_classes else 0), ch, start, 1, 0, bias=False),
            nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [_upsample(ch, ch // 2, upsample), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [_upsample(ch, channels, upsample), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        return self.net(z[:, :, None, None])

    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """Eval-mode, no-grad samples in [-1, 1]; truncation scales z by psi; unconditional ignores labels."""
        return eval_samples(self, lambda: self(z * truncation_psi, labels if self.embed is not None else None))


class MinibatchStd(nn.Module):
    """Appends the mean standard deviation across the minibatch as one feature map: over groups of up to 4, or,
    given labels, over the images of each one's class. Class by class, because a conditional G that ignores z
    gives each class one picture while a mixed minibatch still varies from class to class."""

    group = 4

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n, c, h, w = x.shape
        if labels is None:
            g = next(size for size in range(min(self.group, n), 0, -1) if n % size == 0)
            std = x.view(g, -1, c, h, w).var(0, unbiased=False).add(1e-8).sqrt().mean((1, 2, 3)).repeat(g)
        else:
            members = F.one_hot(labels, int(labels.max()) + 1).to(x.dtype)  # [n, K]
            counts = members.sum(0).clamp_min(1)[:, None, None, None]
            mean = torch.einsum("nk,nchw->kchw", members, x) / counts
            square = torch.einsum("nk,nchw->kchw", members, x * x) / counts
            std = (square - mean * mean).clamp_min(0).add(1e-8).sqrt().mean((1, 2, 3))[labels]
        return torch.cat([x, std[:, None, None, None].expand(n, 1, h, w)], 1)


class Discriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int, num_classes: int = 0, norm: str = "batch",
                 minibatch_std: bool = False) -> None:
        super().__init__()
        start, stages = _layout(resolution)
        self.resolution = resolution
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        # Conditional: each class owns a learned one-channel RxR map stacked onto the image.
        self.embed = nn.Embedding(num_classes, resolution * resolution) if num_classes else None
        ch = width
        layers: list[nn.Module] = [
            sn(nn.Conv2d(channels + (1 if num_classes else 0), ch, 4, 2, 1, bias=False)), nn.LeakyReLU(0.2, True)]
        for _ in range(stages - 1):
            layers.append(sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False)))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        head = sn(nn.Conv2d(ch + (1 if minibatch_std else 0), 1, start, 1, 0, bias=False))
        # Without the minibatch feature the head stays the last layer of `net`: the original layout, which the
        # discriminators kept beside older models have.
        self.net = nn.Sequential(*layers) if minibatch_std else nn.Sequential(*layers, head)
        self.minibatch_std = MinibatchStd() if minibatch_std else None
        self.head = head if minibatch_std else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            x = torch.cat([x, self.embed(labels).view(-1, 1, self.resolution, self.resolution)], 1)
        x = self.net(x)
        if self.minibatch_std is not None:
            x = self.head(self.minibatch_std(x, labels if self.embed is not None else None))
        return x.view(-1)


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales, N(0, 1) embeddings."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02, generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 1.0, generator=generator)


class DCGANTrainer:
    """Alternating D/G updates with Adam; hinge or BCE-with-logits (real targets options.real_label)."""

    def __init__(self, config: GanConfig, conditional: bool) -> None:
        o: DCGANOptions = config.options  # type: ignore[assignment]
        self.options = o
        self.conditional = conditional
        self.z_dim = o.z_dim
        # Weights come from config.seed alone (spectral norm draws its power-iteration vectors from the global
        # RNG); the caller's global RNG is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator = _generator(config, conditional)
            self.discriminator = Discriminator(config.channels, o.resolution, o.width,
                                               config.num_classes if conditional else 0, o.d_norm, o.minibatch_std)
        init_rng = torch.Generator().manual_seed(config.seed)
        init_weights(self.generator, init_rng)
        init_weights(self.discriminator, init_rng)
        self.generator.to(config.device)
        self.discriminator.to(config.device)
        self.ema_beta = 0.5 ** (config.batch_size / o.ema_images) if o.ema_images else 0.0
        self.g_ema = copy.deepcopy(self.generator).eval().requires_grad_(False) if o.ema_images else None
        self.augment = DiscriminatorAugment(o, config.device)
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=o.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=o.lr, betas=betas)

    def _d_losses(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        if self.options.loss == "hinge":
            return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        return (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.options.real_label))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))

    def _g_loss(self, d_gen: torch.Tensor) -> torch.Tensor:
        if self.options.loss == "hinge":
            return -d_gen.mean()
        return F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))

    def train_step(self, real: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        n = real.shape[0]
        fake_labels = labels
        if self.options.mode_seeking > 0 and n >= 2:
            fake_labels = paired_labels(labels)
        cond, fake_cond = (labels, fake_labels) if self.conditional else (None, None)
        z = torch.randn(n, self.z_dim, device=real.device, generator=generator)
        fake = self.generator(z, fake_cond)

        real_seen = self.augment(real, generator)
        if self.options.r1_gamma > 0:
            real_seen = real_seen.detach().requires_grad_(True)
        d_real = self.discriminator(real_seen, cond)
        d_fake = self.discriminator(self.augment(fake.detach(), generator), fake_cond)
        loss_d = self._d_losses(d_real, d_fake)
        if self.options.r1_gamma > 0:
            (grads,) = torch.autograd.grad(d_real.sum(), real_seen, create_graph=True)
            loss_d = loss_d + self.options.r1_gamma / 2 * grads.square().sum((1, 2, 3)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.augment.observe(d_real)
        self.augment.step(real.shape[0])

        # D's weight gradients are not needed for the G update; skipping them saves a third of D's backward.
        self.discriminator.requires_grad_(False)
        d_gen = self.discriminator(self.augment(fake, generator), fake_cond)
        loss_g = self._g_loss(d_gen)
        if self.options.mode_seeking > 0 and n >= 2:
            loss_g = loss_g + self.options.mode_seeking * mode_seeking_loss(fake, z)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)
        if self.g_ema is not None:
            update_ema(self.g_ema, self.generator, self.ema_beta)

        with torch.no_grad():
            values = torch.stack([loss_g, loss_d, torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()])
        metrics = dict(zip(METRICS, values.tolist()))  # one device sync for all metrics
        if self.augment.kind == "ada":
            metrics["augment_p"] = self.augment.p
        return metrics

    def sampling_network(self) -> Generator:
        return self.g_ema if self.g_ema is not None else self.generator

    def discriminator_state(self) -> dict[str, torch.Tensor]:
        return self.discriminator.state_dict()

    def state_dict(self) -> dict:
        """"generator" is always the sampling network (the EMA where there is one, as checkpoints from before the
        EMA have it); the trained G is then "g_train"."""
        state = {"generator": self.sampling_network().state_dict(), "discriminator": self.discriminator.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "augment": self.augment.state_dict()}
        if self.g_ema is not None:
            state["g_train"] = self.generator.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state.get("g_train", state["generator"]))
        if self.g_ema is not None:
            self.g_ema.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.augment.load_state_dict(state.get("augment"))

    def load_pretrained(self, generator: dict[str, torch.Tensor], discriminator: dict[str, torch.Tensor] | None,
                        keep_classes: bool) -> None:
        for net, weights in ((self.generator, generator), (self.discriminator, discriminator)):
            if weights is None:
                continue
            if not keep_classes:  # the class embeddings ("embed.*") stay as initialised
                own = net.state_dict()
                weights = {**{k: v for k, v in weights.items() if not k.startswith("embed.")},
                           **{k: v for k, v in own.items() if k.startswith("embed.")}}
            net.load_state_dict(weights)
        if self.g_ema is not None:
            self.g_ema.load_state_dict(self.generator.state_dict())
