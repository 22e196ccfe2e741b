"""What a registered model is, and generating from one: a generator snapshot (the sampling network's weights,
config and step), with the discriminator's weights in a blob of their own beside it so that fine-tunes can start
from both. Models registered before snapshots existed are full training checkpoints; they are read here too, and
generating from either never builds a trainer.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from models.architectures import GanTrainer, SamplingNetwork, get_architecture
from models.checkpoint import CHECKPOINT_FORMAT, CheckpointError, fitting, pack_state, read_envelope, unpack_state
from models.config import GanConfig
from models.data import to_uint8

SNAPSHOT_FORMAT = "defectgen-generator/1"
DISCRIMINATOR_FORMAT = "defectgen-discriminator/1"
MODEL_FORMATS = (SNAPSHOT_FORMAT, CHECKPOINT_FORMAT)
CHUNK = 64

Weights = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ModelWeights:
    format: str
    config: GanConfig
    step: int
    generator: Weights  # the sampling network's
    discriminator: Weights | None  # training checkpoints, or read_pretrained with a discriminator blob


def make_snapshot(config: GanConfig, step: int, trainer: GanTrainer) -> bytes:
    return pack_state({"format": SNAPSHOT_FORMAT, "config": config.to_dict(), "step": step,
                       "generator": trainer.sampling_network().state_dict()})


def discriminator_blob(trainer: GanTrainer) -> bytes:
    return pack_state({"format": DISCRIMINATOR_FORMAT, "discriminator": trainer.discriminator_state()})


def read_model(blob: bytes) -> ModelWeights:
    """A snapshot or a training checkpoint, envelope and weight types checked; the weights are not loaded."""
    tree = unpack_state(blob)
    blob_format = tree.get("format")
    if blob_format not in MODEL_FORMATS:
        raise CheckpointError(f"unknown model format {blob_format!r}; known: {list(MODEL_FORMATS)}")
    config, step = read_envelope(tree, blob_format)
    if blob_format == SNAPSHOT_FORMAT:
        return ModelWeights(SNAPSHOT_FORMAT, config, step, _weights(tree.get("generator"), "generator"), None)
    trainer = tree.get("trainer")
    if not isinstance(trainer, dict):
        raise CheckpointError("checkpoint lacks trainer state")
    key = get_architecture(config.architecture).sampler_state_key
    return ModelWeights(CHECKPOINT_FORMAT, config, step, _weights(trainer.get(key), f"trainer {key}"),
                        _weights(trainer.get("discriminator"), "trainer discriminator"))


def read_pretrained(model: bytes, discriminator: bytes | None = None) -> ModelWeights:
    """A base model for fine-tuning: its discriminator from `discriminator` where given, else from the model
    (training checkpoints have one; snapshots do not, and D then starts fresh)."""
    weights = read_model(model)
    if discriminator is None:
        return weights
    tree = unpack_state(discriminator)
    if tree.get("format") != DISCRIMINATOR_FORMAT:
        raise CheckpointError(f"unknown discriminator format {tree.get('format')!r}")
    return replace(weights, discriminator=_weights(tree.get("discriminator"), "discriminator"))


def _weights(value: object, what: str) -> Weights:
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()):
        raise CheckpointError(f"{what} weights missing or not a map of names to tensors")
    return value


class Sampler:
    def __init__(self, config: GanConfig, network: SamplingNetwork, device: torch.device) -> None:
        self.config = config
        self._network = network
        self._device = device

    def generate(self, labels: list[int], seeds: list[int], truncation_psi: float = 1.0,
                 **options: Any) -> torch.Tensor:
        """uint8 [n, C, R, R]; image i's noise is drawn from a CPU generator seeded with seeds[i] alone. `options`
        go to the network's sample(): an architecture's own generation options (SinGAN's start_scale, size)."""
        if len(labels) != len(seeds):
            raise ValueError("labels and seeds must have the same length")
        if any(not 0 <= label < self.config.num_classes for label in labels):
            raise ValueError(f"labels must be in [0, {self.config.num_classes})")
        chunks = []
        for start in range(0, len(seeds), CHUNK):
            z = self.noise(seeds[start:start + CHUNK]).to(self._device)
            y = torch.tensor(labels[start:start + CHUNK], dtype=torch.long, device=self._device)
            chunks.append(to_uint8(self._network.sample(z, y, truncation_psi, **options)).cpu())
        if not chunks:
            r = self.config.resolution
            return torch.empty((0, self.config.channels, r, r), dtype=torch.uint8)
        return torch.cat(chunks)

    def noise(self, seeds: list[int]) -> torch.Tensor:
        """The noise vectors [n, z_dim] that generate() gives the network for these seeds (on the CPU)."""
        z_dim = self.config.options.z_dim  # type: ignore[attr-defined]
        noise_rng = torch.Generator()
        return torch.stack([torch.randn(z_dim, generator=noise_rng.manual_seed(seed)) for seed in seeds])

    @property
    def network(self) -> SamplingNetwork:
        return self._network


def load_sampler(blob: bytes, device: str = "cpu") -> Sampler:
    """A registered model (snapshot or training checkpoint) ready to generate; no trainer is built."""
    return _sampler(read_model(blob), device)


def model_info(blob: bytes) -> dict[str, Any]:
    """{"format", "config" (dict), "step"}; CheckpointError unless the generator loads completely."""
    model = read_model(blob)
    _sampler(model, "cpu")
    return {"format": model.format, "config": model.config.to_dict(), "step": model.step}


def _sampler(model: ModelWeights, device: str) -> Sampler:
    network = get_architecture(model.config.architecture).make_sampler(model.config.replace(device=device))
    with fitting("the model's generator"):
        network.load_state_dict(model.generator)
    return Sampler(model.config, network, torch.device(device))
