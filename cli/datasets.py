"""`defectgen datasets upload | list | show | delete | preview`."""
from __future__ import annotations

from pathlib import Path

import click

from cli.user import class_counts, json_option, present, print_json, print_table, with_client
from defectgen.client import Client

id_only_option = click.option("--id-only", is_flag=True, help="Print only the dataset's id.")


@click.group()
def datasets() -> None:
    """Upload and manage datasets (zip, tar or tar.gz archives of one folder per class)."""


@datasets.command("upload")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Default: the file's name.")
@click.option("--allow-duplicate", is_flag=True, help="Store it even if the workspace has a dataset of the same "
                                                      "content (otherwise that one is the answer).")
@id_only_option
@json_option
@with_client
def upload(client: Client, path: Path, name: str | None, allow_duplicate: bool, id_only: bool, as_json: bool) -> None:
    """Upload the archive at PATH."""
    dataset = client.upload_dataset(path, name, allow_duplicate=allow_duplicate)
    if id_only:
        click.echo(dataset.id)
    elif as_json:
        print_json(dataset)
    else:
        note = " (the same content was uploaded before: nothing new stored)" if dataset.duplicate else ""
        click.echo(f"dataset {dataset.id} {dataset.name!r}: {dataset.num_images} images, "
                   f"{class_counts(dataset.classes)}{note}")


@datasets.command("list")
@click.option("--limit", type=int, help="At most this many, newest first [default: all].")
@json_option
@with_client
def list_(client: Client, limit: int | None, as_json: bool) -> None:
    """The workspace's datasets, newest first."""
    found = client.list_datasets(limit=limit)
    if as_json:
        return print_json(found)
    print_table(([d.id, d.name, d.num_images, class_counts(d.classes), d.created_at] for d in found),
                ("id", "name", "images", "classes", "created"))


@datasets.command("show")
@click.argument("dataset_id")
@json_option
@with_client
def show(client: Client, dataset_id: str, as_json: bool) -> None:
    """One dataset."""
    dataset = client.get_dataset(dataset_id)
    present(dataset, as_json, skip=("duplicate",))


@datasets.command("delete")
@click.argument("dataset_id")
@with_client
def delete(client: Client, dataset_id: str) -> None:
    """Delete a dataset and its images (refused while a queued or running job uses it)."""
    client.delete_dataset(dataset_id)
    click.echo(f"deleted {dataset_id}")


@datasets.command("preview")
@click.argument("dataset_id")
@click.option("--out", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="A file, or a directory for <id>-preview.png.")
@with_client
def preview(client: Client, dataset_id: str, out: Path) -> None:
    """Download the dataset's preview grid (a row per class) as PNG."""
    click.echo(client.download_dataset_preview(dataset_id, out))
