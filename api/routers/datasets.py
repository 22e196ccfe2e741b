from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, StoreDep, WorkspaceDep
from api.errors import Problem
from api.openapi import NON_EMPTY, link, problems
from api.paths import IdPath
from api.quotas import check_storage
from api.schemas.common import Page
from api.schemas.resources import DatasetOut
from api.workspace_rows import owned, page
from core.datasets import result_bytes, save_dataset
from core.fields import NAME_MAX_LENGTH, NAME_PATTERN
from core.ingest import IngestError, IngestLimits, ingest_archive
from core.kinds import active_users
from core.settings import Settings
from core.storage_keys import dataset_prefix, preview_key
from core.tables import Dataset

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=problems(401, 422))
INGEST_STATUS = {"corrupt": 400, "too_large": 413, "unsupported_media_type": 415, "bad_layout": 422}
DUPLICATE_HEADER = "X-Defectgen-Duplicate"
DATASET_LINKS = {
    "GetDataset": link("read_dataset", "The dataset.", dataset_id="$response.body#/id"),
    "DeleteDataset": link("delete_dataset", "Delete the dataset.", dataset_id="$response.body#/id"),
    "GetPreview": link("dataset_preview", "Its preview grid.", dataset_id="$response.body#/id"),
    "TrainOnDataset": link("create_job", "Train a generator on it.",
                           body={"kind": "train", "params": {"dataset_id": "$response.body#/id"}}),
}
UPLOAD_RESPONSES = {
    **problems((400, "The multipart body, the archive (an empty file too) or an image in it cannot be read."),
               (413, "The upload or its images are over max_upload_bytes or max_uncompressed_bytes, or the "
                     "workspace would store more than workspace_max_stored_bytes."),
               (415, "The file is not a zip, tar or tar.gz archive by its declared type."),
               (422, "The archive's layout is refused (no class folders, a class with too few images, unsafe "
                     "paths), or a form field is invalid: `errors` names each.")),
    201: {"description": "The new dataset.", "links": DATASET_LINKS},
    200: {"model": DatasetOut, "description": f"A duplicate: the workspace's dataset with the same content, with "
                                              f"the header {DUPLICATE_HEADER}: true; nothing new was stored.",
          "headers": {DUPLICATE_HEADER: {"description": "true: this dataset was there before the upload",
                                         "schema": {"type": "string", "enum": ["true"]}}},
          "links": DATASET_LINKS},
}


def _limits(settings: Settings) -> IngestLimits:
    return IngestLimits(
        max_entries=settings.max_archive_entries,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_image_pixels=settings.max_image_pixels,
        min_images_per_class=settings.min_images_per_class,
        min_classes=settings.min_classes,
    )


def get_dataset(session: Session, workspace: str, dataset_id: str) -> Dataset:
    return owned(session, Dataset, workspace, dataset_id, "dataset")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetOut, responses=UPLOAD_RESPONSES)
def upload_dataset(
    workspace: WorkspaceDep,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    response: Response,
    file: Annotated[UploadFile, File(description="zip, tar or tar.gz with one folder per class",
                                     json_schema_extra=NON_EMPTY)],
    name: Annotated[str, Form(max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN,
                              description="Empty or left out: the archive's file name.")] = "",
    allow_duplicate: Annotated[bool, Query(description="Store the upload as a new dataset even when the "
                                                       "workspace has one with the same content.")] = False,
) -> Dataset:
    """Upload an archive of images, one folder per class (201).

    An upload whose content (class names and decoded images: the dataset's `sha256`) equals a dataset of the
    workspace answers 200 with that dataset and the header `X-Defectgen-Duplicate: true`, and stores nothing
    (its `name` is not applied); `?allow_duplicate=true` stores it as a new dataset. An upload that would take
    the workspace's stored bytes over workspace_max_stored_bytes gets a 413.
    """
    with tempfile.TemporaryDirectory(prefix="defectgen-upload-") as workdir:
        try:
            archive = _spill(file, Path(workdir))
            result = ingest_archive(archive, Path(workdir), _limits(settings), file.content_type)
        except IngestError as exc:
            raise Problem(INGEST_STATUS[exc.reason], exc.detail, title=exc.title, errors=exc.errors) from None
        if not allow_duplicate and (earlier := _same_content(session, workspace, result.sha256)):
            response.status_code = status.HTTP_200_OK
            response.headers[DUPLICATE_HEADER] = "true"
            return earlier
        check_storage(session, workspace, settings, result_bytes(result))
        label = name or Path(file.filename or "dataset").name.split(".")[0] or "dataset"
        return save_dataset(session, store, workspace, label, result)


def _same_content(session: Session, workspace: str, sha256: str) -> Dataset | None:
    return session.scalars(select(Dataset).where(Dataset.workspace_id == workspace, Dataset.sha256 == sha256)
                           .order_by(Dataset.id).limit(1)).first()


def _spill(file: UploadFile, workdir: Path) -> Path:
    """Ingestion needs a seekable file of its own; the upload may still be in memory."""
    path = workdir / "upload.bin"
    file.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(file.file, out, 1024 * 1024)
    return path


@router.get("", response_model=Page[DatasetOut])
def list_datasets(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                  cursor: CursorQuery = None) -> dict:
    """The workspace's datasets, newest first."""
    return page(session, Dataset, workspace, limit, cursor)


@router.get("/{dataset_id}", response_model=DatasetOut, responses=problems(404))
def read_dataset(dataset_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Dataset:
    """One dataset: its classes with their image counts, image sizes and content hash."""
    return get_dataset(session, workspace, dataset_id)


@router.get("/{dataset_id}/preview.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "A grid of samples, a row per class."},
                       **problems(404)})
def dataset_preview(dataset_id: IdPath, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> Response:
    """A PNG grid of sample images, a labelled row per class."""
    get_dataset(session, workspace, dataset_id)
    return Response(store.get_bytes(preview_key(dataset_id)), media_type="image/png")


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404, 409))
def delete_dataset(dataset_id: IdPath, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> None:
    """Delete the dataset and its images (409 while a queued or running job uses it)."""
    dataset = get_dataset(session, workspace, dataset_id)
    users = active_users(session, workspace, Dataset, dataset_id)
    if users:
        raise Problem(409, f"dataset {dataset_id!r} is used by active jobs: {', '.join(users)}")
    session.delete(dataset)
    session.commit()
    store.delete_prefix(dataset_prefix(dataset_id))
