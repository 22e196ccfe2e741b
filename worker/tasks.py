"""One thin Celery task per job kind; each hands its job id to the runner with the kind's handler."""
from __future__ import annotations

from core.queue import get_celery, task_name
from worker.runner import run_job

app = get_celery()


@app.task(name=task_name("train"))
def train(job_id: str) -> None:
    from worker.jobs.train import run_train

    run_job(job_id, run_train)


@app.task(name=task_name("generate"))
def generate(job_id: str) -> None:
    from worker.jobs.generate import run_generate

    run_job(job_id, run_generate)


@app.task(name=task_name("evaluate"))
def evaluate(job_id: str) -> None:
    from worker.jobs.evaluate import run_evaluate

    run_job(job_id, run_evaluate)


@app.task(name=task_name("augmentation_report"))
def augmentation_report(job_id: str) -> None:
    from worker.jobs.report import run_augmentation_report

    run_job(job_id, run_augmentation_report)
