from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torchvision.utils
from PIL import Image

from models.architectures import Architecture, GanTrainer, SamplingNetwork, get_architecture
from models.augment import resolve_augment
from models.checkpoint import CheckpointError, fitting, make_checkpoint, read_checkpoint
from models.config import GanConfig
from models.data import TrainingImages, to_training_range, to_uint8
from models.errors import DataError
from models.labels import label_rows
from models.monitor import Monitor, Stopped
from models.snapshot import ModelWeights, discriminator_blob, make_snapshot
from models.translation import TranslationGrid

SAMPLES_PER_ROW = 8
GRID_PADDING = 2
UNCONDITIONAL_ROWS = 8
# Config fields that may change between a checkpoint and the run that resumes it: they do not alter the
# training trajectory.
RESUMABLE_CHANGES = {"steps", "sample_every", "checkpoint_every", "device"}


@dataclass
class GanCallbacks:
    save_checkpoint: Callable[[int, bytes], None]  # every checkpoint_every steps and at the end
    save_sample: Callable[[int, bytes], None]  # PNG sample grid, every sample_every steps and at the end
    # With the snapshot of every eval_every-th step and of the last; None turns evaluation off.
    evaluate: Callable[[int, bytes], None] | None = None
    eval_every: int = 0
    # At every sample grid, with the network that drew it; its figures (e.g. diversity) join the reported
    # metrics from that step until the next sample grid.
    measure: Callable[[int, SamplingNetwork], Mapping[str, float]] | None = None


@dataclass(frozen=True)
class TrainResult:
    step: int
    checkpoint: bytes  # the last training checkpoint
    snapshot: bytes  # the generator snapshot of the last step: what a model registers
    discriminator: bytes  # D's weights at the last step, kept beside the model for fine-tunes
    config: GanConfig  # what was trained: the given config with augment "auto" decided for the data


def train_gan(config: GanConfig, images: torch.Tensor | TrainingImages, labels: torch.Tensor,
              callbacks: GanCallbacks, monitor: Monitor, resume_from: bytes | None = None,
              pretrained: ModelWeights | None = None) -> TrainResult:
    """Train on uint8 images [N, C, R, R] (or, with crop="random", images of at least RxR: a tensor of one size
    or TrainingImages) with long labels [N]; see GanCallbacks for when each is called.

    Reports every step to `monitor`, and checks it for a stop before every step: a stop raises
    Stopped(state=a training checkpoint of the step reached). Minibatches are drawn with replacement. Resuming
    on the same device type is bit-identical (on CPU). `pretrained` (models.snapshot.read_pretrained) starts
    a fine-tune from a registered model.

    Raises DataError for bad images or labels and CheckpointError for a checkpoint or base model that does not
    fit `config`.
    """
    if resume_from is not None and pretrained is not None:
        raise ValueError("resume_from and pretrained are mutually exclusive")
    architecture = get_architecture(config.architecture)
    images = _check_data(architecture, config, images, labels)
    config = _augment_for_data(config, len(labels))
    device = torch.device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
    config = config.replace(**architecture.loop_settings(config))
    trainer = architecture.make_trainer(config)
    if architecture.whole_images:
        trainer.use_images(images, labels)  # type: ignore[attr-defined]
    loop_rng = torch.Generator(device=device).manual_seed(config.seed)
    step = 0
    if resume_from is not None:
        step = _resume(config, trainer, loop_rng, resume_from)
    elif pretrained is not None:
        _check_fine_tune(pretrained.config, config)
        with fitting("the base model"):
            trainer.load_pretrained(pretrained.generator, pretrained.discriminator,
                                    keep_classes=pretrained.config.class_names == config.class_names)

    images = images.to(device)
    labels = labels.to(device)
    sample_grid = (TranslationGrid(config, trainer.sampling_network(), images, labels)  # type: ignore[arg-type]
                   if architecture.translator else _SampleGrid(config, trainer, device))
    last_sample: int | None = None
    saved: tuple[int, bytes] | None = None
    metrics: dict[str, float] = {}
    measured: Mapping[str, float] = {}
    while step < config.steps:
        if monitor.stop_requested():
            raise Stopped(make_checkpoint(config, step, trainer, loop_rng))
        if architecture.whole_images:
            metrics = trainer.train_own_step(loop_rng)  # type: ignore[attr-defined]
        else:
            idx = _draw_batch(architecture, config, labels, step, loop_rng)
            metrics = trainer.train_step(to_training_range(images.batch(idx, loop_rng)), labels[idx], loop_rng)
        step += 1
        monitor.report(step, config.steps, "training", {**metrics, **measured})
        if step % config.sample_every == 0:
            measured = _sample(callbacks, step, sample_grid, monitor, config.steps, metrics)
            last_sample = step
        if step % config.checkpoint_every == 0:
            saved = (step, make_checkpoint(config, step, trainer, loop_rng))
            callbacks.save_checkpoint(*saved)
        if callbacks.evaluate and callbacks.eval_every and step % callbacks.eval_every == 0 and step < config.steps:
            callbacks.evaluate(step, make_snapshot(config, step, trainer))
    if last_sample != step:
        _sample(callbacks, step, sample_grid, monitor, config.steps, metrics)
    if saved is None or saved[0] != step:
        saved = (step, make_checkpoint(config, step, trainer, loop_rng))
        callbacks.save_checkpoint(*saved)
    snapshot = make_snapshot(config, step, trainer)
    if callbacks.evaluate and callbacks.eval_every:
        callbacks.evaluate(step, snapshot)
    return TrainResult(step, saved[1], snapshot, discriminator_blob(trainer), config)


