"""`defectgen models | batches | reports | backbones ...`: what jobs made, and imported weights."""
from __future__ import annotations

from pathlib import Path

import click

from cli.user import cell, class_counts, json_option, present, print_json, print_table, with_client
from defectgen.client import Client

out_option = click.option("--out", type=click.Path(path_type=Path), default=Path("."), show_default=True,
                          help="A file, or a directory for the server's file name.")


@click.group()
def models() -> None:
    """Generators, translators and classifiers."""


@models.command("list")
@click.option("--limit", type=int, help="At most this many, newest first [default: all].")
@json_option
@with_client
def models_list(client: Client, limit: int | None, as_json: bool) -> None:
    found = client.list_models(limit=limit)
    if as_json:
        return print_json(found)
    print_table(([m.id, m.kind, m.architecture, m.resolution, ", ".join(m.classes), m.step, ", ".join(m.flags),
                  m.created_at] for m in found),
                ("id", "kind", "architecture", "res", "classes", "step", "flags", "created"))


@models.command("show")
@click.argument("model_id")
@json_option
@with_client
def models_show(client: Client, model_id: str, as_json: bool) -> None:
    model = client.get_model(model_id)
    present(model, as_json)


@models.command("delete")
@click.argument("model_id")
@with_client
def models_delete(client: Client, model_id: str) -> None:
    client.delete_model(model_id)
    click.echo(f"deleted {model_id}")


@models.command("download")
@click.argument("model_id")
@out_option
@with_client
def models_download(client: Client, model_id: str, out: Path) -> None:
    """The model's checkpoint (safetensors)."""
    click.echo(client.download_checkpoint(model_id, out))


@models.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--architecture", help="A classifier architecture: PATH is a plain state dict of it.")
@click.option("--id-only", is_flag=True)
@json_option
@with_client
def models_import(client: Client, path: Path, architecture: str | None, id_only: bool, as_json: bool) -> None:
    """Import a safetensors checkpoint."""
    model = client.import_model(path, architecture=architecture)
    if id_only:
        click.echo(model.id)
    elif as_json:
        print_json(model)
    else:
        click.echo(f"model {model.id}: {model.kind} {model.architecture}, classes {', '.join(model.classes)}")


@click.group()
def batches() -> None:
    """Generated and translated images."""


@batches.command("list")
@click.option("--limit", type=int, help="At most this many, newest first [default: all].")
@json_option
@with_client
def batches_list(client: Client, limit: int | None, as_json: bool) -> None:
    found = client.list_batches(limit=limit)
    if as_json:
        return print_json(found)
    print_table(([b.id, b.model_id, b.count, class_counts(b.classes), b.created_at] for b in found),
                ("id", "model", "images", "classes", "created"))


@batches.command("show")
@click.argument("batch_id")
@json_option
@with_client
def batches_show(client: Client, batch_id: str, as_json: bool) -> None:
    batch = client.get_batch(batch_id)
    present(batch, as_json)


@batches.command("delete")
@click.argument("batch_id")
@with_client
def batches_delete(client: Client, batch_id: str) -> None:
    client.delete_batch(batch_id)
    click.echo(f"deleted {batch_id}")


@batches.command("download")
@click.argument("batch_id")
@out_option
@with_client
def batches_download(client: Client, batch_id: str, out: Path) -> None:
    """The batch as a zip: a folder per class and manifest.csv."""
    click.echo(client.download_batch(batch_id, out))


@click.group()
def reports() -> None:
    """Augmentation reports."""


@reports.command("list")
@click.option("--limit", type=int, help="At most this many, newest first [default: all].")
@json_option
@with_client
def reports_list(client: Client, limit: int | None, as_json: bool) -> None:
    found = client.list_reports(limit=limit)
    if as_json:
        return print_json(found)
    print_table(([r.id, r.train_dataset_id, r.classifier, r.summary.get("repeats"), r.created_at] for r in found),
                ("id", "dataset", "classifier", "repeats", "created"))


def _mean_ci(stat: dict | None) -> str:
    if not stat:
        return "-"
    low, high = stat.get("ci95") or (None, None)
    return f"{cell(stat.get('mean'))} [{cell(low)}, {cell(high)}]"


@reports.command("show")
@click.argument("report_id")
@json_option
@with_client
def reports_show(client: Client, report_id: str, as_json: bool) -> None:
    """Accuracy and macro-F1 per setting (mean and 95% CI) and the uplift over real-only."""
    report = client.get_report(report_id)
    if as_json:
        return print_json(report)
    click.echo(f"report {report.id} ({report.classifier}, {report.summary.get('repeats')} repeats, "
               f"{report.summary.get('test_images')} test images)")
    rows = []
    for s in report.summary.get("settings", []):
        uplift = (s.get("uplift") or {}).get("accuracy")
        rows.append([s["key"], _mean_ci(s.get("accuracy")), _mean_ci(s.get("macro_f1")), _mean_ci(uplift),
                     uplift.get("p_value") if uplift else None, uplift.get("significant") if uplift else None])
    print_table(rows, ("setting", "accuracy", "macro F1", "accuracy uplift", "p", "significant"))


@reports.command("delete")
@click.argument("report_id")
@with_client
def reports_delete(client: Client, report_id: str) -> None:
    client.delete_report(report_id)
    click.echo(f"deleted {report_id}")


@reports.command("download")
@click.argument("report_id")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@with_client
def reports_download(client: Client, report_id: str, out: Path) -> None:
    """Every plot and Grad-CAM grid of the report, as PNG files in --out."""
    report = client.get_report(report_id)
    out.mkdir(parents=True, exist_ok=True)
    for name in report.plots:
        click.echo(client.download_report_plot(report.id, name, out))
    for setting in report.gradcam:
        click.echo(client.download_gradcam(report.id, setting, out))


@click.group()
def backbones() -> None:
    """Domain feature extractors (TorchScript) for metrics."""


@backbones.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default="domain", show_default=True)
@click.option("--in-channels", type=click.Choice(["1", "3"]), default="3", show_default=True)
@click.option("--id-only", is_flag=True)
@json_option
@with_client
def backbones_import(client: Client, path: Path, name: str, in_channels: str, id_only: bool, as_json: bool) -> None:
    backbone = client.import_backbone(path, name=name, in_channels=int(in_channels))
    if id_only:
        click.echo(backbone.id)
    else:
        present(backbone, as_json)


@backbones.command("list")
@json_option
@with_client
def backbones_list(client: Client, as_json: bool) -> None:
    found = client.list_backbones()
    if as_json:
        return print_json(found)
    print_table(([b.id, b.name, b.feature_dim, b.in_channels, b.created_at] for b in found),
                ("id", "name", "features", "channels", "created"))


@backbones.command("delete")
@click.argument("backbone_id")
@with_client
def backbones_delete(client: Client, backbone_id: str) -> None:
    client.delete_backbone(backbone_id)
    click.echo(f"deleted {backbone_id}")


GROUPS = (models, batches, reports, backbones)
