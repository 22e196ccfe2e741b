"""Two artefacts of upsampling generators, measured on images so that a test or a benchmark can refuse them:

- checkerboard: the energy of the period-2 patterns (the image's Nyquist frequencies along rows, columns and
  both), which stride-2 transposed convolutions leave (Odena et al. 2016, "Deconvolution and Checkerboard
  Artifacts"), as a fraction of the image's own variation;
- edge stripe: how far the outermost row or column of pixels departs from the rows next to it, the stripe a
  convolution's zero padding can leave along a border, in units of the image's standard deviation.

Both take a batch of [N, C, H, W] images (any value range); random crops of photographs score near 0.
"""
from __future__ import annotations

import torch

BORDER_DEPTH = 3  # the interior rows an edge is compared with
# Above these a generator shows the artefact: random 64 px crops of scikit-image's brick photograph score 0.007 and
# 0.09; an untrained transposed-convolution DCGAN generator 0.48 (checkerboard).
CHECKERBOARD_LIMIT = 0.1
EDGE_STRIPE_LIMIT = 0.2


def checkerboard_score(images: torch.Tensor) -> float:
    x = images.double()
    x = x - x.mean((2, 3), keepdim=True)
    h, w = x.shape[2:]
    rows = (-1.0) ** torch.arange(h, dtype=torch.float64)
    cols = (-1.0) ** torch.arange(w, dtype=torch.float64)
    patterns = (rows[:, None].expand(h, w), cols[None, :].expand(h, w), rows[:, None] * cols[None, :])
    energy = sum((x * p).mean((2, 3)).square() for p in patterns)
    return (energy.sqrt() / x.std((2, 3)).clamp_min(1e-8)).mean().item()


def edge_stripe_score(images: torch.Tensor) -> float:
    """A stripe sits in the same place in every image: the batch's mean edge row or column against the mean of
    the BORDER_DEPTH rows inside it, for the worst of the four borders."""
    x = images.double()
    mean = x.mean(0)  # [C, H, W]
    d = BORDER_DEPTH
    edges = [(mean[:, 0], mean[:, 1:1 + d]), (mean[:, -1], mean[:, -1 - d:-1]),
             (mean[:, :, 0], mean[:, :, 1:1 + d]), (mean[:, :, -1], mean[:, :, -1 - d:-1])]
    gaps = [(edge.mean() - inner.mean()).abs() for edge, inner in edges]
    return (torch.stack(gaps).max() / x.std().clamp_min(1e-8)).item()
