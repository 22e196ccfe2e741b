"""Celery entry point: `celery -A worker.celery_app worker -Q gpu,cpu`."""
from __future__ import annotations

import os
import signal

from billiard.process import active_children
from celery.signals import worker_ready, worker_shutdown, worker_shutting_down

from core.queue import get_celery
from worker import janitor, recovery, webhook_delivery

app = get_celery()
app.autodiscover_tasks(["worker"], related_name="tasks", force=True)


@worker_ready.connect
def _start_recovery(**_: object) -> None:
    recovery.start()
    janitor.start()
    webhook_delivery.start()


@worker_shutdown.connect
def _stop_recovery(**_: object) -> None:
    recovery.stop()
    janitor.stop()
    webhook_delivery.stop()


@worker_shutting_down.connect
def _hand_back_running_jobs(**_: object) -> None:
    # A warm shutdown would wait for jobs that last hours; SIGTERM makes each job checkpoint and requeue.
    for child in active_children():
        if child.pid:
            os.kill(child.pid, signal.SIGTERM)
