"""A translator's training images: its source (a class of the dataset, or every image of a source dataset)
as class 0 and each target class of the dataset after it."""
from __future__ import annotations

from typing import Any

import torch

from core.errors import InvalidParam
from core.kinds._translation import translation_classes
from core.storage import ObjectStore
from core.tables import Dataset
from models.data import TrainingImages, images_to_tensor
from worker.inputs import decode_dataset, load_row
from worker.runner import JobContext, JobFailed


def translation_datasets(ctx: JobContext, params: Any, dataset: Dataset) -> tuple[list[str], Dataset | None]:
    """(the model's classes, the source dataset or None)."""
    source = load_row(ctx, Dataset, params.source_dataset_id, "source_dataset") if params.source_dataset_id else None
    try:
        return translation_classes(params, dataset, source), source
    except InvalidParam as exc:  # the API checked it; the datasets cannot change, but say so if they did
        raise JobFailed("bad_params", exc.msg) from None


def load_translation_images(store: ObjectStore, dataset: Dataset, source: Dataset | None, classes: list[str],
                            resolution: int, channels: int, crop: str,
                            ) -> tuple[torch.Tensor | TrainingImages, torch.Tensor]:
    """The images of `classes` (labelled by their index there) as load_training_images gives them for `crop`."""
    names = [c["name"] for c in dataset.classes]
    wanted = {name: k for k, name in enumerate(classes) if source is None or k > 0}
    picked, labels = [], []
    if source is not None:
        picked, _ = decode_dataset(store, source)
        labels = [0] * len(picked)
    images, dataset_labels = decode_dataset(store, dataset)
    for image, label in zip(images, dataset_labels.tolist()):
        if names[label] in wanted:
            picked.append(image)
            labels.append(wanted[names[label]])
    pixels = images_to_tensor(picked, resolution, channels) if crop == "resize" else \
        TrainingImages.from_pil(picked, resolution, channels)
    return pixels, torch.tensor(labels, dtype=torch.long)
