"""The Celery app shared by the API (which only sends) and the workers (which also define the tasks).

Jobs last hours, so messages are acknowledged after the task ends and requeued if its worker dies; the
database lease in core.jobs keeps a redelivered message from running a job twice.
"""
from __future__ import annotations

from functools import lru_cache

from celery import Celery

from core.settings import Settings, get_settings


def task_name(kind: str) -> str:
    return f"defectgen.{kind}"


def celery_config(settings: Settings) -> dict:
    transport: dict = {"visibility_timeout": int(settings.max_job_hours * 3600 + 3600)}
    if settings.is_embedded_broker:
        queue_dir, control_dir = settings.broker_folder / "queue", settings.broker_folder / "control"
        for folder in (queue_dir, control_dir):
            folder.mkdir(parents=True, exist_ok=True)
        transport.update(data_folder_in=str(queue_dir), data_folder_out=str(queue_dir),
                         control_folder=str(control_dir), polling_interval=0.1)
    return dict(
        broker_url=settings.broker_url,
        # The filesystem transport with atomic message writes (core/embedded_broker.py); None: the URL's own.
        broker_transport="core.embedded_broker:Transport" if settings.is_embedded_broker else None,
        broker_transport_options=transport,
        result_backend=settings.result_backend or None,
        result_backend_transport_options=transport,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=1,
        task_default_queue="cpu",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )


@lru_cache
def get_celery() -> Celery:
    app = Celery("defectgen")
    app.conf.update(celery_config(get_settings()))
    return app


def enqueue(job_id: str, kind: str, queue: str) -> None:
    """Every job carries its queue (its kind's spec chose it), so that sending needs no spec."""
    get_celery().send_task(task_name(kind), args=[job_id], queue=queue)
