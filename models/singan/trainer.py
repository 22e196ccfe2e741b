"""The SinGAN schedule: pyramids one after another, each coarse to fine, `steps_per_scale` loop steps a scale.

Loop step t trains pyramid t // (S * K), scale (t // K) % S, its step t % K: the position alone says what to train,
so a checkpoint at any step resumes bit-identically (CPU). A scale starts from the previous scale's weights where
its width is the same (as SinGAN does), otherwise from a fresh initialisation seeded by its position; once its
steps are done it is frozen. Each step is one SinGAN iteration: D_STEPS critic steps (WGAN-GP), then G_STEPS
generator steps (adversarial plus `alpha` times the reconstruction MSE), on one image.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from models.data import TrainingImages, resample
from models.errors import DataError
from models.singan.networks import ScaleDiscriminator, SinGANSampler, initialise, scale_width
from models.singan.pyramid import downsample, upsample

if TYPE_CHECKING:
    from models.config import GanConfig

D_STEPS = G_STEPS = 3
GP_WEIGHT = 0.1
# A finer scale's noise amplitude is this times the RMSE between its real image and the up-sampled reconstruction
# from the coarser scales (SinGAN's noise_amp_init).
NOISE_AMP_FACTOR = 0.1
LR_DECAY_AT = 0.8
LR_DECAY = 0.1


def make_sampler(config: GanConfig) -> SinGANSampler:
    o = config.options
    return SinGANSampler(config.channels, config.num_classes, o.images_per_class, o.resolution,  # type: ignore[attr-defined]
                         o.min_size, o.scale_factor, o.width, config.device)  # type: ignore[attr-defined]


def training_image(images: TrainingImages, index: int) -> torch.Tensor:
    """uint8 [C, H, W]: image `index` at its size, resized (bicubic) so that its short side is the resolution."""
    height, width = images.sizes[index].tolist()
    pixels = images.pixels[index, :, :height, :width].cpu()
    r = images.resolution
    size = (round(width * r / min(height, width)), round(height * r / min(height, width)))
    return pixels if size == (width, height) else resample(pixels[None], size)[0]


class SinGANTrainer:
    def __init__(self, config: GanConfig) -> None:
        self.config = config
        self.options = config.options
        self.device = torch.device(config.device)
        self.sampler = make_sampler(config)
        self.steps_per_scale: int = self.options.steps_per_scale  # type: ignore[attr-defined]
        self.position = 0
        self.discriminator: ScaleDiscriminator | None = None
        self.d_scale = -1  # the scale self.discriminator was built for
        self.opt_g: torch.optim.Adam | None = None
        self.opt_d: torch.optim.Adam | None = None
        self.current: tuple[int, int] | None = None
        self.real = self.rec_previous = torch.empty(0)
        self.sizes: list[tuple[int, int]] = []

    def use_images(self, images: TrainingImages, labels: torch.Tensor) -> None:
        """Picks images_per_class images of each class (seeded by config.seed) and makes them the pyramids'."""
        per_class = self.sampler.per_class
        picker = torch.Generator().manual_seed(self.config.seed)
        labels = labels.cpu()
        for k, name in enumerate(self.config.class_names):
            members = (labels == k).nonzero()[:, 0]
            if len(members) < per_class:
                raise DataError(f"images_per_class={per_class}, but class {name!r} has {len(members)} images")
            for j, index in enumerate(members[torch.randperm(len(members), generator=picker)[:per_class]].tolist()):
                pyramid = k * per_class + j
                self.sampler.images[pyramid] = training_image(images, index)
                self.sampler.picked[pyramid] = index

    def train_own_step(self, generator: torch.Generator) -> dict[str, float]:
        s, k_steps = self.sampler.num_scales, self.steps_per_scale
        pyramid, rest = divmod(self.position, s * k_steps)
        scale, k = divmod(rest, k_steps)
        if k == 0:
            self._begin(pyramid, scale, generator)
        decayed = k >= LR_DECAY_AT * k_steps
        for opt in (self.opt_g, self.opt_d):
            assert opt is not None
            for group in opt.param_groups:
                group["lr"] = self.options.lr * (LR_DECAY if decayed else 1.0)  # type: ignore[attr-defined]
        metrics = self._iterate(pyramid, scale, generator)
        self.position += 1
        if k == k_steps - 1:
            g = self.sampler.generators[pyramid][scale]
            g.requires_grad_(False)
            self.sampler.trained[pyramid] = scale + 1
        return {**metrics, "image": float(pyramid), "scale": float(s - 1 - scale)}

    def _begin(self, pyramid: int, scale: int, generator: torch.Generator) -> None:
        """Fresh or inherited weights for the scale, and at the coarsest its fixed reconstruction noise."""
        s, width = self.sampler.num_scales, self.options.width  # type: ignore[attr-defined]
        g = self.sampler.generators[pyramid][scale]
        init = torch.Generator().manual_seed(self.config.seed * 4096 + pyramid * s + scale)
        d = ScaleDiscriminator(self.config.channels, scale_width(width, scale)).to(self.device)
        inherit = scale > 0 and scale_width(width, scale - 1) == scale_width(width, scale)
        if inherit:
            g.load_state_dict(self.sampler.generators[pyramid][scale - 1].state_dict())
            assert self.discriminator is not None
            d.load_state_dict(self.discriminator.state_dict())
        else:
            initialise(g, init)
            initialise(d, init)
        self.discriminator, self.d_scale = d, scale
        if scale == 0:
            size = self.sampler.sizes(pyramid)[0]
            self.sampler.z_rec[pyramid] = torch.randn(1, self.config.channels, *size, generator=generator,
                                                      device=self.device)
        self._prepare(pyramid, scale)
        if scale > 0:
            rmse = F.mse_loss(self.rec_previous, self.real).sqrt()
            self.sampler.noise_amp[pyramid, scale] = NOISE_AMP_FACTOR * float(rmse)

    def _prepare(self, pyramid: int, scale: int) -> None:
        """Optimisers, the real image and the reconstruction input of the scale: all that resuming rebuilds."""
        o = self.options
        g, d = self.sampler.generators[pyramid][scale], self.discriminator
        assert d is not None
        g.requires_grad_(True)
        betas = (o.beta1, o.beta2)  # type: ignore[attr-defined]
        self.opt_g = torch.optim.Adam(g.parameters(), lr=o.lr, betas=betas)  # type: ignore[attr-defined]
        self.opt_d = torch.optim.Adam(d.parameters(), lr=o.lr, betas=betas)  # type: ignore[attr-defined]
        self.sizes = self.sampler.sizes(pyramid)
        self.real = downsample(self.sampler.real(pyramid), self.sizes[scale])
        self.current = (pyramid, scale)
        if scale == 0:
            self.rec_previous = torch.zeros_like(self.real)
            return
        noise = [self.sampler.z_rec[pyramid]] + [torch.zeros(1, self.config.channels, *size, device=self.device)
                                                 for size in self.sizes[1:scale]]
        self._modes(pyramid, scale)
        with torch.no_grad():
            rec = self.sampler.run(pyramid, 0, scale, torch.zeros_like(noise[0]), noise, self.sizes)
        self.rec_previous = upsample(rec, self.sizes[scale])

    def _modes(self, pyramid: int, scale: int) -> None:
        """Trained scales in eval mode (their batch norm frozen), the scale being trained in train mode."""
        self.sampler.generators.eval()
        self.sampler.generators[pyramid][scale].train()

    def _random_previous(self, pyramid: int, scale: int, generator: torch.Generator) -> torch.Tensor:
        """An image from the frozen coarser scales and fresh noise, at this scale's size."""
        c = self.config.channels
        if scale == 0:
            return torch.zeros_like(self.real)
        noise = [torch.randn(1, c, *size, generator=generator, device=self.device) for size in self.sizes[:scale]]
        with torch.no_grad():
            image = self.sampler.run(pyramid, 0, scale, torch.zeros_like(noise[0]), noise, self.sizes)
        return upsample(image, self.sizes[scale])

    def _iterate(self, pyramid: int, scale: int, generator: torch.Generator) -> dict[str, float]:
        g, d = self.sampler.generators[pyramid][scale], self.discriminator
        assert d is not None and self.opt_g is not None and self.opt_d is not None
        self._modes(pyramid, scale)
        amp = float(self.sampler.noise_amp[pyramid, scale])
        previous = self._random_previous(pyramid, scale, generator)
        real = self.real

        def noise() -> torch.Tensor:
            return torch.randn(real.shape, generator=generator, device=self.device)

        d.requires_grad_(True)
        for _ in range(D_STEPS):
            with torch.no_grad():
                fake = g(amp * noise() + previous, previous)
            d_real, d_fake = d(real).mean(), d(fake).mean()
            mix = torch.rand(1, 1, 1, 1, generator=generator, device=self.device)
            between = (mix * real + (1 - mix) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(d(between).sum(), between, create_graph=True)
            penalty = ((grad.norm(2, dim=1) - 1) ** 2).mean()
            loss_d = d_fake - d_real + GP_WEIGHT * penalty
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        d.requires_grad_(False)
        z_fixed = self.sampler.z_rec[pyramid] if scale == 0 else torch.zeros_like(real)
        alpha = self.options.alpha  # type: ignore[attr-defined]
        for _ in range(G_STEPS):
            adversarial = -d(g(amp * noise() + previous, previous)).mean()
            reconstruction = F.mse_loss(g(amp * z_fixed + self.rec_previous, self.rec_previous), real)
            loss_g = adversarial + alpha * reconstruction
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        figures = {"loss_d": loss_d, "loss_g": loss_g, "d_real": d_real, "d_fake": d_fake,
                   "gradient_penalty": penalty, "reconstruction": reconstruction}
        return {name: float(value.detach()) for name, value in figures.items()}

    def sampling_network(self) -> SinGANSampler:
        return self.sampler

    def discriminator_state(self) -> dict[str, torch.Tensor]:
        return {} if self.discriminator is None else self.discriminator.state_dict()

    def state_dict(self) -> dict:
        return {"generator": self.sampler.state_dict(), "discriminator": self.discriminator_state(),
                "d_scale": self.d_scale, "position": self.position,
                "opt_g": {} if self.opt_g is None else self.opt_g.state_dict(),
                "opt_d": {} if self.opt_d is None else self.opt_d.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["generator"])
        self.position, self.d_scale = int(state["position"]), int(state["d_scale"])
        self.discriminator = None
        if self.d_scale >= 0:
            width = scale_width(self.options.width, self.d_scale)  # type: ignore[attr-defined]
            self.discriminator = ScaleDiscriminator(self.config.channels, width).to(self.device)
            self.discriminator.load_state_dict(state["discriminator"])
        for pyramid, trained in enumerate(self.sampler.trained.tolist()):
            for scale in range(trained):
                self.sampler.generators[pyramid][scale].requires_grad_(False)
        pyramid, rest = divmod(self.position, self.sampler.num_scales * self.steps_per_scale)
        scale, k = divmod(rest, self.steps_per_scale)
        if k > 0:  # mid-scale: its optimisers and inputs, as they were
            self._prepare(pyramid, scale)
            assert self.opt_g is not None and self.opt_d is not None
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])

    def load_pretrained(self, generator: dict[str, torch.Tensor], discriminator: dict[str, torch.Tensor] | None,
                        keep_classes: bool) -> None:
        raise ValueError("a SinGAN model learns its own images from scratch: it cannot be fine-tuned")
