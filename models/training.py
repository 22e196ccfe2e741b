from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
import torchvision.utils
from PIL import Image

from models.checkpoint import CheckpointError, load_into, make_checkpoint, read_checkpoint
from models.config import GanConfig
from models.data import to_training_range, to_uint8
from models.registry import GanTrainer, get_architecture

SAMPLES_PER_ROW = 8
UNCONDITIONAL_ROWS = 8
# Config fields that may change between a checkpoint and the run that resumes it: they do not alter the
# training trajectory.
RESUMABLE_CHANGES = {"steps", "sample_every", "checkpoint_every", "device"}
# Config fields a fine-tune must share with its base model (with the architecture's shape_options).
FINE_TUNE_FIXED = ("architecture", "resolution", "channels", "z_dim", "width")


@dataclass
class TrainCallbacks:
    progress: Callable[[int, int, dict[str, float]], None]  # (step, total_steps, metrics) after every step
    should_stop: Callable[[], bool]  # checked before every step
    save_checkpoint: Callable[[int, bytes], None]  # every checkpoint_every steps and at the end
    save_sample: Callable[[int, bytes], None]  # PNG sample grid, every sample_every steps and at the end
    # With the checkpoint of every eval_every-th step and of the last; None turns evaluation off.
    evaluate: Callable[[int, bytes], None] | None = None
    eval_every: int = 0


@dataclass
class TrainResult:
    step: int
    stopped: bool
    checkpoint: bytes


def train_gan(config: GanConfig, images: torch.Tensor, labels: torch.Tensor, callbacks: TrainCallbacks,
              resume_from: bytes | None = None, init_weights_from: bytes | None = None) -> TrainResult:
    """Train on uint8 images [N, C, R, R] with long labels [N]; see TrainCallbacks for when each is called.

    Minibatches are drawn with replacement. Resuming on the same device type is bit-identical (on CPU).

    Raises ValueError for bad inputs and CheckpointError for a checkpoint that does not fit `config`.
    """
    if resume_from is not None and init_weights_from is not None:
        raise ValueError("resume_from and init_weights_from are mutually exclusive")
    _check_data(config, images, labels)
    device = torch.device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
    trainer = get_architecture(config.architecture).make_trainer(config)
    loop_rng = torch.Generator(device=device).manual_seed(config.seed)
    step = 0
    if resume_from is not None:
        ckpt = read_checkpoint(resume_from)
        changed = [f.name for f in fields(GanConfig) if f.name not in RESUMABLE_CHANGES
                   and getattr(ckpt.config, f.name) != getattr(config, f.name)]
        if changed:
            raise CheckpointError(f"cannot resume: config differs from the checkpoint's in {changed}")
        if ckpt.step > config.steps:
            raise CheckpointError(f"checkpoint is at step {ckpt.step}, beyond steps={config.steps}")
        load_into(trainer, ckpt.trainer)
        step = ckpt.step
        try:
            if torch.device(ckpt.config.device).type == device.type:
                loop_rng.set_state(ckpt.rng["loop"])
            else:
                # Generator states are device-specific (and so are the numerics): continue with a stream
                # derived from the step instead.
                loop_rng.manual_seed(config.seed + step)
            torch.set_rng_state(ckpt.rng["torch"])
        except (KeyError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"invalid rng state in checkpoint: {exc}") from exc
    elif init_weights_from is not None:
        base = read_checkpoint(init_weights_from)
        _check_fine_tune(base.config, config)
        load_into(trainer, base.trainer, weights_only=True, keep_classes=base.config.class_names == config.class_names)

    images = images.to(device)
    labels = labels.to(device)
    sample_grid = _SampleGrid(config, trainer, device)
    last_sample: int | None = None
    saved: tuple[int, bytes] | None = None
    while step < config.steps:
        if callbacks.should_stop():
            return TrainResult(step, True, make_checkpoint(config, step, trainer, loop_rng))
        idx = torch.randint(len(images), (config.batch_size,), device=device, generator=loop_rng)
        metrics = trainer.train_step(to_training_range(images[idx]), labels[idx], loop_rng)
        step += 1
        callbacks.progress(step, config.steps, metrics)
        if step % config.sample_every == 0:
            callbacks.save_sample(step, sample_grid.png())
            last_sample = step
        if step % config.checkpoint_every == 0:
            saved = (step, make_checkpoint(config, step, trainer, loop_rng))
            callbacks.save_checkpoint(*saved)
        if callbacks.evaluate and callbacks.eval_every and step % callbacks.eval_every == 0 and step < config.steps:
            callbacks.evaluate(step, saved[1] if saved and saved[0] == step
                               else make_checkpoint(config, step, trainer, loop_rng))
    if last_sample != step:
        callbacks.save_sample(step, sample_grid.png())
    if saved is None or saved[0] != step:
        saved = (step, make_checkpoint(config, step, trainer, loop_rng))
        callbacks.save_checkpoint(*saved)
    if callbacks.evaluate and callbacks.eval_every:
        callbacks.evaluate(step, saved[1])
    return TrainResult(step, False, saved[1])


def _check_fine_tune(base: GanConfig, config: GanConfig) -> None:
    """The networks must have the same shapes; the classes may differ (their parameters start afresh)."""
    differences = [(name, getattr(base, name), getattr(config, name)) for name in FINE_TUNE_FIXED]
    if base.architecture == config.architecture:
        architecture = get_architecture(config.architecture)
        base_options, options = architecture.check_options(base.options), architecture.check_options(config.options)
        differences += [(name, base_options[name], options[name]) for name in architecture.shape_options]
    mismatched = [f"{name} (base model {old!r}, here {new!r})" for name, old, new in differences if old != new]
    if mismatched:
        raise CheckpointError(f"cannot fine-tune from the base model: it differs in {', '.join(mismatched)}")


def _check_data(config: GanConfig, images: torch.Tensor, labels: torch.Tensor) -> None:
    shape = (config.channels, config.resolution, config.resolution)
    if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != shape or len(images) == 0:
        raise ValueError(f"images must be a non-empty uint8 tensor [N, {shape[0]}, {shape[1]}, {shape[2]}], "
                         f"got {images.dtype} {tuple(images.shape)}")
    if labels.dtype != torch.long or tuple(labels.shape) != (len(images),):
        raise ValueError(f"labels must be a long tensor [{len(images)}], got {labels.dtype} {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= config.num_classes:
        raise ValueError(f"labels must be in [0, {config.num_classes})")


class _SampleGrid:
    """PNG grid from a fixed noise set: one row per class (conditional) or UNCONDITIONAL_ROWS rows."""

    def __init__(self, config: GanConfig, trainer: GanTrainer, device: torch.device) -> None:
        rows = config.num_classes if get_architecture(config.architecture).conditional else UNCONDITIONAL_ROWS
        n = rows * SAMPLES_PER_ROW
        noise_rng = torch.Generator().manual_seed(config.seed)
        self.z = torch.randn(n, config.z_dim, generator=noise_rng).to(device)
        self.labels = torch.arange(rows, device=device).repeat_interleave(SAMPLES_PER_ROW) % config.num_classes
        self.trainer = trainer
        self.gray = config.channels == 1

    def png(self) -> bytes:
        samples = to_uint8(self.trainer.sample(self.z, self.labels)).cpu()
        grid = torchvision.utils.make_grid(samples, nrow=SAMPLES_PER_ROW, padding=2)
        pixels = grid[0].numpy() if self.gray else grid.permute(1, 2, 0).numpy()
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="PNG")
        return out.getvalue()
