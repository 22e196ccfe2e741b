"""Keyset pagination over time-ordered ids, newest first (or oldest first for event logs)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session


def page(session: Session, stmt: Select, id_column: Any, limit: int, cursor: str | None) -> tuple[list, str | None]:
    if cursor:
        stmt = stmt.where(id_column < cursor)
    rows = list(session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], str(getattr(rows[limit - 1], id_column.key))
    return rows, None
