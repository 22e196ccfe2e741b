"""Celery entry point: `celery -A worker.celery_app worker -Q gpu,cpu`."""
from __future__ import annotations

from celery.signals import worker_ready, worker_shutdown

from core.queue import get_celery
from worker import recovery

app = get_celery()
app.autodiscover_tasks(["worker"], related_name="tasks", force=True)


@worker_ready.connect
def _start_recovery(**_: object) -> None:
    recovery.start()


@worker_shutdown.connect
def _stop_recovery(**_: object) -> None:
    recovery.stop()
