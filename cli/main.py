"""The `defectgen` command line."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from cli.datasets import datasets
from cli.jobs import jobs
from cli.keys import keys
from cli.resources import GROUPS
from cli.submit import COMMANDS
from cli.sweep import sweep
from cli.user import with_client
from core.settings import get_settings
from defectgen.client import Client

host_option = click.option("--host", default="127.0.0.1", show_default=True, envvar="DEFECTGEN_HOST",
                           show_envvar=True, help="Address to listen on.")
port_option = click.option("--port", default=8000, show_default=True, type=int, envvar="DEFECTGEN_PORT",
                           show_envvar=True, help="Port to listen on.")


@click.group()
def cli() -> None:
    """defectgen: GAN-generated, labelled training images for small defect datasets."""


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    from core.migrate import upgrade_head

    upgrade_head()


@cli.command()
@host_option
@port_option
@click.option("--migrate/--no-migrate", "run_migrations", default=True, show_default=True)
def api(host: str, port: int, run_migrations: bool) -> None:
    """Serve the REST API alone."""
    import uvicorn

    if run_migrations:
        from core.migrate import upgrade_head

        upgrade_head()
    uvicorn.run("api.main:app", host=host, port=port, log_level="info")


@cli.command()
@click.option("--queues", default="gpu,cpu", show_default=True, help="Celery queues to consume.")
@click.option("--concurrency", default=1, show_default=True, type=int)
@click.option("--name", default=None, help="Celery node name [default: defectgen@<host>.<pid>].")
def worker(queues: str, concurrency: int, name: str | None) -> None:
    """Run a Celery worker alone."""
    from worker.celery_app import app

    node = name or f"defectgen@%h.{os.getpid()}"  # the pid keeps several workers on one host apart
    app.worker_main(["worker", "-Q", queues, "-c", str(concurrency), "--loglevel=INFO", "-n", node])


def _bootstrap_key() -> str:
    """The key from DEFECTGEN_BOOTSTRAP_API_KEY, else one kept in DATA_DIR so it survives restarts."""
    settings = get_settings()
    if settings.bootstrap_api_key:
        return settings.bootstrap_api_key.get_secret_value()
    path = settings.data_dir / "bootstrap-api-key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text("dg_" + secrets.token_urlsafe(32))
    return path.read_text().strip()


@cli.command()
@host_option
@port_option
def serve(host: str, port: int) -> None:
    """Migrate, then run the API and a worker until Ctrl-C."""
    from core.migrate import upgrade_head

    upgrade_head()
    env = {**os.environ, "DEFECTGEN_BOOTSTRAP_API_KEY": _bootstrap_key()}
    me = [sys.executable, "-m", "cli.main"]
    children = [
        subprocess.Popen([*me, "api", "--host", host, "--port", str(port), "--no-migrate"], env=env),
        subprocess.Popen([*me, "worker"], env=env),
    ]
    click.echo(f"defectgen is serving at http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    click.echo(f"API key (workspace 'default'): {env['DEFECTGEN_BOOTSTRAP_API_KEY']}")

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    sys.exit(max(child.returncode or 0 for child in children))


cli.add_command(keys)


@cli.group()
def weights() -> None:
    """Manage the Inception weights that FID, KID and IS are defined on."""


@weights.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Import a file that is not the 2015-12-05 FID weights.")
def weights_import(path: Path, force: bool) -> None:
    """Check PATH (pt_inception-2015-12-05-6726825d.pth) and keep it in the object store."""
    from core.storage import get_store
    from core.weights import WeightsError, import_inception

    try:
        meta = import_inception(get_store(), path, force=force)
    except WeightsError as exc:
        raise click.ClickException(str(exc)) from None
    note = "" if meta["official"] else " (not the official FID weights: scores are not comparable with published ones)"
    click.echo(f"imported {path.name}, sha256 {meta['sha256']}{note}")


@cli.command("sample-data")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--per-class", default=50, show_default=True, type=int)
@click.option("--size", default=200, show_default=True, type=int, help="Image side in pixels.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--clean", is_flag=True, help="Add a defect-free class, clean (procedural clean steel surface): "
                                            "the good parts a cyclegan translates into defects.")
def sample_data(out: Path, per_class: int, size: int, seed: int, clean: bool) -> None:
    """Write procedural NEU-style steel-surface images (six classes) as a zip of class folders."""
    from core.sample_data import CLEAN_CLASS, NEU_CLASSES, write_sample_archive

    classes = (*NEU_CLASSES, CLEAN_CLASS) if clean else NEU_CLASSES
    write_sample_archive(out, per_class=per_class, size=size, seed=seed, classes=classes)
    click.echo(f"wrote {out}")


@cli.command()
@click.option("--steps", default=300, show_default=True, type=int)
@click.option("--resolution", default=32, show_default=True, type=int)
@click.option("--per-class", default=4, show_default=True, type=int, help="Images to generate per class.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Where the generated batch's zip goes.")
@with_client
def demo(client: Client, steps: int, resolution: int, per_class: int, out: Path) -> None:
    """Upload the sample set, train, generate and download against a running server."""
    from cli.demo import run_demo

    run_demo(client, steps=steps, resolution=resolution, per_class=per_class, out=out, echo=click.echo)


for user_command in (datasets, jobs, *COMMANDS, sweep, *GROUPS):
    cli.add_command(user_command)


if __name__ == "__main__":
    cli()
