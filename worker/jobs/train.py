"""The train job: dataset from storage -> models.training.train_gan -> a registered model."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import torch
from PIL import Image as PILImage
from sqlalchemy import select

from core.db import session_scope
from core.objects import checkpoint_key, model_key, sample_key
from core.storage import ObjectStore
from core.tables import Dataset, Image, Model
from models.checkpoint import CheckpointError
from models.config import GanConfig
from models.data import images_to_tensor
from models.training import TrainCallbacks, train_gan
from worker.jobs.common import load_row, torch_device
from worker.runner import JobContext, JobFailed, JobStopped, Outcome


def load_dataset(store: ObjectStore, dataset: Dataset, resolution: int,
                 channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode every image once into a uint8 tensor; training then never touches PIL."""
    with session_scope() as session:
        rows = session.execute(
            select(Image.class_name, Image.object_key).where(Image.dataset_id == dataset.id).order_by(Image.id)
        ).all()
    index = {c["name"]: i for i, c in enumerate(dataset.classes)}

    def decode(key: str) -> PILImage.Image:
        image = PILImage.open(io.BytesIO(store.get_bytes(key)))
        image.load()
        return image

    with ThreadPoolExecutor(max_workers=8) as pool:
        images = list(pool.map(decode, (key for _, key in rows)))
    labels = torch.tensor([index[name] for name, _ in rows], dtype=torch.long)
    return images_to_tensor(images, resolution, channels), labels


def run_train(ctx: JobContext) -> Outcome:
    p = ctx.params
    dataset = load_row(ctx, Dataset, p["dataset_id"], "dataset")
    base = load_row(ctx, Model, p["base_model_id"], "base_model") if p.get("base_model_id") else None
    classes = [c["name"] for c in dataset.classes]
    config = GanConfig(
        architecture=p["architecture"], resolution=p["resolution"], channels=p["channels"],
        num_classes=len(classes), class_names=classes, steps=p["steps"], batch_size=p["batch_size"],
        z_dim=p["z_dim"], width=p["width"], lr=p["lr"], beta1=p["beta1"], beta2=p["beta2"], seed=p["seed"],
        sample_every=p["sample_every"], checkpoint_every=p["checkpoint_every"], device=torch_device(ctx.settings),
    )
    ctx.report(0, config.steps, message="loading dataset")
    images, labels = load_dataset(ctx.store, dataset, config.resolution, config.channels)
    store = ctx.store
    ckpt_key = checkpoint_key(ctx.job_id)
    resume = store.get_bytes(ckpt_key) if store.exists(ckpt_key) else None
    init = store.get_bytes(base.object_key) if base is not None and resume is None else None
    if resume is not None:
        ctx.event("resumed", {"attempt": ctx.attempt})

    def save_checkpoint(step: int, blob: bytes) -> None:
        store.put_bytes(ckpt_key, blob)
        ctx.event("checkpoint", {"size_bytes": len(blob)}, step)

    def save_sample(step: int, png: bytes) -> None:
        store.put_bytes(sample_key(ctx.job_id, step), png)
        ctx.event("sample", {}, step)

    callbacks = TrainCallbacks(
        progress=lambda step, total, metrics: ctx.report(step, total, metrics, "training"),
        should_stop=ctx.should_stop,
        save_checkpoint=save_checkpoint,
        save_sample=save_sample,
    )
    try:
        result = train_gan(config, images, labels, callbacks, resume_from=resume, init_weights_from=init)
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", str(exc)) from None
    if result.stopped:
        if ctx.shutdown.is_set():
            save_checkpoint(result.step, result.checkpoint)  # the next worker resumes from here
        raise JobStopped()
    # The id derives from the job's, so a retry after a crash overwrites rather than orphans the object.
    model_id = "mdl_" + ctx.job_id.removeprefix("job_")
    store.put_bytes(model_key(model_id), result.checkpoint)
    model = Model(
        id=model_id, workspace_id=ctx.workspace_id, architecture=config.architecture, dataset_id=dataset.id,
        job_id=ctx.job_id, classes=classes, resolution=config.resolution, channels=config.channels,
        step=result.step, metrics=dict(ctx.metrics), object_key=model_key(model_id),
        size_bytes=len(result.checkpoint),
    )
    ctx.report(result.step, config.steps, message="done")
    return Outcome({"model_id": model_id}, [model])
