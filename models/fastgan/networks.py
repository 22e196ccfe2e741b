"""FastGAN's generator (skip-layer excitation, nearest-neighbour upsampling + convolution, GLU, noise injection,
batch norm) and its self-supervised discriminator (decoders reconstruct what it sees of real images from its 8x8
feature map and from one quadrant of its 16x16 map). Every convolution is spectrally normalised, as in the paper.

Unlike the reference, G has one output and D one input path: the paper's second, 128 px "small" path to D is
left out, which halves D's cost on a CPU.

With num_classes, both are class-conditional (architecture cfastgan): G reads a learned class embedding beside z,
and D adds a projection term (the inner product of a class embedding with its pooled 8x8 features, as in
Miyato & Koyama's projection discriminator) to every patch logit. Class-dependent parameters live under "embed.".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.architectures.base import eval_samples

# Channels per feature-map size, as multiples of the width (the paper's tables).
G_MULTIPLIERS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
LEAK = 0.2
# The generator's blocks at these sizes have two convolutions with noise; the others one convolution.
NOISY_SIZES = (8, 32, 128, 512)


def g_channels(size: int, width: float) -> int:
    return max(1, int(width * G_MULTIPLIERS[size]))


def d_channels(size: int, width: int) -> int:
    """D doubles its channels at each halving: width at 64 px."""
    return max(1, width * 64 // size)


def reconstruction_size(resolution: int) -> int:
    """The side of the decoders' outputs: half the resolution, at most 128 (the paper's)."""
    return min(resolution // 2, 128)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True) -> nn.Module:
    conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=bias)
    nn.init.normal_(conv.weight, 0.0, 0.02)
    return spectral_norm(conv)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels)
    nn.init.normal_(norm.weight, 1.0, 0.02)
    return norm


def quadrant(x: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, C, H/2, W/2]: quadrant which[i] of x[i] (0 top left, 1 top right, 2 bottom left, ...)."""
    n, c, h, w = x.shape
    quarters = x.view(n, c, 2, h // 2, 2, w // 2).permute(0, 2, 4, 1, 3, 5)
    return quarters[torch.arange(n, device=x.device), which // 2, which % 2]


class NoiseInjection(nn.Module):
    """Adds per-pixel Gaussian noise times a learned weight (zero at first). Training draws the noise; sampling
    uses one fixed noise map, so that an image depends on its z alone."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.register_buffer("fixed", torch.randn(1, 1, size, size))

    def forward(self, x: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        if rng is None:
            return x + self.weight * self.fixed
        n, _, h, w = x.shape
        return x + self.weight * torch.randn((n, 1, h, w), generator=rng, device=x.device)


class UpBlock(nn.Module):
    """2x nearest-neighbour upsampling, then 3x3 convolution(s) to twice the channels, batch norm and GLU."""

    def __init__(self, cin: int, cout: int, size: int, noisy: bool) -> None:
        super().__init__()
        convs = [_conv(cin, 2 * cout, 3, 1, 1, bias=False)] + ([_conv(cout, 2 * cout, 3, 1, 1, bias=False)]
                                                              if noisy else [])
        self.convs = nn.ModuleList(convs)
        self.noise = nn.ModuleList(NoiseInjection(size) for _ in convs) if noisy else None
        self.norms = nn.ModuleList(_batch_norm(2 * cout) for _ in convs)

    def forward(self, x: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = conv(x)
            if self.noise is not None:
                x = self.noise[i](x, rng)
            x = F.glu(norm(x), 1)
        return x


class SkipExcitation(nn.Module):
    """Skip-layer excitation: a small feature map, pooled to 4x4, gates each channel of a large one."""

    def __init__(self, small: int, large: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), _conv(small, large, 4), nn.SiLU(), _conv(large, large, 1),
                                  nn.Sigmoid())

    def forward(self, small: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
        return large * self.gate(small)


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int, num_classes: int = 0) -> None:
        super().__init__()
        start = g_channels(4, width)
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        linear = nn.Linear(2 * z_dim if num_classes else z_dim, 2 * start * 16, bias=False)
        nn.init.normal_(linear.weight, 0.0, 0.02)
        self.start = nn.Sequential(spectral_norm(linear), nn.Unflatten(1, (2 * start, 4, 4)), _batch_norm(2 * start),
                                   nn.GLU(1))
        self.sizes = [8 << i for i in range(resolution.bit_length() - 3)]  # 8 .. resolution
        self.blocks = nn.ModuleList(UpBlock(g_channels(s // 2, width), g_channels(s, width), s, s in NOISY_SIZES)
                                    for s in self.sizes)
        # The 4x4 map excites the 64x64 one, 8x8 the 128x128, and so on.
        self.excite = nn.ModuleDict({str(s): SkipExcitation(g_channels(s // 16, width), g_channels(s, width))
                                     for s in self.sizes if s >= 64})
        self.to_image = _conv(g_channels(resolution, width), channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, rng: torch.Generator | None = None,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """rng: the noise injections' noise; None for their fixed maps. labels: a conditional G's classes."""
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        x = self.start(z)
        features = {4: x}
        for size, block in zip(self.sizes, self.blocks):
            x = block(x, rng)
            if str(size) in self.excite:
                x = self.excite[str(size)](features[size // 16], x)
            features[size] = x
        return torch.tanh(self.to_image(x))

    def sample(self, z: torch.Tensor, labels: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """Eval-mode, no-grad images in [-1, 1] with the fixed noise maps; truncation scales z; labels are used by
        a conditional G only."""
        return eval_samples(self, lambda: self(z * truncation_psi, labels=labels if self.embed is not None else None))


class DownBlock(nn.Module):
    """Halves the size: the mean of a strided 4x4 + 3x3 convolution path and an average-pool + 1x1 path."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.main = nn.Sequential(_conv(cin, cout, 4, 2, 1, bias=False), _batch_norm(cout), nn.LeakyReLU(LEAK),
                                  _conv(cout, cout, 3, 1, 1, bias=False), _batch_norm(cout), nn.LeakyReLU(LEAK))
        self.direct = nn.Sequential(nn.AvgPool2d(2), _conv(cin, cout, 1, bias=False), _batch_norm(cout),
                                    nn.LeakyReLU(LEAK))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class Decoder(nn.Module):
    """An 8x8 feature map -> an image of reconstruction_size(resolution), channel counts half G's."""

    def __init__(self, cin: int, channels: int, size: int, width: int) -> None:
        super().__init__()
        sizes = [16 << i for i in range(size.bit_length() - 4)]  # 16 .. size
        chans = [cin] + [g_channels(s, width / 2) for s in sizes]
        self.blocks = nn.ModuleList(UpBlock(a, b, s, noisy=False) for a, b, s in zip(chans, chans[1:], sizes))
        self.to_image = _conv(chans[-1], channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, None)
        return torch.tanh(self.to_image(x))


class Discriminator(nn.Module):
    """Logits as a [N, 25] map (5x5 patches of the 8x8 features); on real images also the reconstructions."""

    def __init__(self, channels: int, resolution: int, width: int, num_classes: int = 0) -> None:
        super().__init__()
        top = min(resolution, 256)
        if resolution <= 256:
            stem: list[nn.Module] = [_conv(channels, d_channels(top, width), 3, 1, 1), nn.LeakyReLU(LEAK)]
        else:  # strided convolutions down to 256
            stem, size, cin = [], resolution, channels
            while size > 256:
                size //= 2
                norm = [_batch_norm(d_channels(size, width))] if stem else []
                stem += [_conv(cin, d_channels(size, width), 4, 2, 1, bias=False), *norm, nn.LeakyReLU(LEAK)]
                cin = d_channels(size, width)
        self.stem = nn.Sequential(*stem)
        self.sizes = [top >> i for i in range(1, (top // 8).bit_length())]  # top/2 .. 8
        self.blocks = nn.ModuleList(DownBlock(d_channels(2 * s, width), d_channels(s, width)) for s in self.sizes)
        # As in G, a map excites the one 8 times smaller: 64 -> 8, 128 -> 16, 256 -> 32.
        self.excite = nn.ModuleDict({str(s): SkipExcitation(d_channels(8 * s, width), d_channels(s, width))
                                     for s in self.sizes if 8 * s <= top})
        last = d_channels(8, width)
        self.embed = spectral_norm(nn.Embedding(num_classes, last)) if num_classes else None
        self.logits = nn.Sequential(_conv(last, 2 * last, 1, bias=False), _batch_norm(2 * last), nn.LeakyReLU(LEAK),
                                    _conv(2 * last, 1, 4))
        size = reconstruction_size(resolution)
        self.decode_whole = Decoder(last, channels, size, width)
        self.decode_part = Decoder(d_channels(16, width), channels, size, width)

    def _features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The 8x8 and 16x16 feature maps."""
        x = self.stem(images)
        features = {x.shape[-1]: x}
        for size, block in zip(self.sizes, self.blocks):
            x = block(x)
            if str(size) in self.excite:
                x = self.excite[str(size)](features[8 * size], x)
            features[size] = x
        return features[8], features[16]

    def _logits(self, small: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        logits = self.logits(small).flatten(1)
        if self.embed is None:
            return logits
        return logits + (self.embed(labels) * small.mean((2, 3))).sum(1, keepdim=True)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self._logits(self._features(images)[0], labels)

    def with_reconstructions(self, images: torch.Tensor, part: torch.Tensor, labels: torch.Tensor | None = None,
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, the whole image decoded from the 8x8 map, quadrant part[i] decoded from that quadrant of the
        16x16 map)."""
        small, large = self._features(images)
        return self._logits(small, labels), self.decode_whole(small), self.decode_part(quadrant(large, part))
