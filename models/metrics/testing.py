"""Randomly initialised FID Inception weights for tests and benchmarks: the keys and shapes of the real
2015-12-05 state dict (as torch-fidelity converted it: conv weights and BatchNorm weight, bias, running_mean and
running_var, then fc), so that nothing needs the real 95 MB file.

The values are seeded and scaled so that activations neither vanish nor explode through the 94 layers, and the
BatchNorm statistics are not the identity (so that folding them into the convolutions is really exercised).
"""
from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch


def inception_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of the FID Inception-v3 state dict (torchvision's Inception3 layout with 1008 classes)."""
    from torchvision.models.inception import Inception3

    with torch.device("meta"):
        model = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def random_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in inception_shapes().items():
        if key.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            value = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif key.endswith("bn.weight"):
            value = 0.8 + 0.4 * torch.rand(shape, generator=g)
        elif key.endswith("bn.bias"):
            value = 0.1 * torch.randn(shape, generator=g)
        elif key.endswith("bn.running_mean"):
            value = 0.05 * torch.randn(shape, generator=g)
        elif key.endswith("bn.running_var"):
            value = 0.8 + 0.45 * torch.rand(shape, generator=g)
        elif key == "fc.weight":
            value = torch.randn(shape, generator=g) / shape[1] ** 0.5
        elif key == "fc.bias":
            value = 0.1 * torch.randn(shape, generator=g)
        else:
            raise KeyError(f"unexpected Inception key {key!r}")
        state[key] = value
    return state


def write_random_inception_weights(path: str | Path, seed: int = 0, fmt: str = "pth") -> Path:
    """Writes a random FID Inception state dict as torch-fidelity's .pth (torch.save) or as safetensors."""
    path = Path(path)
    state = random_inception_state_dict(seed)
    if fmt == "pth":
        torch.save(state, path)
    elif fmt == "safetensors":
        safetensors.torch.save_file(state, str(path))
    else:
        raise ValueError(f"fmt must be 'pth' or 'safetensors', not {fmt!r}")
    return path
