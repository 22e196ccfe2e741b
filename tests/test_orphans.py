"""Objects of an upload that never committed are removed at API start, once older than the grace period."""
from __future__ import annotations

import time

from sqlalchemy.orm import sessionmaker

from core.datasets import remove_orphans
from core.db import make_engine
from core.keys import ensure_workspace
from core.storage import LocalStore
from core.tables import Base, Dataset


def _old_id(seconds_ago: float) -> str:
    return f"ds_{int((time.time() - seconds_ago) * 1e6):014x}{'0' * 12}"


def test_remove_orphans(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    store = LocalStore(tmp_path / "objects")
    orphan, committed, in_flight = _old_id(7200), _old_id(7200), _old_id(5)
    for dataset_id in (orphan, committed, in_flight):
        store.put_bytes(f"datasets/{dataset_id}/images/a/1.png", b"png")
    with sessionmaker(engine)() as session:
        workspace = ensure_workspace(session, "w")
        session.add(Dataset(id=committed, workspace_id=workspace.id, name="d", num_images=1, image_mode="L",
                            min_size=[1, 1], max_size=[1, 1], classes=[], sha256="0" * 64))
        session.commit()
        assert remove_orphans(session, store, grace_seconds=3600) == [orphan]
    assert sorted(store.list_children("datasets/")) == sorted([committed, in_flight])
