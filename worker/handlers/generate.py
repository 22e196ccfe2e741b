"""The generate job: a model -> labelled images per class, stored as a batch.

Counts may be targets for real plus generated images (top-up), and a filter may keep only the images a
classifier finds confident or informative, or that are no near-copies of the training images: then images are
over-generated, class by class, until the counts are met or the candidate cap is reached.

With size "native", images are written at the training images' scale: a crop="random" model's patches (and a
fully convolutional G's samples) already are, a crop="resize" model's are resampled to its dataset's most common
size. The result's "scale" and "resampled" say which; filters judge the images as generated.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from core.batches import manifest_csv
from core.kinds.generate import SAMPLING_OPTIONS
from core.storage_keys import batch_file_key, batch_manifest_key, batch_prefix
from core.tables import Batch, Dataset, RegisteredModel
from models.architectures import get_architecture
from models.checkpoint import CheckpointError
from models.classification import load_classifier, resize_images
from models.data import resample
from models.errors import DataError
from models.filtering import NearCopyDetector, keep_mask, score_images
from models.monitor import Stopped
from models.snapshot import Sampler, load_sampler
from worker.collapse import model_warnings
from worker.inputs import load_dataset, load_row, native_size, torch_device
from worker.runner import JobContext, JobFailed, Outcome

CHUNK = 64


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(out, format="PNG", compress_level=1)
    return out.getvalue()


class BatchWriter:
    """Stores images under the batch's prefix, resampled to (width, height) `resample_to` if given, and collects
    the manifest rows."""

    def __init__(self, ctx: JobContext, batch_id: str, resample_to: tuple[int, int] | None = None) -> None:
        self.ctx, self.batch_id, self.resample_to = ctx, batch_id, resample_to
        self.rows: list[dict] = []
        self.per_class: dict[str, int] = {}
        self.size = 0

    def add(self, name: str, images: torch.Tensor, seeds: list[int], scores: list[dict] | None = None) -> None:
        resampled = {}
        if self.resample_to is not None:
            resampled = {"resampled_from": f"{images.shape[-1]}x{images.shape[-2]}"}
            images = resample(images, self.resample_to)
        arrays = images.permute(0, 2, 3, 1).numpy()
        for k, (seed, array) in enumerate(zip(seeds, arrays)):
            index = self.per_class[name] = self.per_class.get(name, 0) + 1
            file = f"{name}/{name}_{index - 1:05d}.png"
            data = _png(array)
            self.ctx.store.put_bytes(batch_file_key(self.batch_id, file), data)
            self.rows.append({"file": file, "class": name, "seed": seed, **resampled, **(scores[k] if scores else {})})
            self.size += len(data)


def _output_scale(ctx: JobContext, model: RegisteredModel, sampler: Sampler) -> tuple[str, tuple[int, int] | None]:
    """(the result's "scale", the (width, height) to resample to or None); see GenerateParams.size."""
    config = sampler.config
    if ctx.params.size == "model":
        return "model", None
    if get_architecture(config.architecture).fully_convolutional:
        return "native", None
    if config.crop == "random":
        return "native crop", None  # patches at the training images' own pixel scale: resampling would distort it
    size = native_size(model.dataset_id) if model.dataset_id else None
    if size is None:  # the training images are gone, and their size with them
        return "model", None
    return "native", None if size == (config.resolution, config.resolution) else size


def _targets(ctx: JobContext, model: RegisteredModel) -> dict[str, int]:
    """Images to generate per class."""
    p = ctx.params
    if p.counts is not None:
        wanted = p.counts
    elif p.count_per_class is not None:
        wanted = dict.fromkeys(model.classes, p.count_per_class)
    else:
        wanted = {}
    if not p.top_up_dataset_id:
        return wanted
    dataset = load_row(ctx, Dataset, p.top_up_dataset_id, "top_up_dataset")
    real = {c["name"]: c["count"] for c in dataset.classes}
    if not wanted:
        wanted = dict.fromkeys(model.classes, max(real.get(name, 0) for name in model.classes))
    return {name: max(0, target - real.get(name, 0)) for name, target in wanted.items()}


def _sampling_options(ctx: JobContext) -> dict[str, Any]:
    """The architecture's own generation options, where the job gives them (the API checked the model takes them)."""
    given = {option: getattr(ctx.params, name) for name, option in SAMPLING_OPTIONS.items()}
    return {option: value for option, value in given.items() if value is not None}


def _write_unfiltered(ctx: JobContext, sampler: Sampler, classes: list[str], counts: dict[str, int],
                      writer: BatchWriter) -> None:
    """Image k of the plan uses seed `seed + k`, so any image can be made again on its own."""
    plan = [name for name in classes for _ in range(counts.get(name, 0))]
    for start in range(0, len(plan), CHUNK):
        if ctx.should_stop():
            raise Stopped()
        chunk = plan[start:start + CHUNK]
        seeds = [ctx.params.seed + start + offset for offset in range(len(chunk))]
        images = sampler.generate([classes.index(name) for name in chunk], seeds, ctx.params.truncation_psi,
                                  **_sampling_options(ctx))
        for name in dict.fromkeys(chunk):
            picked = [i for i, n in enumerate(chunk) if n == name]
            writer.add(name, images[picked], [seeds[i] for i in picked])
        ctx.report(start + len(chunk), len(plan), message="generating")


@dataclass
class Judge:
    """Scores candidates with a classifier trained on real images; keeps what the filter asks for."""

    classifier: torch.nn.Module
    class_index: dict[str, int]
    resolution: int
    channels: int
    mode: str | None
    threshold: float
    near_copies: NearCopyDetector | None
    device: str

    def __call__(self, name: str, images: torch.Tensor) -> tuple[torch.Tensor, list[dict]]:
        x = resize_images(images, self.resolution, self.channels)
        labels = torch.full((len(x),), self.class_index[name], dtype=torch.long)
        label_prob, predicted = score_images(self.classifier, x, labels, self.device)
        keep = torch.ones(len(x), dtype=torch.bool)
        if self.mode is not None:
            keep &= keep_mask(self.mode, self.threshold, label_prob, predicted, labels)
        scores = [{"score": round(float(p), 6)} for p in label_prob]
        if self.near_copies is not None:
            near, ratios = self.near_copies(x)
            keep &= ~near
            for row, ratio in zip(scores, ratios):
                row["near_copy_ratio"] = round(float(ratio), 6)
        return keep, scores


def _judge(ctx: JobContext, generator: RegisteredModel, device: str) -> Judge:
    f = ctx.params.filter
    row = load_row(ctx, RegisteredModel, f.classifier_model_id, "classifier_model")
    try:
        config, classifier = load_classifier(ctx.store.get_bytes(row.object_key), device)
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"classifier {row.id} cannot be loaded: {exc}") from None
    near_copies = None
    if f.dedupe_against_train:
        dataset = load_row(ctx, Dataset, generator.dataset_id, "training_dataset")
        train, _ = load_dataset(ctx.store, dataset, config.resolution, config.channels)
        try:
            near_copies = NearCopyDetector(config.architecture, classifier, train, f.dedupe_threshold, device)
        except DataError as exc:
            raise JobFailed("bad_data", f"cannot measure near-copies of dataset {dataset.id}: {exc}") from None
    return Judge(classifier, {name: i for i, name in enumerate(config.class_names)}, config.resolution,
                 config.channels, f.mode, f.threshold, near_copies, device)


