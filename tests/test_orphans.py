"""Nothing left behind: objects that no row owns are swept (core/orphans.py), and deleting a resource deletes
its objects."""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy.orm import sessionmaker

from core.db import make_engine
from core.keys import ensure_workspace
from core.orphans import Retention, sweep_store
from core.storage import LocalStore
from core.tables import Base, Batch, Dataset, Job, Report, utcnow
from tests.inprocess import add_row
from tests.stack import wait_until

RETENTION = Retention(upload_grace=timedelta(hours=1), job_state=timedelta(days=1))


def old_id(prefix: str, seconds_ago: float = 7200) -> str:
    return f"{prefix}_{int((time.time() - seconds_ago) * 1e6):014x}{'0' * 12}"


def sibling(object_id: str, prefix: str) -> str:
    """The id of a job's output: the job's id with another prefix (e.g. bat_… of job_…)."""
    return f"{prefix}_{object_id.split('_', 1)[1]}"


def test_sweep_removes_what_no_row_owns_and_nothing_else(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    store = LocalStore(tmp_path / "objects")
    failed, running, ended_long_ago, ended_now = (old_id("job", 7200 + i) for i in range(4))
    kept_dataset, orphan_dataset, young_upload = old_id("ds", 7300), old_id("ds", 7400), old_id("ds", 5)
    orphan_import, rowless_job = old_id("mdl", 7500), old_id("job", 9000)
    objects = {
        f"datasets/{kept_dataset}/images/a/1.png", f"datasets/{orphan_dataset}/images/a/1.png",
        f"datasets/{young_upload}/images/a/1.png", f"models/{orphan_import}/checkpoint.safetensors",
        f"batches/{sibling(failed, 'bat')}/files/a/1.png",  # a generate job that failed for good
        f"batches/{sibling(running, 'bat')}/files/a/1.png",  # one still writing: its retry may overwrite it
        f"reports/{sibling(ended_now, 'rpt')}/plots/metrics.png",  # committed with its row
        f"jobs/{ended_long_ago}/checkpoint.safetensors", f"jobs/{ended_long_ago}/best.safetensors",
        f"jobs/{ended_long_ago}/samples/000000010.png", f"jobs/{ended_now}/checkpoint.safetensors",
        f"jobs/{rowless_job}/samples/000000010.png",  # a job whose row is gone
        "stats/" + "a" * 64 + "/fp/64x1.safetensors", "stats/" + "b" * 64 + "/fp/64x1.safetensors",
    }
    for key in objects:
        store.put_bytes(key, b"x")
    now = utcnow()
    with sessionmaker(engine)() as session:
        workspace = ensure_workspace(session, "w").id
        session.add(Dataset(id=kept_dataset, workspace_id=workspace, name="d", num_images=1, image_mode="L",
                            min_size=[1, 1], max_size=[1, 1], classes=[], sha256="a" * 64))
        for job_id, status, finished in ((failed, "failed", now), (running, "running", None),
                                         (ended_long_ago, "failed", now - timedelta(days=2)),
                                         (ended_now, "succeeded", now)):
            session.add(Job(id=job_id, workspace_id=workspace, kind="generate", status=status, params={},
                            finished_at=finished))
        session.add(Report(id=sibling(ended_now, "rpt"), workspace_id=workspace, job_id=ended_now,
                           train_dataset_id=kept_dataset, synthetic_source={}, classifier="small-cnn", summary={},
                           plots=["metrics.png"], gradcam=[]))
        session.commit()
        removed = sweep_store(session, store, RETENTION, now=now)
        assert sweep_store(session, store, RETENTION, now=now) == []  # nothing is left to find
    gone = {key for key in objects if not store.exists(key)}
    assert gone == {
        f"datasets/{orphan_dataset}/images/a/1.png", f"models/{orphan_import}/checkpoint.safetensors",
        f"batches/{sibling(failed, 'bat')}/files/a/1.png",
        f"jobs/{ended_long_ago}/checkpoint.safetensors", f"jobs/{ended_long_ago}/best.safetensors",
        f"jobs/{rowless_job}/samples/000000010.png", "stats/" + "b" * 64 + "/fp/64x1.safetensors",
    }
    assert len(removed) == len(gone)


def test_deleting_a_resource_deletes_its_objects(api):
    from core.db import session_scope
    from core.storage import get_store
    from core.tables import RegisteredModel

    store = get_store()
    dataset = add_row(Dataset)
    job = add_row(Job, status="succeeded")
    model = add_row(RegisteredModel, id=sibling(job.id, "mdl"), job_id=job.id)
    batch = add_row(Batch, id=sibling(job.id, "bat"), job_id=job.id)
    with session_scope() as session:
        report = Report(id=sibling(job.id, "rpt"), workspace_id=dataset.workspace_id, job_id=job.id,
                        train_dataset_id=dataset.id, synthetic_source={}, classifier="small-cnn", summary={},
                        plots=[], gradcam=[])
        session.add(report)
    paths = {"datasets": dataset.id, "models": model.id, "batches": batch.id, "reports": report.id}
    for top, resource_id in paths.items():
        store.put_bytes(f"{top}/{resource_id}/a.bin", b"x")
        store.put_bytes(f"{top}/{resource_id}/b/c.bin", b"x")
    for top, resource_id in paths.items():
        before = len(list(store.list_keys(f"{top}/")))
        assert api.delete(f"/v1/{top}/{resource_id}").status_code == 204
        assert list(store.list_keys(f"{top}/{resource_id}/")) == []
        assert len(list(store.list_keys(f"{top}/"))) == before - 2, top


def test_the_workers_sweep_removes_an_abandoned_upload(stack):
    from core.storage import get_store

    store = get_store()
    orphan = f"datasets/{old_id('ds')}/images/a/1.png"
    young = f"datasets/{old_id('ds', 1)}/images/a/1.png"
    store.put_bytes(orphan, b"x")
    store.put_bytes(young, b"x")
    wait_until(lambda: not store.exists(orphan), 30, what="the worker's sweep to remove the orphaned upload")
    assert store.exists(young)
    store.delete(young)
