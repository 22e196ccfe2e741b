"""ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): the differentiable
augmentation pipeline ("bgc": blit, geometric, colour) and the controller that adapts its probability p.

Every transform is applied per sample with probability p, with the paper's default strengths. The geometric ones
are composed into one affine matrix per sample and the image is resampled once, as the paper does: kornia's
augmentation containers resample per transform, which would blur the image once for every transform applied.
Randomness comes only from the torch.Generator passed in, so that training can be resumed bit for bit.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

XINT_MAX = 0.125  # integer translation, fraction of the image size
SCALE_STD = 0.2  # log2 of the isotropic scale
ROTATE_MAX = 1.0  # of a half turn
ANISO_STD = 0.2  # log2 of the anisotropic scale
XFRAC_STD = 0.125  # fractional translation, fraction of the image size
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2
SATURATION_STD = 1.0  # log2


def ada_augment(images: torch.Tensor, p: float, rng: torch.Generator) -> torch.Tensor:
    """images [N, C, H, W] in [-1, 1] (square); p = 0 returns `images` itself."""
    if p == 0:
        return images
    images = images.float()
    return _colour(_geometric(images, p, rng), p, rng)


class AdaController:
    """The overfitting heuristic r_t = E[sign(D(real))], accumulated over minibatches. Each update moves p by
    sign(r_t - target) * images / speed_images (so p can go from 0 to 1 in speed_images images) within [0, 1]."""

    def __init__(self, target: float, speed_images: int, device: torch.device | str = "cpu") -> None:
        self.target = target
        self.speed_images = speed_images
        self.p = 0.0
        self._sign_sum = torch.zeros((), device=device)
        self._count = 0

    def accumulate(self, real_logits: torch.Tensor) -> None:
        self._sign_sum += real_logits.detach().sign().sum().float()
        self._count += real_logits.numel()

    def update(self, num_images: int) -> float:
        """Adjusts p for `num_images` images shown since the last update and restarts the accumulation."""
        if self._count:
            r_t = (self._sign_sum / self._count).item()
            direction = (r_t > self.target) - (r_t < self.target)
            self.p = min(max(self.p + direction * num_images / self.speed_images, 0.0), 1.0)
        self._sign_sum.zero_()
        self._count = 0
        return self.p

    def state_dict(self) -> dict:
        return {"p": self.p, "sign_sum": self._sign_sum.clone(), "count": self._count}

    def load_state_dict(self, state: dict) -> None:
        p, count = state["p"], state["count"]
        if not isinstance(p, float) or not 0 <= p <= 1 or not isinstance(count, int) or count < 0:
            raise ValueError(f"invalid ADA state: p={p!r}, count={count!r}")
        self._sign_sum.copy_(state["sign_sum"])
        self.p, self._count = p, count


def _gate(values: torch.Tensor, identity: float, p: float, rng: torch.Generator) -> torch.Tensor:
    """values where a per-sample coin with probability p comes up, else identity."""
    applied = torch.rand(values.shape[0], generator=rng, device=values.device) < p
    return torch.where(applied.view(-1, *([1] * (values.dim() - 1))), values, torch.full_like(values, identity))


def _identity(n: int, device: torch.device) -> torch.Tensor:
    return torch.eye(3, device=device).repeat(n, 1, 1)


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _identity(len(sx), sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _identity(len(tx), tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _rotate(theta: torch.Tensor) -> torch.Tensor:
    m = _identity(len(theta), theta.device)
    m[:, 0, 0], m[:, 0, 1] = theta.cos(), -theta.sin()
    m[:, 1, 0], m[:, 1, 1] = theta.sin(), theta.cos()
    return m


def _geometric(images: torch.Tensor, p: float, rng: torch.Generator) -> torch.Tensor:
    n, _, h, w = images.shape
    dev = images.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand((n, *shape), generator=rng, device=dev)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn((n, *shape), generator=rng, device=dev)

    # The sampling matrix maps output to input coordinates (normalised, [-1, 1]): the inverse of the chain of
    # transforms, so each transform's inverse is multiplied on the right, in the order they apply.
    inverse = _identity(n, dev)
    flip = _gate(1 - 2 * torch.floor(rand() * 2), 1.0, p, rng)
    inverse = inverse @ _scale(flip, torch.ones_like(flip))
    quarter_turns = _gate(torch.floor(rand() * 4), 0.0, p, rng)
    inverse = inverse @ _rotate(-quarter_turns * (math.pi / 2)).round()  # exact 0 and +-1 entries
    shift = _gate((rand(2) * 2 - 1) * XINT_MAX, 0.0, p, rng)
    pixels = torch.round(shift * torch.tensor([w, h], device=dev))  # whole pixels: exact, no interpolation
    inverse = inverse @ _translate(-pixels[:, 0] * 2 / w, -pixels[:, 1] * 2 / h)
    scale = _gate(torch.exp2(randn() * SCALE_STD), 1.0, p, rng)
    inverse = inverse @ _scale(1 / scale, 1 / scale)
    p_rotate = 1 - math.sqrt(max(1 - p, 0.0))  # rotation before or after the anisotropic scaling: p in all
    angle = _gate((rand() * 2 - 1) * math.pi * ROTATE_MAX, 0.0, p_rotate, rng)
    inverse = inverse @ _rotate(-angle)
    aniso = _gate(torch.exp2(randn() * ANISO_STD), 1.0, p, rng)
    inverse = inverse @ _scale(1 / aniso, aniso)
    angle = _gate((rand() * 2 - 1) * math.pi * ROTATE_MAX, 0.0, p_rotate, rng)
    inverse = inverse @ _rotate(-angle)
    frac = _gate(randn(2) * XFRAC_STD, 0.0, p, rng)
    inverse = inverse @ _translate(-frac[:, 0] * 2, -frac[:, 1] * 2)

    untouched = (inverse == _identity(1, dev)).flatten(1).all(1)
    if bool(untouched.all()):
        return images
    grid = F.affine_grid(inverse[:, :2], list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return torch.where(untouched[:, None, None, None], images, warped)


def _colour(images: torch.Tensor, p: float, rng: torch.Generator) -> torch.Tensor:
    n, channels = images.shape[:2]
    dev = images.device

    def randn() -> torch.Tensor:
        return torch.randn((n, 1, 1, 1), generator=rng, device=dev)

    brightness = _gate(randn() * BRIGHTNESS_STD, 0.0, p, rng)
    contrast = _gate(torch.exp2(randn() * CONTRAST_STD), 1.0, p, rng)
    images = (images + brightness) * contrast  # contrast about 0, mid-grey in [-1, 1]
    if channels == 3:
        saturation = _gate(torch.exp2(randn() * SATURATION_STD), 1.0, p, rng)
        luma = images.mean(1, keepdim=True)  # the component along the grey axis (1, 1, 1)
        images = images + (images - luma) * (saturation - 1)  # = luma + (images - luma) * s, exact for s = 1
    return images
