"""Persisting an ingested dataset: objects first, then one transaction of rows, or nothing at all."""
from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor

from PIL import Image as PILImage
from sqlalchemy.orm import Session

from core.ids import new_id
from core.ingest import IngestResult
from core.storage import ObjectStore
from core.storage_keys import dataset_image_key, dataset_prefix, preview_key
from core.tables import Dataset, Image
from models.labels import label_rows

log = logging.getLogger(__name__)
PREVIEW_PER_CLASS = 8
PREVIEW_TILE = 64
PREVIEW_LABEL_CHARS = 32  # longer class names are cut: the grid stays about as wide as its tiles


def render_preview(result: IngestResult) -> bytes:
    """Up to PREVIEW_PER_CLASS tiles of each class, a row per class, the class's name on the left."""
    by_class: dict[str, list] = {name: [] for name in result.classes}
    for image in result.images:
        if len(by_class[image.class_name]) < PREVIEW_PER_CLASS:
            by_class[image.class_name].append(image.path)
    mode = result.image_mode
    grid = PILImage.new(mode, (PREVIEW_TILE * PREVIEW_PER_CLASS, PREVIEW_TILE * len(by_class)))
    for row, paths in enumerate(by_class.values()):
        for col, path in enumerate(paths):
            with PILImage.open(path) as tile:
                tile = tile.convert(mode)
                tile.thumbnail((PREVIEW_TILE, PREVIEW_TILE))
                grid.paste(tile, (col * PREVIEW_TILE, row * PREVIEW_TILE))
    out = io.BytesIO()
    label_rows(grid, list(by_class), PREVIEW_TILE, max_chars=PREVIEW_LABEL_CHARS).save(out, format="PNG")
    return out.getvalue()


def result_bytes(result: IngestResult) -> int:
    """What the dataset's images take in the store."""
    return sum(image.path.stat().st_size for image in result.images)


def save_dataset(session: Session, store: ObjectStore, workspace_id: str, name: str, result: IngestResult) -> Dataset:
    """Write the images to the store, then commit the rows; on any error remove what was written."""
    dataset_id = new_id("ds")
    prefix = dataset_prefix(dataset_id)
    rows = [
        Image(
            dataset_id=dataset_id,
            class_name=image.class_name,
            filename=image.filename,
            object_key=dataset_image_key(dataset_id, image.class_name, image.filename),
            sha256=image.sha256,
            width=image.width,
            height=image.height,
            mode=image.mode,
        )
        for image in result.images
    ]
    try:
        with ThreadPoolExecutor(max_workers=store.parallel_writes) as pool:
            list(pool.map(lambda pair: store.put_bytes(pair[1].object_key, pair[0].path.read_bytes()),
                          zip(result.images, rows)))
        store.put_bytes(preview_key(dataset_id), render_preview(result))
        dataset = Dataset(
            id=dataset_id,
            workspace_id=workspace_id,
            name=name,
            num_images=len(rows),
            num_duplicates=result.num_duplicates,
            image_mode=result.image_mode,
            min_size=list(result.min_size),
            max_size=list(result.max_size),
            classes=[{"name": cls, "count": count} for cls, count in result.classes.items()],
            sha256=result.sha256,
            size_bytes=result_bytes(result),
        )
        session.add(dataset)
        session.flush()
        session.add_all(rows)
        session.commit()
    except BaseException:
        log.warning("storing dataset %s failed; removing its objects", dataset_id)
        session.rollback()
        store.delete_prefix(prefix)
        raise
    return dataset
