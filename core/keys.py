"""API keys: random tokens shown once; only their SHA-256 is stored (they carry 256 bits of entropy, so a
slow password hash would add latency to every request without adding safety)."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.ids import new_id
from core.tables import ApiKey, Workspace

KEY_PREFIX = "dg_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ensure_workspace(session: Session, name: str) -> Workspace:
    workspace = session.scalar(select(Workspace).where(Workspace.name == name))
    if workspace is None:
        workspace = Workspace(id=new_id("ws"), name=name)
        session.add(workspace)
        session.flush()
    return workspace


def add_key(session: Session, workspace_name: str, key: str) -> bool:
    """Register `key` for the workspace unless it exists. True when it was added."""
    if session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key))):
        return False
    workspace = ensure_workspace(session, workspace_name)
    session.add(ApiKey(id=new_id("key"), workspace_id=workspace.id, key_hash=hash_key(key)))
    return True


def create_key(session: Session, workspace_name: str) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    add_key(session, workspace_name, key)
    return key


def workspace_for_key(session: Session, key: str) -> str | None:
    return session.scalar(select(ApiKey.workspace_id).where(ApiKey.key_hash == hash_key(key)))
