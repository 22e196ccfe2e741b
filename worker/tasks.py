"""One Celery task per job kind, registered from the kinds' module names alone (see core.kinds); the task
loads the kind's spec and handler inside the job process."""
from __future__ import annotations

import importlib

from core.kinds import get_kind, kind_names
from core.queue import get_celery, task_name
from worker.runner import run_job

app = get_celery()


def _register(kind: str) -> None:
    @app.task(name=task_name(kind))
    def run(job_id: str) -> None:
        handler = importlib.import_module(f"worker.handlers.{kind}").handle
        run_job(job_id, handler, get_kind(kind).parse)


for _kind in kind_names():
    _register(_kind)
