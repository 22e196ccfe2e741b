"""The engine across fork, on the real PostgreSQL server."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from core.db import get_engine, get_sessionmaker
from core.settings import get_settings


@pytest.fixture
def postgres_engine(servers, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DEFECTGEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DEFECTGEN_DATABASE_URL", servers.postgres.url)
    for cached in (get_settings, get_engine, get_sessionmaker):
        cached.cache_clear()
    yield get_engine()
    get_engine().dispose()
    for cached in (get_settings, get_engine, get_sessionmaker):
        cached.cache_clear()


def backend_pid() -> int:
    with get_sessionmaker()() as session:
        return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_forked_child_opens_its_own_connections(postgres_engine):
    parent = backend_pid()  # the pool now holds this open connection
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a Celery pool process, forked from a main process that used the database
        try:
            os.write(write, str(backend_pid()).encode())
        finally:
            os._exit(0)
    os.close(write)
    child = int(os.read(read, 32).decode())
    os.waitpid(pid, 0)
    assert child != parent  # the same backend would mean one socket read by two processes
    assert backend_pid() == parent
