"""The augmentation_report job: classifiers trained on real images alone against real plus synthetic images,
with repeats, on this workspace's own data. Registers the real-only classifier for filtered generation.

Each finished (repeat, setting) is checkpointed (models.report_state), so a report whose worker is stopped or
dies resumes on its next attempt without training those again."""
from __future__ import annotations

import io

import torch
from PIL import Image as PILImage

from core.batches import manifest_rows
from core.splits import stratified_split
from core.storage import ObjectStore
from core.storage_keys import (
    batch_file_key,
    batch_manifest_key,
    checkpoint_key,
    classifier_key,
    report_gradcam_key,
    report_plot_key,
)
from core.tables import Batch, Dataset, RegisteredModel, Report
from models import augmentation_report
from models.checkpoint import CheckpointError
from models.classification import ClassifierConfig, load_classifier, resize_images
from models.data import images_to_tensor
from models.errors import DataError
from models.report_state import ReportState
from models.snapshot import Sampler, load_sampler
from worker.inputs import load_dataset, load_row, torch_device
from worker.runner import JobContext, JobFailed, Outcome


class BatchSource:
    """Synthetic images drawn from a stored batch, decoded when first drawn."""

    def __init__(self, store: ObjectStore, batch: Batch, classes: list[str], resolution: int, channels: int) -> None:
        self.store, self.batch_id = store, batch.id
        self.classes, self.resolution, self.channels = classes, resolution, channels
        self.files: dict[str, list[str]] = {name: [] for name in classes}
        for row in manifest_rows(store.get_bytes(batch_manifest_key(batch.id))):
            self.files[row["class"]].append(row["file"])
        self.decoded: dict[str, torch.Tensor] = {}

    def _image(self, file: str) -> torch.Tensor:
        if file not in self.decoded:
            image = PILImage.open(io.BytesIO(self.store.get_bytes(batch_file_key(self.batch_id, file))))
            self.decoded[file] = images_to_tensor([image], self.resolution, self.channels)[0]
        return self.decoded[file]

    def __call__(self, class_index: int, count: int, seed: int) -> torch.Tensor:
        files = self.files[self.classes[class_index]]
        if count > len(files):
            raise DataError(f"batch {self.batch_id} has {len(files)} images of {self.classes[class_index]}, "
                             f"{count} are needed")
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))[:count].tolist()
        if not order:
            return torch.empty((0, self.channels, self.resolution, self.resolution), dtype=torch.uint8)
        return torch.stack([self._image(files[i]) for i in order])


class ModelSource:
    """Synthetic images generated as needed; image i of a class and seed always has the same noise."""

    def __init__(self, sampler: Sampler, class_index: list[int], resolution: int, channels: int,
                 truncation_psi: float) -> None:
        self.sampler, self.class_index = sampler, class_index
        self.resolution, self.channels, self.psi = resolution, channels, truncation_psi

    def __call__(self, class_index: int, count: int, seed: int) -> torch.Tensor:
        label = self.class_index[class_index]
        seeds = [(seed << 32) + (class_index << 24) + i for i in range(count)]
        images = self.sampler.generate([label] * count, seeds, self.psi)
        return resize_images(images, self.resolution, self.channels)


def _test_set(ctx: JobContext, classes: list[str], images: torch.Tensor, labels: torch.Tensor,
              channels: int) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    p = ctx.params
    if not p.test_dataset_id:
        train_idx, test_idx = stratified_split(labels, p.test_fraction, p.seed)
        return (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])
    dataset = load_row(ctx, Dataset, p.test_dataset_id, "test_dataset")
    test_images, test_labels = load_dataset(ctx.store, dataset, p.resolution, channels)
    to_train_index = torch.tensor([classes.index(c["name"]) for c in dataset.classes])
    return (images, labels), (test_images, to_train_index[test_labels])


def _synthetic_source(ctx: JobContext, classes: list[str], channels: int, device: str) -> BatchSource | ModelSource:
    p = ctx.params
    if p.batch_id:
        batch = load_row(ctx, Batch, p.batch_id, "batch")
        return BatchSource(ctx.store, batch, classes, p.resolution, channels)
    model = load_row(ctx, RegisteredModel, p.model_id, "model")
    try:
        sampler = load_sampler(ctx.store.get_bytes(model.object_key), device)
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"model {model.id} cannot be loaded: {exc}") from None
    return ModelSource(sampler, [model.classes.index(name) for name in classes], p.resolution, channels,
                       p.truncation_psi)


