"""Objects that no row owns, found and removed by a periodic pass (worker/janitor.py).

Every object lives under a prefix named after its owner (core/storage_keys.py), so ownership is a lookup:
- an upload or import (datasets/ds_…, backbones/bb_…, models/mdl_… made by POST /v1/models) whose API process
  died before its row committed: no row, and older than the upload grace (its id carries its creation time);
- a job's output (models/, batches/, reports/ under the job's own id suffix) with no row: orphaned once the job
  has ended without committing it (it failed for good, or its row is gone); while the job may still run or
  retry, its partial output is kept for the retry to overwrite;
- a job's training state (checkpoint, best snapshot): runner.py drops it when a job ends, but not when a job
  fails for good because its worker died; it goes once the job has been final for the retention period, and
  a job's whole prefix goes with its row;
- real-image feature statistics (stats/<dataset sha256>/) once no dataset has those images.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.ids import id_time
from core.jobs import FINAL
from core.settings import Settings
from core.storage import ObjectStore
from core.storage_keys import best_snapshot_key, checkpoint_key, job_prefix
from core.tables import Backbone, Batch, Dataset, Job, RegisteredModel, Report, utcnow

log = logging.getLogger(__name__)

# Top-level prefix -> the table whose rows own its children, and the id prefix of those children.
OWNED = {"datasets": (Dataset, "ds"), "models": (RegisteredModel, "mdl"), "batches": (Batch, "bat"),
         "reports": (Report, "rpt"), "backbones": (Backbone, "bb")}


@dataclass(frozen=True)
class Retention:
    upload_grace: timedelta  # how long an upload or import may take before its objects count as orphaned
    job_state: timedelta  # how long a final job's training state is kept


def retention(settings: Settings) -> Retention:
    return Retention(upload_grace=timedelta(seconds=settings.orphan_upload_grace_seconds),
                     job_state=timedelta(seconds=settings.job_state_retention_seconds))


def sweep_store(session: Session, store: ObjectStore, retention: Retention,
                now: datetime | None = None) -> list[str]:
    """Delete what no row owns; returns the prefixes and keys it deleted."""
    now = now or utcnow()
    removed: list[str] = []
    for top, (table, id_prefix) in OWNED.items():
        children = [name for name in store.list_children(f"{top}/") if name.startswith(id_prefix + "_")]
        owned = _existing(session, table.id, children)
        for name in children:
            if name not in owned and _abandoned(session, name, now, retention):
                removed.append(_delete_prefix(store, f"{top}/{name}/"))
    removed += _sweep_jobs(session, store, now, retention)
    removed += _sweep_stats(session, store)
    return [key for key in removed if key]


def _chunks(ids: list[str], size: int = 500) -> Iterator[list[str]]:
    """Bounded IN lists."""
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _existing(session: Session, column, ids: list[str]) -> set[str]:  # type: ignore[no-untyped-def]
    return {value for chunk in _chunks(ids) for value in session.scalars(select(column).where(column.in_(chunk)))}


def _abandoned(session: Session, object_id: str, now: datetime, retention: Retention) -> bool:
    """An unowned object's writer is done with it: its job ended, or (no job) the upload grace has passed."""
    job = session.get(Job, "job_" + object_id.split("_", 1)[1])
    if job is not None:
        return job.status in FINAL
    try:
        return id_time(object_id) < now - retention.upload_grace
    except ValueError:  # not an id of ours: leave it alone
        return False


def _sweep_jobs(session: Session, store: ObjectStore, now: datetime, retention: Retention) -> list[str]:
    names = [name for name in store.list_children("jobs/") if name.startswith("job_")]
    rows = {job.id: job for chunk in _chunks(names) for job in session.scalars(select(Job).where(Job.id.in_(chunk)))}
    removed = []
    for name in names:
        job = rows.get(name)
        if job is None:
            if _abandoned(session, name, now, retention):
                removed.append(_delete_prefix(store, job_prefix(name)))
        elif job.status in FINAL and job.finished_at and job.finished_at < now - retention.job_state:
            removed += [_delete_key(store, key) for key in (checkpoint_key(name), best_snapshot_key(name))]
    return removed


def _sweep_stats(session: Session, store: ObjectStore) -> list[str]:
    digests = list(store.list_children("stats/"))
    kept = _existing(session, Dataset.sha256, digests)
    return [_delete_prefix(store, f"stats/{digest}/") for digest in digests if digest not in kept]


def _delete_prefix(store: ObjectStore, prefix: str) -> str:
    # Some S3 servers list a prefix whose objects are all gone: only an actual object counts.
    if next(iter(store.list_keys(prefix)), None) is None:
        return ""
    log.warning("removing %s: no row owns it", prefix)
    store.delete_prefix(prefix)
    return prefix


def _delete_key(store: ObjectStore, key: str) -> str:
    if not store.exists(key):
        return ""
    log.info("removing %s: its job ended past the retention period", key)
    store.delete(key)
    return key

