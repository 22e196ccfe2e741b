from __future__ import annotations

import dataclasses
from typing import Any

import torch

from models.checkpoint import load_into, read_checkpoint
from models.config import GanConfig
from models.data import to_uint8
from models.registry import GanTrainer, get_architecture

CHUNK = 64


class Sampler:
    def __init__(self, config: GanConfig, trainer: GanTrainer, device: torch.device) -> None:
        self.config = config
        self._trainer = trainer
        self._device = device

    def generate(self, labels: list[int], seeds: list[int], truncation_psi: float = 1.0) -> torch.Tensor:
        """uint8 [n, C, R, R]; image i's noise is drawn from a CPU generator seeded with seeds[i] alone."""
        if len(labels) != len(seeds):
            raise ValueError("labels and seeds must have the same length")
        if any(not 0 <= label < self.config.num_classes for label in labels):
            raise ValueError(f"labels must be in [0, {self.config.num_classes})")
        noise_rng = torch.Generator()
        chunks = []
        for start in range(0, len(seeds), CHUNK):
            z = torch.stack([torch.randn(self.config.z_dim, generator=noise_rng.manual_seed(seed))
                             for seed in seeds[start:start + CHUNK]]).to(self._device)
            y = torch.tensor(labels[start:start + CHUNK], dtype=torch.long, device=self._device)
            chunks.append(to_uint8(self._trainer.sample(z, y, truncation_psi)).cpu())
        if not chunks:
            r = self.config.resolution
            return torch.empty((0, self.config.channels, r, r), dtype=torch.uint8)
        return torch.cat(chunks)


def load_sampler(blob: bytes, device: str = "cpu") -> Sampler:
    ckpt = read_checkpoint(blob)
    trainer = _build(ckpt.config, device)
    load_into(trainer, ckpt.trainer, weights_only=True)
    return Sampler(ckpt.config, trainer, torch.device(device))


def checkpoint_info(blob: bytes) -> dict[str, Any]:
    """{"config": config dict, "step": int}; raises CheckpointError unless the blob loads completely."""
    ckpt = read_checkpoint(blob)
    load_into(_build(ckpt.config, "cpu"), ckpt.trainer)
    return {"config": ckpt.config.to_dict(), "step": ckpt.step}


def _build(config: GanConfig, device: str) -> GanTrainer:
    return get_architecture(config.architecture).make_trainer(dataclasses.replace(config, device=device))
