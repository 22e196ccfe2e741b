"""The stratified train/test split of an augmentation report, shared by the API (to refuse an empty split at
submission) and the worker (to make it)."""
from __future__ import annotations

import torch

DEFAULT_TEST_FRACTION = 0.2


def held_out_count(count: int, fraction: float) -> int:
    return round(count * fraction)


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, test indices): held_out_count(n_c, fraction) images of every class c, drawn with `seed`."""
    rng = torch.Generator().manual_seed(seed)
    train, test = [], []
    for label in labels.unique(sorted=True).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=rng)]
        cut = held_out_count(len(members), fraction)
        test.append(members[:cut])
        train.append(members[cut:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values
