"""The mode-seeking term (Mao et al. 2019, MSGAN), shared by the GANs that offer it: G is penalised by the inverse
of how far apart two of its images are for how far apart their z are, over the pairs (i, i + n//2), which a
conditional G draws in one class."""
from __future__ import annotations

import torch


def paired_labels(labels: torch.Tensor) -> torch.Tensor:
    """Labels for a generated batch of len(labels) in which image i and image i + n//2 share a class."""
    n = labels.shape[0]
    return torch.cat([labels[:n // 2], labels[:n - n // 2]])


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """1 / (mean |G(z_i) - G(z_j)| / mean |z_i - z_j|) over the pairs (i, i + n//2): large when G ignores z."""
    half = fake.shape[0] // 2
    images = (fake[:half] - fake[half:2 * half]).abs().mean((1, 2, 3))
    noise = (z[:half] - z[half:2 * half]).abs().mean(1)
    return 1 / ((images / noise).mean() + 1e-5)