def _write_filtered(ctx: JobContext, sampler: Sampler, classes: list[str], counts: dict[str, int],
                    writer: BatchWriter, judge: Judge) -> dict[str, dict[str, int]]:
    """Candidate j of a class uses seed `seed + offset + j`, the offset being the caps of the classes before."""
    p = ctx.params
    factor = p.filter.max_candidates_factor
    total = sum(counts.values())
    report: dict[str, dict[str, int]] = {}
    offset = done = 0
    for name in classes:
        wanted = counts.get(name, 0)
        cap = wanted * factor
        kept = tried = 0
        while kept < wanted and tried < cap:
            if ctx.should_stop():
                raise Stopped()
            n = min(CHUNK, cap - tried)
            seeds = [p.seed + offset + tried + k for k in range(n)]
            images = sampler.generate([classes.index(name)] * n, seeds, p.truncation_psi, **_sampling_options(ctx))
            keep, scores = judge(name, images)
            picked = torch.nonzero(keep).flatten()[:wanted - kept].tolist()
            writer.add(name, images[picked], [seeds[i] for i in picked], [scores[i] for i in picked])
            kept += len(picked)
            tried += n
            ctx.report(done + kept, total, message=f"generating and filtering {name}")
        report[name] = {"requested": wanted, "kept": kept, "candidates": tried}
        offset += cap
        done += wanted
    return report


def handle(ctx: JobContext) -> Outcome:
    p = ctx.params
    model = load_row(ctx, RegisteredModel, p.model_id, "model")
    device = torch_device(ctx.settings)
    try:
        sampler = load_sampler(ctx.store.get_bytes(model.object_key), device)
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"model {model.id} cannot be loaded: {exc}") from None
    counts = _targets(ctx, model)
    batch_id = "bat_" + ctx.job_id.removeprefix("job_")  # a retry overwrites its own partial output
    scale, resample_to = _output_scale(ctx, model, sampler)
    writer = BatchWriter(ctx, batch_id, resample_to)
    r = sampler.config.resolution
    result: dict = {"batch_id": batch_id, "scale": scale, "resampled": None if resample_to is None else {
        "from": [r, r], "to": list(resample_to), "method": "bicubic"}}
    try:
        if p.filter:
            result["filter"] = _write_filtered(ctx, sampler, model.classes, counts, writer, _judge(ctx, model, device))
            extra: tuple[str, ...] = ("score",) + (("near_copy_ratio",) if p.filter.dedupe_against_train else ())
        else:
            _write_unfiltered(ctx, sampler, model.classes, counts, writer)
            extra = ()
        if resample_to is not None:  # the manifest says which images were resampled, and from what size
            extra = ("resampled_from", *extra)
        ctx.store.put_bytes(batch_manifest_key(batch_id), manifest_csv(writer.rows, extra))
    except BaseException:
        ctx.store.delete_prefix(batch_prefix(batch_id))
        raise
    ctx.report(len(writer.rows), len(writer.rows), message="done")
    made = {name: writer.per_class.get(name, 0) for name in model.classes}
    batch = Batch(
        id=batch_id, workspace_id=ctx.workspace_id, model_id=model.id, job_id=ctx.job_id, count=len(writer.rows),
        classes=[{"name": name, "count": made[name]} for name in model.classes if made[name]], size_bytes=writer.size,
    )
    if warnings := model_warnings(model):  # e.g. a collapsed generator: its images are near-identical
        result["warnings"] = warnings
    return Outcome(result, [batch])
