"""Domain backbones: a workspace's own TorchScript feature extractor, for metrics closer to its images."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import BeforeValidator

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, StoreDep, WorkspaceDep
from api.errors import Problem
from api.openapi import NON_EMPTY, link, problems
from api.paths import IdPath
from api.quotas import check_storage
from api.schemas.common import Page
from api.schemas.resources import BackboneOut
from api.workspace_rows import add_with_object, owned, page
from core.ids import new_id
from core.kinds import active_users
from core.storage_keys import backbone_key
from core.tables import Backbone
from models.metrics.backbones import load_torchscript
from models.metrics.errors import MetricsError


def _form_int(value: object) -> object:
    """A form field arrives as text, which Literal[1, 3] would compare before pydantic reads it as an int."""
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value


InChannels = Annotated[Literal[1, 3], BeforeValidator(_form_int)]
router = APIRouter(prefix="/v1/backbones", tags=["backbones"], responses=problems(401, 422))
BACKBONE_ID = {"backbone_id": "$response.body#/id"}
BACKBONE_LINKS = {
    "GetBackbone": link("read_backbone", "The backbone.", **BACKBONE_ID),
    "DeleteBackbone": link("delete_backbone", "Delete the backbone.", **BACKBONE_ID),
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BackboneOut,
             responses={201: {"description": "The imported backbone.", "links": BACKBONE_LINKS},
                        **problems(400, 413, (422, "Not a TorchScript module that maps images to [N, D] features, "
                                                   "or a form field is invalid."))})
def import_backbone(
    workspace: WorkspaceDep, session: SessionDep, store: StoreDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a TorchScript module (torch.jit.save) mapping uint8 images "
                                                 "[N, C, H, W] to features [N, D]", json_schema_extra=NON_EMPTY)],
    name: Annotated[str, Form(max_length=200, description="Empty or left out: domain.")] = "domain",
    in_channels: Annotated[InChannels, Form(description="1: images arrive grayscale; 3: grayscale is repeated to "
                                                        "RGB")] = 3,
) -> Backbone:
    """Import a TorchScript feature extractor (201) for metrics in a workspace's own domain: evaluate jobs and
    train jobs' evaluations name it by id."""
    blob = file.file.read()
    try:
        module = load_torchscript(blob, name=name, in_channels=in_channels)
    except MetricsError as exc:
        raise Problem(422, f"not a usable backbone: {exc}",
                      errors=[{"loc": ["body", "file"], "msg": str(exc)}]) from None
    check_storage(session, workspace, settings, len(blob))
    backbone_id = new_id("bb")
    row = Backbone(id=backbone_id, workspace_id=workspace, name=name, fingerprint=module.fingerprint,
                   feature_dim=module.feature_dim, in_channels=in_channels, object_key=backbone_key(backbone_id),
                   size_bytes=len(blob))
    add_with_object(session, store, row, blob)
    return row


@router.get("", response_model=Page[BackboneOut])
def list_backbones(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                   cursor: CursorQuery = None) -> dict:
    """The workspace's backbones, newest first."""
    return page(session, Backbone, workspace, limit, cursor)


@router.get("/{backbone_id}", response_model=BackboneOut, responses=problems(404))
def read_backbone(backbone_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Backbone:
    """One backbone: its name, fingerprint, feature dimension and input channels."""
    return owned(session, Backbone, workspace, backbone_id, "backbone")


@router.delete("/{backbone_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404, 409))
def delete_backbone(backbone_id: IdPath, workspace: WorkspaceDep, session: SessionDep, store: StoreDep) -> None:
    """Delete the backbone (409 while a queued or running job uses it)."""
    backbone = owned(session, Backbone, workspace, backbone_id, "backbone")
    users = active_users(session, workspace, Backbone, backbone_id)
    if users:
        raise Problem(409, f"backbone {backbone_id!r} is used by active jobs: {', '.join(users)}")
    session.delete(backbone)
    session.commit()
    store.delete(backbone.object_key)
