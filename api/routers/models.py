from __future__ import annotations

import json
import struct
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, StoreDep, WorkspaceDep
from api.errors import Problem, invalid
from api.quotas import STORAGE_LIMIT_RESPONSE, check_storage
from api.schemas.common import Page
from api.schemas.resources import ModelOut
from api.workspace_rows import add_with_object, owned, page
from core.ids import new_id
from core.kinds import active_users
from core.storage_keys import classifier_key, model_key, model_prefix
from core.tables import RegisteredModel
from models.architectures import get_architecture
from models.checkpoint import CheckpointError, checkpoint_format
from models.classification import CLASSIFIER_FORMAT, checkpoint_from_state_dict, load_classifier
from models.classifiers import classifier_names
from models.snapshot import model_info

router = APIRouter(prefix="/v1/models", tags=["models"])


def get_model(session: Session, workspace: str, model_id: str) -> RegisteredModel:
    return owned(session, RegisteredModel, workspace, model_id, "model")


@router.get("", response_model=Page[ModelOut])
def list_models(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                cursor: CursorQuery = None) -> dict:
    return page(session, RegisteredModel, workspace, limit, cursor)


@router.get("/{model_id}", response_model=ModelOut)
def read_model(model_id: str, workspace: WorkspaceDep, session: SessionDep) -> RegisteredModel:
    return get_model(session, workspace, model_id)


@router.delete("/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(model_id: str, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> None:
    model = get_model(session, workspace, model_id)
    users = active_users(session, workspace, RegisteredModel, model_id)
    if users:
        raise Problem(409, f"model {model_id!r} is used by active jobs: {', '.join(users)}")
    session.delete(model)
    session.commit()
    store.delete_prefix(model_prefix(model_id))


@router.get("/{model_id}/checkpoint", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "safetensors file"}})
def download_checkpoint(model_id: str, workspace: WorkspaceDep, session: SessionDep,
                        store: StoreDep) -> StreamingResponse:
    model = get_model(session, workspace, model_id)
    return StreamingResponse(
        store.iter_chunks(model.object_key),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{model_id}.safetensors"',
                 "Content-Length": str(model.size_bytes)},
    )


def _is_safetensors(blob: bytes) -> bool:
    if len(blob) < 10:
        return False
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > len(blob) - 8:
        return False
    try:
        return isinstance(json.loads(blob[8 : 8 + header_len]), dict)
    except ValueError:
        return False


def _describe(blob: bytes) -> dict[str, Any]:
    """The RegisteredModel fields a checkpoint implies; CheckpointError unless it loads completely."""
    if checkpoint_format(blob) == CLASSIFIER_FORMAT:
        config = load_classifier(blob)[0].to_dict()
        return {"kind": "classifier", "architecture": config["architecture"], "classes": config["class_names"],
                "resolution": config["resolution"], "channels": config["channels"], "step": None, "config": config}
    info = model_info(blob)
    config = info["config"]
    kind = "translator" if get_architecture(config["architecture"]).translator else "generator"
    return {"kind": kind, "architecture": config["architecture"], "classes": config["class_names"],
            "resolution": config["options"]["resolution"], "channels": config["channels"], "step": info["step"],
            "config": config}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ModelOut,
             responses={**{code: {"description": "problem+json"} for code in (415, 422)}, **STORAGE_LIMIT_RESPONSE})
def import_model(
    workspace: WorkspaceDep, session: SessionDep, store: StoreDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a defectgen generator or classifier checkpoint (safetensors)")],
    architecture: Annotated[str | None, Form(description="With a classifier architecture (resnet18, "
                                                         "mobilenet_v2, small-cnn), the file is a plain state "
                                                         "dict of it, e.g. torchvision's ImageNet weights saved "
                                                         "as safetensors: pretrained initialisation for "
                                                         "augmentation reports.")] = None,
) -> RegisteredModel:
    blob = file.file.read()
    if not _is_safetensors(blob):
        raise Problem(415, "only safetensors checkpoints are accepted: pickled formats (.pt, .pth, .ckpt) "
                           "can run code when loaded", errors=[{"loc": ["body", "file"], "msg": "not safetensors"}])
    if architecture is not None and architecture not in classifier_names():
        raise invalid(["body", "architecture"], f"unknown classifier {architecture!r}; known: {classifier_names()}")
    try:
        if architecture is not None:
            blob = checkpoint_from_state_dict(architecture, blob)
        fields = _describe(blob)
    except CheckpointError as exc:
        raise Problem(422, f"not a usable defectgen checkpoint: {exc}",
                      errors=[{"loc": ["body", "file"], "msg": str(exc)}]) from None
    check_storage(session, workspace, settings, len(blob))
    model_id = new_id("mdl")
    key = classifier_key(model_id) if fields["kind"] == "classifier" else model_key(model_id)
    model = RegisteredModel(id=model_id, workspace_id=workspace, metrics={}, object_key=key, size_bytes=len(blob),
                            **fields)
    add_with_object(session, store, model, blob)
    return model
