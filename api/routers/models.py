from __future__ import annotations

import json
import struct
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, StoreDep, WorkspaceDep
from api.errors import Problem
from api.openapi import NON_EMPTY, link, problems
from api.paths import IdPath
from api.quotas import check_storage
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

ClassifierName = Literal[tuple(classifier_names())]  # type: ignore[valid-type]
router = APIRouter(prefix="/v1/models", tags=["models"], responses=problems(401, 422))
MODEL_ID = {"model_id": "$response.body#/id"}
MODEL_LINKS = {
    "GetModel": link("read_model", "The model.", **MODEL_ID),
    "DeleteModel": link("delete_model", "Delete the model.", **MODEL_ID),
    "DownloadCheckpoint": link("download_checkpoint", "Its checkpoint.", **MODEL_ID),
    "GenerateWithModel": link("create_job", "Generate images with it.",
                              body={"kind": "generate", "params": {"model_id": "$response.body#/id"}}),
}


def get_model(session: Session, workspace: str, model_id: str) -> RegisteredModel:
    return owned(session, RegisteredModel, workspace, model_id, "model")


@router.get("", response_model=Page[ModelOut])
def list_models(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                cursor: CursorQuery = None) -> dict:
    """The workspace's models (generators, translators and classifiers), newest first."""
    return page(session, RegisteredModel, workspace, limit, cursor)


@router.get("/{model_id}", response_model=ModelOut, responses=problems(404))
def read_model(model_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> RegisteredModel:
    """One model: its kind, architecture, classes, shape, metrics and training configuration."""
    return get_model(session, workspace, model_id)


@router.delete("/{model_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404, 409))
def delete_model(model_id: IdPath, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> None:
    """Delete the model and its checkpoint (409 while a queued or running job uses it)."""
    model = get_model(session, workspace, model_id)
    users = active_users(session, workspace, RegisteredModel, model_id)
    if users:
        raise Problem(409, f"model {model_id!r} is used by active jobs: {', '.join(users)}")
    session.delete(model)
    session.commit()
    store.delete_prefix(model_prefix(model_id))


@router.get("/{model_id}/checkpoint", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "safetensors file"},
                       **problems(404)})
def download_checkpoint(model_id: IdPath, workspace: WorkspaceDep, session: SessionDep,
                        store: StoreDep) -> StreamingResponse:
    """The model's checkpoint, a safetensors file, streamed."""
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
             responses={201: {"description": "The imported model.", "links": MODEL_LINKS},
                        **problems(400, 413, (415, "The file is not safetensors (pickled formats can run code when "
                                                    "loaded)."),
                                   (422, "The file is not a usable defectgen checkpoint, or not a state dict of "
                                         "`architecture`, or a form field is invalid."))})
def import_model(
    workspace: WorkspaceDep, session: SessionDep, store: StoreDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a defectgen generator or classifier checkpoint (safetensors)",
                                     json_schema_extra=NON_EMPTY)],
    architecture: Annotated[ClassifierName, Form(description=(
        "With a classifier architecture, the file is a plain state dict of it, e.g. torchvision's ImageNet weights "
        "saved as safetensors: pretrained initialisation for augmentation reports."))] = None,
) -> RegisteredModel:
    """Import a checkpoint file (201): a defectgen generator, translator or classifier, or with `architecture` a
    plain state dict of that classifier. Only safetensors is accepted."""
    blob = file.file.read()
    if not _is_safetensors(blob):
        raise Problem(415, "only safetensors checkpoints are accepted: pickled formats (.pt, .pth, .ckpt) "
                           "can run code when loaded", errors=[{"loc": ["body", "file"], "msg": "not safetensors"}])
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