def _sample(callbacks: GanCallbacks, step: int, grid: _SampleGrid | TranslationGrid, monitor: Monitor, total: int,
            metrics: Mapping[str, float]) -> Mapping[str, float]:
    """Writes the sample grid, then measures its network when asked and reports the figures at once."""
    callbacks.save_sample(step, grid.png())
    if callbacks.measure is None:
        return {}
    measured = dict(callbacks.measure(step, grid.network))
    monitor.report(step, total, "training", {**metrics, **measured})
    return measured


def _augment_for_data(config: GanConfig, num_images: int) -> GanConfig:
    """The config with augment="auto" decided for a training set of `num_images` (models.augment)."""
    augment = getattr(config.options, "augment", None)
    if augment != "auto":
        return config
    options = config.options.model_copy(update={"augment": resolve_augment(augment, num_images)})
    return config.replace(options=options)


def _resume(config: GanConfig, trainer: GanTrainer, loop_rng: torch.Generator, blob: bytes) -> int:
    """Loads a training checkpoint into the trainer and the RNGs; returns its step."""
    ckpt = read_checkpoint(blob)
    changed = _changed_fields(ckpt.config, config)
    if changed:
        raise CheckpointError(f"cannot resume: config differs from the checkpoint's in {changed}")
    if ckpt.step > config.steps:
        raise CheckpointError(f"checkpoint is at step {ckpt.step}, beyond steps={config.steps}")
    with fitting("the checkpoint"):
        trainer.load_state_dict(ckpt.trainer)
    try:
        if torch.device(ckpt.config.device).type == loop_rng.device.type:
            loop_rng.set_state(ckpt.rng["loop"])
        else:
            # Generator states are device-specific (and so are the numerics): continue with a stream derived
            # from the step instead.
            loop_rng.manual_seed(config.seed + ckpt.step)
        torch.set_rng_state(ckpt.rng["torch"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"invalid rng state in checkpoint: {exc}") from exc
    return ckpt.step


def _changed_fields(old: GanConfig, new: GanConfig) -> list[str]:
    """Fields that alter the training trajectory and differ; options as "options.<name>"."""
    a, b = old.to_dict(), new.to_dict()
    a_options, b_options = a.pop("options"), b.pop("options")
    changed = [k for k in a.keys() | b.keys() if k not in RESUMABLE_CHANGES and a.get(k) != b.get(k)]
    changed += [f"options.{k}" for k in a_options.keys() | b_options.keys() if a_options.get(k) != b_options.get(k)]
    return sorted(changed)


def fine_tune_differences(base: GanConfig, config: GanConfig) -> list[tuple[str, Any, Any]]:
    """(what, the base model's, this run's) for each thing a fine-tune must share with its base model: the
    architecture, the channels and every shape option; "conditioning" where a one-class model (unconditional)
    would become a conditional one or the reverse. The classes themselves may differ (their parameters start
    afresh)."""
    if base.architecture != config.architecture:
        return [("architecture", base.architecture, config.architecture)]
    architecture = get_architecture(config.architecture)
    differences = [("channels", base.channels, config.channels)] + [
        (name, getattr(base.options, name), getattr(config.options, name)) for name in architecture.shape_options]
    if architecture.one_class_is_unconditional:
        differences.append(("conditioning", *("unconditional" if c.num_classes == 1 else "conditional"
                                              for c in (base, config))))
    return [(name, old, new) for name, old, new in differences if old != new]


def _check_fine_tune(base: GanConfig, config: GanConfig) -> None:
    differences = fine_tune_differences(base, config)
    mismatched = [f"{name} (base model {old!r}, here {new!r})" for name, old, new in differences]
    if mismatched:
        raise CheckpointError(f"cannot fine-tune from the base model: it differs in {', '.join(mismatched)}")


def _check_data(architecture: Architecture, config: GanConfig, images: torch.Tensor | TrainingImages,
                labels: torch.Tensor) -> TrainingImages:
    """The images as TrainingImages: RxR for crop="resize", at least RxR for crop="random"."""
    c, r = config.channels, config.resolution
    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != c or len(images) == 0:
            raise DataError(f"images must be a non-empty uint8 tensor [N, {c}, H, W], "
                            f"got {images.dtype} {tuple(images.shape)}")
        images = TrainingImages.from_tensor(images, r)
    if images.channels != c or images.resolution != r or len(images) == 0:
        raise DataError(f"images must be non-empty {c}-channel TrainingImages for {r}x{r}")
    if bool((images.sizes < r).any()) or (config.crop == "resize" and not images.whole):
        bound = "exactly" if config.crop == "resize" else "at least"
        low, high = images.sizes.min(0).values.tolist(), images.sizes.max(0).values.tolist()
        raise DataError(f"crop={config.crop!r} trains on images of {bound} {r}x{r}, got (H, W) from {low} to {high}")
    if labels.dtype != torch.long or tuple(labels.shape) != (len(images),):
        raise DataError(f"labels must be a long tensor [{len(images)}], got {labels.dtype} {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= config.num_classes:
        raise DataError(f"labels must be in [0, {config.num_classes})")
    if (architecture.per_class or architecture.translator) and len(labels.unique()) < config.num_classes:
        kind = "a translator" if architecture.translator else "one generator per class"
        raise DataError(f"{kind} needs images of every class")
    return images


def _draw_batch(architecture: Architecture, config: GanConfig, labels: torch.Tensor, step: int,
                rng: torch.Generator) -> torch.Tensor:
    """A minibatch's indices, drawn with replacement: from all images, or, with one generator per class, from
    class `step % num_classes` alone, or, for a translator, batch_size from class 0 (the source) followed by
    batch_size from target `1 + step % (num_classes - 1)`. Classes take turns so that every class's networks get
    the same number of steps, however few images the class has."""
    if architecture.translator:
        target = 1 + step % (config.num_classes - 1)
        return torch.cat([_from_class(labels, 0, config.batch_size, rng),
                          _from_class(labels, target, config.batch_size, rng)])
    if not architecture.per_class:
        return torch.randint(len(labels), (config.batch_size,), device=labels.device, generator=rng)
    return _from_class(labels, step % config.num_classes, config.batch_size, rng)


def _from_class(labels: torch.Tensor, k: int, count: int, rng: torch.Generator) -> torch.Tensor:
    members = (labels == k).nonzero()[:, 0]
    return members[torch.randint(len(members), (count,), device=labels.device, generator=rng)]


class _SampleGrid:
    """PNG grid from a fixed noise set, distinct per column: one row per class (conditional) or
    UNCONDITIONAL_ROWS rows."""

    def __init__(self, config: GanConfig, trainer: GanTrainer, device: torch.device) -> None:
        rows = config.num_classes if get_architecture(config.architecture).class_conditional else UNCONDITIONAL_ROWS
        n = rows * SAMPLES_PER_ROW
        noise_rng = torch.Generator().manual_seed(config.seed)
        self.z = torch.randn(n, config.options.z_dim, generator=noise_rng).to(device)  # type: ignore[attr-defined]
        self.labels = torch.arange(rows, device=device).repeat_interleave(SAMPLES_PER_ROW) % config.num_classes
        self.network = trainer.sampling_network()
        self.gray = config.channels == 1
        conditional = get_architecture(config.architecture).class_conditional
        self.row_names = list(config.class_names) if conditional else None

    def png(self) -> bytes:
        samples = to_uint8(self.network.sample(self.z, self.labels)).cpu()
        grid = torchvision.utils.make_grid(samples, nrow=SAMPLES_PER_ROW, padding=GRID_PADDING)
        image = Image.fromarray(grid[0].numpy() if self.gray else grid.permute(1, 2, 0).numpy())
        if self.row_names:
            image = label_rows(image, self.row_names, samples.shape[-2] + GRID_PADDING, top=GRID_PADDING)
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
