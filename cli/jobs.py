"""`defectgen jobs list | show | watch | cancel | events | samples`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from cli.user import json_option, present, print_json, print_table, with_client
from defectgen.client import Client
from defectgen.errors import JobFailed
from defectgen.progress import JobProgress
from defectgen.schemas import Job

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


RESULT_IDS = {"train": "model_id", "generate": "batch_id", "translate": "batch_id",
              "augmentation_report": "report_id", "sweep": "model_id"}


def made_id(job: Job) -> str | None:
    """The id of what the job made (a model, batch or report), if anything."""
    return (job.result or {}).get(RESULT_IDS.get(job.kind, ""))


def result_id(job: Job) -> str:
    """For --id-only after waiting: what the job made, or the job's own id for kinds that make nothing with an id
    (evaluate)."""
    if job.kind not in RESULT_IDS:
        return job.id
    made = made_id(job)
    if made is None:
        raise click.ClickException(f"job {job.id} {job.status} without a {RESULT_IDS[job.kind]}: {job.result}")
    return made


def outcome_line(job: Job) -> str:
    if job.result is not None:
        return f"job {job.id} {job.status}: {json.dumps(job.result)}"
    return f"job {job.id} {job.status}" + (f" (follow it: defectgen jobs watch {job.id})" if not job.final else "")


def watch_job(client: Client, job: Job, *, quiet: bool = False, interval: float = 1.0) -> Job:
    """Waits for the job with a progress display on stderr (none if quiet); JobFailed unless it succeeded."""
    progress = JobProgress()
    try:
        return client.wait(job, callback=None if quiet else progress, interval=interval)
    finally:
        progress.close()


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress display while waiting.")
interval_option = click.option("--interval", default=1.0, show_default=True, type=float,
                               help="Seconds between polls while waiting.")


@click.group()
def jobs() -> None:
    """Follow and cancel jobs (train, generate, evaluate, augmentation_report, translate)."""


@jobs.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--kind")
@click.option("--parent", "parent_job_id", help="Only the children of this job (a sweep's candidates).")
@click.option("--limit", type=int, default=20, show_default=True, help="At most this many, newest first.")
@json_option
@with_client
def list_(client: Client, status: str | None, kind: str | None, parent_job_id: str | None, limit: int,
          as_json: bool) -> None:
    """The workspace's jobs, newest first."""
    found = client.list_jobs(status=status, kind=kind, parent_job_id=parent_job_id, limit=limit)
    if as_json:
        return print_json(found)
    print_table(([j.id, j.kind, j.status, f"{j.progress.fraction:.0%}", j.created_at, _outcome(j)] for j in found),
                ("id", "kind", "status", "progress", "created", "made"))


def _outcome(job: Job) -> str | None:
    if job.error:
        return job.error.get("code")
    return made_id(job)


@jobs.command("show")
@click.argument("job_id")
@json_option
@with_client
def show(client: Client, job_id: str, as_json: bool) -> None:
    """One job: its status, progress, latest metrics, result or error."""
    job = client.get_job(job_id)
    present(job, as_json)


@jobs.command("watch")
@click.argument("job_id")
@quiet_option
@interval_option
@click.option("--id-only", is_flag=True, help="Print only the id of what the job made (its model, batch or report).")
@json_option
@with_client
def watch(client: Client, job_id: str, quiet: bool, interval: float, id_only: bool, as_json: bool) -> None:
    """Follow a job until it ends, its progress on stderr (exit status 1 unless it succeeded)."""
    try:
        job = watch_job(client, client.get_job(job_id), quiet=quiet, interval=interval)
    except JobFailed as exc:
        if as_json:
            print_json(exc.job)
        raise
    if id_only:
        click.echo(result_id(job))
    else:
        present(job, as_json, line=outcome_line(job))


@jobs.command("cancel")
@click.argument("job_id")
@json_option
@with_client
def cancel(client: Client, job_id: str, as_json: bool) -> None:
    """Cancel a job: a queued one at once, a running one within a step (a final one: 409)."""
    job = client.cancel_job(job_id)
    present(job, as_json, line=f"{job.id} {job.status}: cancellation requested")


@jobs.command("events")
@click.argument("job_id")
@json_option
@with_client
def events(client: Client, job_id: str, as_json: bool) -> None:
    """The job's events, oldest first: status changes, metric history, checkpoints, samples."""
    found = client.job_events(job_id)
    if as_json:
        return print_json(found)
    print_table(([e.created_at, e.type, e.step, e.data] for e in found), ("time", "type", "step", "data"))


@jobs.command("samples")
@click.argument("job_id")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Download every grid into this folder.")
@json_option
@with_client
def samples(client: Client, job_id: str, out: Path | None, as_json: bool) -> None:
    """The sample grids written during training (a row per class)."""
    found = client.job_samples(job_id)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for sample in found:
            click.echo(client.download_sample(job_id, sample.step, out))
    elif as_json:
        print_json(found)
    else:
        print_table(([s.step, s.url, s.created_at] for s in found), ("step", "url", "created"))
