"""The API in this process (FastAPI's TestClient) on the embedded default, with no worker: for validation and
other checks that need no job to run. Rows the checks need are written straight into the database."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from core.ids import new_id

KEY = "dg_test-inprocess-key"


def _clear_caches() -> None:
    from core.db import get_engine, get_sessionmaker
    from core.queue import get_celery
    from core.settings import get_settings
    from core.storage import get_store

    for cached in (get_settings, get_engine, get_sessionmaker, get_store, get_celery):
        cached.cache_clear()


@contextmanager
def local_api(data_dir: Path) -> Iterator[TestClient]:
    """A TestClient over a fresh embedded service; the environment is restored afterwards, so that tests of a
    live stack in the same session still read their own database."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DEFECTGEN_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(DEFECTGEN_DATA_DIR=str(data_dir), DEFECTGEN_BOOTSTRAP_API_KEY=KEY)
    _clear_caches()
    try:
        from api.main import create_app
        from core.migrate import upgrade_head

        upgrade_head()
        with TestClient(create_app(), headers={"Authorization": f"Bearer {KEY}"}) as client:
            yield client
    finally:
        for key in [k for k in os.environ if k.startswith("DEFECTGEN_")]:
            del os.environ[key]
        os.environ.update(saved)
        _clear_caches()


def workspace_id() -> str:
    from core.db import session_scope
    from core.keys import workspace_for_key

    with session_scope() as session:
        return workspace_for_key(session, KEY)


def add_row(table: type, **fields: Any) -> Any:
    """Insert a row of `table` in the default workspace, with plausible defaults for what is not given."""
    from core.db import session_scope
    from core.tables import Backbone, Batch, Dataset, Job, RegisteredModel

    prefix = {Dataset: "ds", RegisteredModel: "mdl", Batch: "bat", Backbone: "bb", Job: "job"}[table]
    defaults: dict[type, dict[str, Any]] = {
        Dataset: dict(name="set", num_images=20, image_mode="L", min_size=[32, 32], max_size=[32, 32],
                      classes=[{"name": "a", "count": 10}, {"name": "b", "count": 10}], sha256="0" * 64),
        RegisteredModel: dict(kind="generator", architecture="cdcgan", classes=["a", "b"], resolution=32,
                              channels=1, metrics={}, object_key="models/x/checkpoint.safetensors", size_bytes=1),
        Batch: dict(count=20, classes=[{"name": "a", "count": 10}, {"name": "b", "count": 10}], size_bytes=1),
        Backbone: dict(name="bb", fingerprint="0" * 64, feature_dim=8, in_channels=3,
                       object_key="backbones/x/module.pt", size_bytes=1),
        Job: dict(kind="train", queue="gpu", status="queued", params={}, progress={}, metrics={}),
    }
    row = table(id=fields.pop("id", new_id(prefix)), workspace_id=workspace_id(), **{**defaults[table], **fields})
    with session_scope() as session:
        session.add(row)
        session.flush()
        session.refresh(row)
        session.expunge(row)
    return row
