"""The generate job: a model -> N labelled images per class, stored as a batch."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

from core.batches import manifest_csv
from core.objects import batch_file_key, batch_manifest_key, batch_prefix
from core.tables import Batch, Model
from models.checkpoint import CheckpointError
from models.generation import Sampler, load_sampler
from worker.jobs.common import load_row, torch_device
from worker.runner import JobContext, JobFailed, JobStopped, Outcome

CHUNK = 64


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _write_images(ctx: JobContext, sampler: Sampler, classes: list[str], plan: list[tuple[str, int]],
                  batch_id: str) -> tuple[list[dict], int]:
    """Image k of the plan uses seed `seed + k`, so any image can be made again on its own."""
    rows: list[dict] = []
    size = 0
    for start in range(0, len(plan), CHUNK):
        if ctx.should_stop():
            raise JobStopped()
        chunk = plan[start:start + CHUNK]
        seeds = [ctx.params["seed"] + start + offset for offset in range(len(chunk))]
        labels = [classes.index(name) for name, _ in chunk]
        images = sampler.generate(labels, seeds, ctx.params["truncation_psi"]).permute(0, 2, 3, 1).numpy()
        for (name, i), seed, array in zip(chunk, seeds, images):
            file = f"{name}/{name}_{i:05d}.png"
            data = _png(array)
            ctx.store.put_bytes(batch_file_key(batch_id, file), data)
            rows.append({"file": file, "class": name, "seed": seed})
            size += len(data)
        ctx.report(start + len(chunk), len(plan), message="generating")
    return rows, size


def run_generate(ctx: JobContext) -> Outcome:
    p = ctx.params
    model = load_row(ctx, Model, p["model_id"], "model")
    try:
        sampler = load_sampler(ctx.store.get_bytes(model.object_key), torch_device(ctx.settings))
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"model {model.id} cannot be loaded: {exc}") from None
    counts = p["counts"] or {name: p["count_per_class"] for name in model.classes}
    plan = [(name, i) for name in model.classes for i in range(counts.get(name, 0))]
    batch_id = "bat_" + ctx.job_id.removeprefix("job_")  # a retry overwrites its own partial output
    try:
        rows, size = _write_images(ctx, sampler, model.classes, plan, batch_id)
        ctx.store.put_bytes(batch_manifest_key(batch_id), manifest_csv(rows))
    except BaseException:
        ctx.store.delete_prefix(batch_prefix(batch_id))
        raise
    batch = Batch(
        id=batch_id, workspace_id=ctx.workspace_id, model_id=model.id, job_id=ctx.job_id, count=len(rows),
        classes=[{"name": name, "count": counts[name]} for name in model.classes if counts.get(name)],
        size_bytes=size,
    )
    return Outcome({"batch_id": batch_id}, [batch])
