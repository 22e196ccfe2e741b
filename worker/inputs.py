"""What every job needs before it touches a model: torch configured, rows loaded from the database."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch
from PIL import Image as PILImage
from sqlalchemy import func, select

from core.db import session_scope, workspace_row
from core.settings import Settings
from core.storage import ObjectStore
from core.tables import Dataset, Image
from models.data import TrainingImages, images_to_tensor
from worker.runner import JobContext, JobFailed

Row = TypeVar("Row")


def torch_device(settings: Settings) -> str:
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_row(ctx: JobContext, table: type[Row], row_id: str, what: str) -> Row:
    """A row of the job's own workspace, detached; a job whose input was deleted fails clearly."""
    with session_scope() as session:
        row = workspace_row(session, table, ctx.workspace_id, row_id)
        if row is None:
            raise JobFailed(f"{what}_missing", f"{what} {row_id!r} no longer exists")
        session.expunge(row)
    return row


def load_dataset(store: ObjectStore, dataset: Dataset, resolution: int,
                 channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode every image once into a uint8 tensor, each resized to RxR; training then never touches PIL."""
    images, labels = decode_dataset(store, dataset)
    return images_to_tensor(images, resolution, channels), labels


def load_training_images(store: ObjectStore, dataset: Dataset, resolution: int, channels: int,
                         crop: str) -> tuple[torch.Tensor | TrainingImages, torch.Tensor]:
    """What a train job with this crop trains on: RxR images (resize) or native-size ones (random)."""
    if crop == "resize":
        return load_dataset(store, dataset, resolution, channels)
    images, labels = decode_dataset(store, dataset)
    return TrainingImages.from_pil(images, resolution, channels), labels


def native_size(dataset_id: str) -> tuple[int, int] | None:
    """The most common (width, height) among the dataset's images; None where it has none (deleted)."""
    with session_scope() as session:
        count = func.count()
        row = session.execute(
            select(Image.width, Image.height).where(Image.dataset_id == dataset_id)
            .group_by(Image.width, Image.height).order_by(count.desc(), Image.width, Image.height).limit(1)
        ).first()
    return None if row is None else (row.width, row.height)


def decode_dataset(store: ObjectStore, dataset: Dataset) -> tuple[list[PILImage.Image], torch.Tensor]:
    """Every image of the dataset at its native size, in id order, with its index in dataset.classes."""
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
    return images, torch.tensor([index[name] for name, _ in rows], dtype=torch.long)
