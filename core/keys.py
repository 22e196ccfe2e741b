"""API keys: random tokens shown once; only their SHA-256 is stored (they carry 256 bits of entropy, so a
slow password hash would add latency to every request without adding safety)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.ids import new_id
from core.tables import ApiKey, Workspace, utcnow

KEY_PREFIX = "dg_"
# last_used_at is written at most this often per key, so that authenticating stays a read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyRejected(Exception):
    """The key is unknown, revoked or expired; the message says which."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ensure_workspace(session: Session, name: str) -> Workspace:
    workspace = session.scalar(select(Workspace).where(Workspace.name == name))
    if workspace is None:
        workspace = Workspace(id=new_id("ws"), name=name)
        session.add(workspace)
        session.flush()
    return workspace


def add_key(session: Session, workspace_name: str, key: str, expires_at: datetime | None = None) -> ApiKey | None:
    """Register `key` for the workspace unless it exists (revoked or not). The new row, or None."""
    if session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key))):
        return None
    workspace = ensure_workspace(session, workspace_name)
    row = ApiKey(id=new_id("key"), workspace_id=workspace.id, key_hash=hash_key(key), expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def create_key(session: Session, workspace_name: str, expires_at: datetime | None = None) -> tuple[str, ApiKey]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = add_key(session, workspace_name, key, expires_at)
    assert row is not None  # 256 random bits never collide
    return key, row


def workspace_for_key(session: Session, key: str) -> str | None:
    return session.scalar(select(ApiKey.workspace_id).where(ApiKey.key_hash == hash_key(key)))


def authenticate(session: Session, key: str) -> str:
    """The workspace of a usable key, recording its use; KeyRejected otherwise. The caller commits."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    now = utcnow()
    if row is None:
        raise KeyRejected("the API key is not valid")
    if row.revoked_at is not None:
        raise KeyRejected("the API key has been revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise KeyRejected(f"the API key expired at {row.expires_at.isoformat()}")
    stale = now - LAST_USED_RESOLUTION
    if row.last_used_at is None or row.last_used_at < stale:
        # Conditional, so that concurrent requests with one key write once.
        session.execute(update(ApiKey)
                        .where(ApiKey.id == row.id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale))
                        .values(last_used_at=now))
    return row.workspace_id


def key_state(row: ApiKey, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def list_keys(session: Session, workspace_name: str | None = None) -> list[tuple[ApiKey, str]]:
    """Keys with their workspace's name, newest first."""
    query = select(ApiKey, Workspace.name).join(Workspace, Workspace.id == ApiKey.workspace_id)
    if workspace_name is not None:
        query = query.where(Workspace.name == workspace_name)
    return [(row, name) for row, name in session.execute(query.order_by(ApiKey.created_at.desc(), ApiKey.id))]


def find_key(session: Session, id_or_key: str) -> ApiKey | None:
    """A key by its id (`key_…`) or by the secret itself."""
    return session.get(ApiKey, id_or_key) or session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(id_or_key)))


def revoke_key(session: Session, row: ApiKey) -> bool:
    """True when this call revoked it; False when it already was."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.flush()
    return True
