"""The translate job: each chosen image translated whole by a translator model, stored as a batch in the upload
layout with `masks/<class>/<file>.png` beside each output (white where the translation changed the image;
models/translation.py says how) and manifest.csv naming each output's source image, mask, changed share and flag.
"""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image as PILImage
from sqlalchemy import select

from core.batches import MASKS_FOLDER, manifest_csv
from core.db import session_scope
from core.kinds.translate import pairs
from core.storage_keys import batch_file_key, batch_manifest_key, batch_prefix
from core.tables import Batch, Dataset, Image, RegisteredModel
from models.checkpoint import CheckpointError
from models.monitor import Stopped
from models.translation import CHANGED_EVERYWHERE, UNCHANGED, change_flag, change_mask, load_translator, translate_whole
from worker.handlers.generate import BatchWriter
from worker.inputs import load_row, torch_device
from worker.runner import JobContext, JobFailed, Outcome

MANIFEST_EXTRA = ("source", "mask", "changed_fraction", "flag")


def _chosen(dataset_id: str, class_name: str | None, count: int | None, seed: int) -> list[tuple[str, str, str]]:
    """(class, filename, object key) of the images to translate, in id order: all, or `count` drawn by `seed`."""
    query = select(Image.class_name, Image.filename, Image.object_key).where(Image.dataset_id == dataset_id)
    if class_name is not None:
        query = query.where(Image.class_name == class_name)
    with session_scope() as session:
        rows = [tuple(row) for row in session.execute(query.order_by(Image.id)).all()]
    if count is None or count >= len(rows):
        return rows  # type: ignore[return-value]
    picked = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[:count]
    return [rows[i] for i in sorted(picked.tolist())]  # type: ignore[misc]


def _mask_png(mask: torch.Tensor) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(mask.numpy().astype(np.uint8) * 255, "L").save(out, format="PNG")
    return out.getvalue()


def handle(ctx: JobContext) -> Outcome:
    p, store = ctx.params, ctx.store
    model = load_row(ctx, RegisteredModel, p.model_id, "model")
    dataset = load_row(ctx, Dataset, p.dataset_id or p.source_dataset_id, "dataset")
    device = torch_device(ctx.settings)
    try:
        translator = load_translator(store.get_bytes(model.object_key), device)
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"model {model.id} cannot be loaded: {exc}") from None
    chosen = _chosen(dataset.id, p.class_name, p.count, p.seed)
    targets = pairs(p, translator.config.class_names)
    mode = "L" if translator.config.channels == 1 else "RGB"
    batch_id = "bat_" + ctx.job_id.removeprefix("job_")  # a retry overwrites its own partial output
    writer = BatchWriter(ctx, batch_id)
    flagged = {UNCHANGED: 0, CHANGED_EVERYWHERE: 0}
    masks_size = 0
    try:
        for i, (class_name, filename, key) in enumerate(chosen):
            if ctx.should_stop():
                raise Stopped()
            pixels = np.asarray(PILImage.open(io.BytesIO(store.get_bytes(key))).convert(mode))
            image = torch.from_numpy(pixels.reshape(*pixels.shape[:2], -1).copy()).permute(2, 0, 1).to(device)
            for k in targets:
                output = translate_whole(translator.network, image, k, p.direction)
                mask = change_mask(image, output, p.mask_threshold).cpu()
                fraction = float(mask.float().mean())
                flag = change_flag(fraction, p.min_changed, p.max_changed)
                if flag:
                    flagged[flag] += 1
                name = translator.targets[k] if p.direction == "forward" else translator.source
                writer.add(name, output[None].cpu(), [p.seed], [{"source": f"{class_name}/{filename}"}])
                row = writer.rows[-1]
                mask_file = f"{MASKS_FOLDER}/{row['file']}"
                data = _mask_png(mask)
                store.put_bytes(batch_file_key(batch_id, mask_file), data)
                masks_size += len(data)
                row.update(mask=mask_file, changed_fraction=round(fraction, 6), flag=flag)
            ctx.report(i + 1, len(chosen), message="translating")
        store.put_bytes(batch_manifest_key(batch_id), manifest_csv(writer.rows, MANIFEST_EXTRA))
    except BaseException:
        store.delete_prefix(batch_prefix(batch_id))
        raise
    made = writer.per_class
    batch = Batch(id=batch_id, workspace_id=ctx.workspace_id, model_id=model.id, job_id=ctx.job_id,
                  count=len(writer.rows), classes=[{"name": name, "count": n} for name, n in made.items()],
                  size_bytes=writer.size + masks_size)
    result = {"batch_id": batch_id, "count": len(writer.rows), "sources": len(chosen), "direction": p.direction,
              "flagged": flagged}
    if any(flagged.values()):
        result["warnings"] = [f"{n} translations flagged {flag}" for flag, n in flagged.items() if n]
    return Outcome(result, [batch])
