"""Engine and session factory, one per process."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings

Row = TypeVar("Row")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets the API read while the worker writes progress; foreign keys are off by default.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # Room for every request the API admits at once (api_max_concurrency) plus workers' threads.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    if settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.database_url)


def _forget_inherited_connections() -> None:
    # A forked child (Celery's pool processes) must not use the parent's pooled connections: two processes on one
    # socket corrupt it. close=False leaves those connections to the parent.
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    with get_sessionmaker()() as session, session.begin():
        yield session


def workspace_row(session: Session, table: type[Row], workspace_id: str, id_: str) -> Row | None:
    """The row of `table` with this id, if it belongs to the workspace; another workspace's is never seen."""
    row = session.get(table, id_)
    return row if row is not None and row.workspace_id == workspace_id else None  # type: ignore[attr-defined]
