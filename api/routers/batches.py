from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, StoreDep, WorkspaceDep
from api.errors import Problem
from api.openapi import problems
from api.paths import IdPath
from api.schemas.common import Page
from api.schemas.resources import BatchOut, DownloadUrl
from api.workspace_rows import owned, page
from core.batches import batch_zip
from core.kinds import active_users
from core.storage import IterReader
from core.storage_keys import batch_prefix, batch_zip_key
from core.tables import Batch, utcnow

router = APIRouter(prefix="/v1/batches", tags=["batches"], responses=problems(401, 422))


def get_batch(session: Session, workspace: str, batch_id: str) -> Batch:
    return owned(session, Batch, workspace, batch_id, "batch")


@router.get("", response_model=Page[BatchOut])
def list_batches(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                 cursor: CursorQuery = None) -> dict:
    """The workspace's batches of generated images, newest first."""
    return page(session, Batch, workspace, limit, cursor)


@router.get("/{batch_id}", response_model=BatchOut, responses=problems(404))
def read_batch(batch_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Batch:
    """One batch: its model and job, and its image count per class."""
    return get_batch(session, workspace, batch_id)


@router.delete("/{batch_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404, 409))
def delete_batch(batch_id: IdPath, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> None:
    """Delete the batch and its images (409 while a queued or running job uses it)."""
    batch = get_batch(session, workspace, batch_id)
    users = active_users(session, workspace, Batch, batch_id)
    if users:
        raise Problem(409, f"batch {batch_id!r} is used by active jobs: {', '.join(users)}")
    session.delete(batch)
    session.commit()
    store.delete_prefix(batch_prefix(batch_id))


@router.get("/{batch_id}/download", response_class=StreamingResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "a folder per class and manifest.csv, streamed"},
                       **problems(404)})
def download_batch(batch_id: IdPath, workspace: WorkspaceDep, session: SessionDep,
                   store: StoreDep) -> StreamingResponse:
    """The batch as a zip, streamed: a folder per class (the upload format) and manifest.csv."""
    get_batch(session, workspace, batch_id)
    return StreamingResponse(iter(batch_zip(store, batch_id)), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{batch_id}.zip"'})


@router.get("/{batch_id}/download-url", response_model=DownloadUrl,
            responses=problems(404, 501))
def batch_download_url(batch_id: IdPath, workspace: WorkspaceDep, session: SessionDep, store: StoreDep,
                       settings: SettingsDep) -> DownloadUrl:
    """A time-limited direct URL of the batch's zip, where the object store can sign one (501 otherwise)."""
    get_batch(session, workspace, batch_id)
    key = batch_zip_key(batch_id)
    probe = store.presigned_url(key, settings.presigned_url_seconds)
    if probe is None:
        raise Problem(501, "this object store cannot sign direct URLs; use GET /v1/batches/{id}/download")
    if not store.exists(key):
        store.put_stream(key, IterReader(iter(batch_zip(store, batch_id))))
    return DownloadUrl(url=probe, expires_at=utcnow() + timedelta(seconds=settings.presigned_url_seconds))