def _initial_weights(ctx: JobContext) -> dict[str, torch.Tensor] | None:
    if not ctx.params.init_classifier_id:
        return None
    row = load_row(ctx, RegisteredModel, ctx.params.init_classifier_id, "init_classifier")
    try:
        return load_classifier(ctx.store.get_bytes(row.object_key))[1].state_dict()
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"classifier {row.id} cannot be loaded: {exc}") from None


def _resume_state(ctx: JobContext) -> ReportState | None:
    key = checkpoint_key(ctx.job_id)
    if not ctx.store.exists(key):
        return None
    try:
        state = ReportState.from_bytes(ctx.store.get_bytes(key))
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"cannot resume the report: {exc}") from None
    ctx.event("resumed", {"attempt": ctx.attempt, "finished": len(state.finished)})
    return state


def _save_state(ctx: JobContext, state: ReportState) -> None:
    """After each finished (repeat, setting); the runner deletes the checkpoint once the job has ended."""
    blob = state.to_bytes()
    ctx.store.put_bytes(checkpoint_key(ctx.job_id), blob)
    last = state.finished[-1]
    ctx.event("checkpoint", {"size_bytes": len(blob), "finished": len(state.finished), "repeat": last.repeat,
                             "setting": last.setting}, ctx.progress.get("step"))


def handle(ctx: JobContext) -> Outcome:
    p = ctx.params
    device = torch_device(ctx.settings)
    dataset = load_row(ctx, Dataset, p.train_dataset_id, "train_dataset")
    classes = [c["name"] for c in dataset.classes]
    channels = 1 if dataset.image_mode == "L" else 3
    ctx.report(0, 1, message="loading images")
    images, labels = load_dataset(ctx.store, dataset, p.resolution, channels)
    train, test = _test_set(ctx, classes, images, labels, channels)
    config = augmentation_report.ReportConfig(
        classifier=ClassifierConfig(
            architecture=p.classifier, class_names=classes, channels=channels, resolution=p.resolution,
            epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=p.seed, device=device),
        synthetic_per_class=p.synthetic_per_class, classical_augmentation=p.classical_augmentation,
        class_balance=p.class_balance, repeats=p.repeats, seed=p.seed, gradcam_samples=p.gradcam_samples,
    )
    source, init_weights = _synthetic_source(ctx, classes, channels, device), _initial_weights(ctx)
    resume = _resume_state(ctx)
    # Bad data (DataError) fails the job as bad_data in the runner, like every other kind's.
    try:
        result = augmentation_report.run_report(config, train, test, source, monitor=ctx.monitor(),
                                                init_weights=init_weights, resume=resume,
                                                on_finished=lambda state: _save_state(ctx, state))
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"cannot resume the report: {exc}") from None

    suffix = ctx.job_id.removeprefix("job_")  # ids derive from the job's: a retry overwrites, never orphans
    report_id, model_id = "rpt_" + suffix, "mdl_" + suffix
    for name, png in result.plots.items():
        ctx.store.put_bytes(report_plot_key(report_id, name), png)
    for setting, png in result.gradcam.items():
        ctx.store.put_bytes(report_gradcam_key(report_id, setting), png)
    ctx.store.put_bytes(classifier_key(model_id), result.baseline_classifier)
    baseline = next(s for s in result.summary["settings"] if s["key"] == result.summary["baseline"])
    classifier = RegisteredModel(
        id=model_id, workspace_id=ctx.workspace_id, kind="classifier", architecture=p.classifier,
        dataset_id=dataset.id, job_id=ctx.job_id, classes=classes, resolution=p.resolution, channels=channels,
        metrics={"accuracy": baseline["accuracy"]["runs"][0], "macro_f1": baseline["macro_f1"]["runs"][0]},
        config=config.classifier.to_dict(), object_key=classifier_key(model_id),
        size_bytes=len(result.baseline_classifier),
    )
    report = Report(
        id=report_id, workspace_id=ctx.workspace_id, job_id=ctx.job_id, train_dataset_id=dataset.id,
        test_dataset_id=p.test_dataset_id, classifier=p.classifier, classifier_model_id=model_id,
        synthetic_source={"batch_id": p.batch_id} if p.batch_id else {"model_id": p.model_id},
        summary=result.summary, plots=sorted(result.plots), gradcam=sorted(result.gradcam),
    )
    best = max(result.summary["settings"], key=lambda s: s["macro_f1"]["mean"])
    return Outcome({"report_id": report_id, "classifier_model_id": model_id, "best_setting": best["key"],
                    "uplift": best["uplift"]}, [classifier, report])
