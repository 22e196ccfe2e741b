"""One scale's generator and patch discriminator, and the sampling network that holds every pyramid of a model.

A model's weights (SinGANSampler.state_dict) carry more than generators: each pyramid's training image (uint8,
at the finest scale), its fixed reconstruction noise, its noise amplitudes, how many of its scales are trained and
which dataset image it was picked from. Generation from a finer scale injects the training image, and SIFID
pairs each generated image with it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.architectures.base import eval_samples
from models.singan.pyramid import PAD, downsample, scale_count, scale_sizes, upsample

Weights = dict[str, torch.Tensor]
# Elements of the noise vector SamplingNetwork.sample takes: their bits seed the row's spatial noise maps.
SEED_DIM = 2


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


def _body(channels: int, width: int) -> list[nn.Module]:
    return [_block(channels, width), _block(width, width), _block(width, width), _block(width, width)]


class ScaleGenerator(nn.Module):
    """G_n(z + x) + x: five unpadded 3x3 convolutions on the zero-padded input, a residual on x."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(*_body(channels, width), nn.Conv2d(width, channels, 3), nn.Tanh())

    def forward(self, noisy: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return self.net(F.pad(noisy, (PAD,) * 4)) + previous


class ScaleDiscriminator(nn.Module):
    """A patch critic: one score per 11x11 patch, no padding."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(*_body(channels, width), nn.Conv2d(width, 1, 3))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


def initialise(module: nn.Module, generator: torch.Generator) -> None:
    """SinGAN's initialisation (convolutions N(0, 0.02), batch norm scales N(1, 0.02)), from `generator` alone so
    that a scale's fresh weights do not depend on what ran before it."""
    with torch.no_grad():  # drawn on the CPU (generator) and copied, whatever the module's device
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
                mean = 1.0 if isinstance(m, nn.BatchNorm2d) else 0.0
                m.weight.copy_(mean + 0.02 * torch.randn(m.weight.shape, generator=generator))
                m.bias.zero_()


def scale_width(width: int, scale: int) -> int:
    """Channels at scale `scale` (0 = coarsest): doubling every 4 scales."""
    return width * 2 ** (scale // 4)


def row_seeds(z: torch.Tensor) -> list[int]:
    """One 64-bit seed per row, from the bits of its first SEED_DIM float32 noise values."""
    bits = z[:, :SEED_DIM].detach().to("cpu", torch.float32).contiguous().view(torch.int32).long() & 0xFFFFFFFF
    return [int(a) << 32 | int(b) for a, b in bits.tolist()]


class SinGANSampler:
    """Every pyramid of a model: images_per_class per class, class k's being pyramids k*P .. k*P + P - 1."""

    def __init__(self, channels: int, num_classes: int, images_per_class: int, resolution: int, min_size: int,
                 scale_factor: float, width: int, device: torch.device | str) -> None:
        self.channels, self.per_class, self.resolution, self.min_size = channels, images_per_class, resolution, min_size
        self.num_scales = scale_count(resolution, min_size, scale_factor)
        self.count = num_classes * images_per_class
        self.device = torch.device(device)
        self.generators = nn.ModuleList(
            nn.ModuleList(ScaleGenerator(channels, scale_width(width, i)) for i in range(self.num_scales))
            for _ in range(self.count)).to(self.device)
        self.images = [torch.zeros(channels, resolution, resolution, dtype=torch.uint8) for _ in range(self.count)]
        self.z_rec = [torch.zeros(1, channels, *self.sizes(k)[0], device=self.device) for k in range(self.count)]
        self.noise_amp = torch.ones(self.count, self.num_scales, dtype=torch.float64)
        self.trained = torch.zeros(self.count, dtype=torch.long)
        self.picked = torch.zeros(self.count, dtype=torch.long)

    def sizes(self, pyramid: int, size: tuple[int, int] | None = None) -> list[tuple[int, int]]:
        """(height, width) per scale, coarse to fine, for a finest size (height, width); default the pyramid's
        training image's."""
        height, width = size or tuple(self.images[pyramid].shape[1:])
        return scale_sizes(height, width, self.num_scales, self.resolution, self.min_size)

    def real(self, pyramid: int) -> torch.Tensor:
        """The pyramid's training image, float [1, C, H, W] in [-1, 1] on the device."""
        return self.images[pyramid].to(self.device, torch.float32).div(127.5).sub(1.0)[None]

    def default_size(self) -> tuple[int, int]:
        """(height, width) of what generation makes unless told: the first pyramid's training image's."""
        return tuple(self.images[0].shape[1:])  # type: ignore[return-value]

    def run(self, pyramid: int, start: int, stop: int, previous: torch.Tensor, noise: list[torch.Tensor],
            sizes: list[tuple[int, int]]) -> torch.Tensor:
        """Scales start .. stop-1 of a pyramid from `previous` (the image at scale start's size, zeros at the
        coarsest), noise[i - start] the unit noise of scale i."""
        x = previous
        for i in range(start, stop):
            if i > start:
                x = upsample(x, sizes[i])
            x = self.generators[pyramid][i](float(self.noise_amp[pyramid, i]) * noise[i - start] + x, x)
        return x

    def pyramids(self, z: torch.Tensor, labels: torch.Tensor) -> list[int]:
        """The pyramid each row comes from: one of its class's, by its seed (see row_seeds)."""
        return [int(label) * self.per_class + seed % self.per_class
                for label, seed in zip(labels.tolist(), row_seeds(z))]

    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0,
               start_scale: int | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Eval-mode images in [-1, 1], [n, C, height, width] for size (width, height), default default_size().
        Row i comes from one of class labels[i]'s pyramids, its noise maps from a CPU generator seeded with the
        bits of z[i] (see row_seeds). start_scale counts like the paper (N = the coarsest: pure noise; finer
        scales start from the training image down-sampled to the next coarser scale); default N. A pyramid with
        untrained scales stops at its last trained one and is up-sampled; one with none gives mid-grey.
        truncation_psi has no meaning here and is ignored."""
        out_size = self.default_size() if size is None else (size[1], size[0])
        start = 0 if start_scale is None else self.num_scales - 1 - start_scale
        if not 0 <= start < self.num_scales:
            raise ValueError(f"start_scale must be in [0, {self.num_scales - 1}], got {start_scale}")
        seeds = row_seeds(z)
        pyramids = self.pyramids(z, labels)
        out = torch.zeros(len(seeds), self.channels, *out_size, device=self.device)
        sizes = self.sizes(0, out_size)
        if min(sizes[0]) < 2 * PAD + 1:
            raise ValueError(f"size {out_size[::-1]} is too small: its coarsest scale would be {sizes[0]}")

        def forward() -> torch.Tensor:
            for pyramid in dict.fromkeys(pyramids):
                rows = [i for i, p in enumerate(pyramids) if p == pyramid]
                stop = int(self.trained[pyramid])
                if stop <= start:
                    continue
                noise = [[torch.randn(self.channels, *sizes[i], generator=g) for i in range(start, stop)]
                         for g in (torch.Generator().manual_seed(seeds[r]) for r in rows)]
                per_scale = [torch.stack([n[i] for n in noise]).to(self.device) for i in range(stop - start)]
                if start == 0:
                    previous = torch.zeros(len(rows), self.channels, *sizes[0], device=self.device)
                else:
                    real = downsample(self.real(pyramid), out_size)
                    previous = upsample(downsample(real, sizes[start - 1]), sizes[start]).expand(len(rows), -1, -1, -1)
                images = self.run(pyramid, start, stop, previous, per_scale, sizes)
                out[rows] = upsample(images, out_size) if stop < self.num_scales else images
            return out

        return eval_samples(self.generators, forward)

    def state_dict(self) -> Weights:
        state: Weights = {"picked": self.picked, "trained": self.trained, "noise_amp": self.noise_amp}
        for k in range(self.count):
            state[f"{k}.image"], state[f"{k}.z_rec"] = self.images[k], self.z_rec[k]
        state.update({f"g.{key}": value for key, value in self.generators.state_dict().items()})
        return state

    def load_state_dict(self, state: Weights) -> None:
        """KeyError or ValueError where the weights do not fit (models.checkpoint.fitting reports them)."""
        own = {key[2:]: value for key, value in state.items() if key.startswith("g.")}
        self.generators.load_state_dict(own)
        for name, like in (("picked", self.picked), ("trained", self.trained), ("noise_amp", self.noise_amp)):
            if state[name].shape != like.shape:
                raise ValueError(f"{name} has shape {tuple(state[name].shape)}, expected {tuple(like.shape)}")
        images, z_rec = [], []
        for k in range(self.count):
            image = state[f"{k}.image"]
            if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != self.channels:
                raise ValueError(f"pyramid {k}'s image is {image.dtype} {tuple(image.shape)}")
            images.append(image.cpu())
            coarsest = scale_sizes(*image.shape[1:], self.num_scales, self.resolution, self.min_size)[0]
            expected = (1, self.channels, *coarsest)
            if tuple(state[f"{k}.z_rec"].shape) != expected:
                raise ValueError(f"pyramid {k}'s reconstruction noise is not {expected}")
            z_rec.append(state[f"{k}.z_rec"].to(self.device, torch.float32))
        stray = set(state) - {f"g.{key}" for key in own} - set(self.state_dict())
        if stray:
            raise KeyError(f"unexpected keys {sorted(stray)[:5]}")
        self.images, self.z_rec = images, z_rec
        self.picked = state["picked"].long().cpu()
        self.trained = state["trained"].long().cpu()
        self.noise_amp = state["noise_amp"].double().cpu()
