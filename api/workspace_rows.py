"""A workspace's own rows: one by id (404 for anyone else's), a page (newest first), or a new row whose
bytes live in the object store."""
from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from api.errors import not_found
from core.db import workspace_row
from core.storage import ObjectStore

Row = TypeVar("Row")


def owned(session: Session, table: type[Row], workspace: str, id_: str, what: str) -> Row:
    row = workspace_row(session, table, workspace, id_)
    if row is None:
        raise not_found(what, id_)
    return row


def page(session: Session, table: Any, workspace: str, limit: int, cursor: str | None,
         *where: ColumnElement[bool]) -> dict[str, Any]:
    """Keyset pagination over time-ordered ids."""
    stmt = select(table).where(table.workspace_id == workspace, *where)
    if cursor:
        stmt = stmt.where(table.id < cursor)
    rows = list(session.scalars(stmt.order_by(table.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


def add_with_object(session: Session, store: ObjectStore, row: Any, blob: bytes) -> None:
    """Store `blob` at row.object_key, then commit the row; if the commit fails, remove the object."""
    store.put_bytes(row.object_key, blob)
    try:
        session.add(row)
        session.commit()
    except BaseException:
        store.delete(row.object_key)
        raise
