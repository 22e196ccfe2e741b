"""`defectgen train | generate | evaluate | report | translate`: submit a job, and with --wait follow it.

Each takes its kind's common parameters as options and any other as `--param KEY=VALUE` (or `--params JSON`);
the README lists them all. `--id-only` prints the job's id, or with --wait the id of what it made (model,
batch or report), so that a shell can chain the commands.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.jobs import interval_option, outcome_line, quiet_option, result_id, watch_job
from cli.user import json_option, parse_params, print_json, with_client
from defectgen.client import Client
from defectgen.schemas import Job


def job_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every submit command has; the command returns (kind, params) and this submits it."""

    @click.option("--param", "param_pairs", multiple=True, metavar="KEY=VALUE",
                  help="Any other parameter; VALUE is read as JSON where it is JSON (10, true, [0, 100]).")
    @click.option("--params", "params_json", metavar="JSON", help="Parameters as a JSON object.")
    @click.option("--idempotency-key", help="Submitting again with this key and the same parameters within 24 h "
                                            "answers with the first job.")
    @click.option("--wait", is_flag=True, help="Follow the job until it ends; exit status 1 unless it succeeded.")
    @quiet_option
    @interval_option
    @click.option("--id-only", is_flag=True, help="Print only an id: the job's, or with --wait its result's.")
    @json_option
    @with_client
    @functools.wraps(command)
    def run(client: Client, param_pairs: tuple[str, ...], params_json: str | None, idempotency_key: str | None,
            wait: bool, quiet: bool, interval: float, id_only: bool, as_json: bool, **options: Any) -> None:
        out: Path | None = options.pop("out", None)
        kind, params = command(**options)
        given = {k: v for k, v in params.items() if v is not None}
        job = client.submit_job(kind, {**given, **parse_params(param_pairs, params_json)},
                                idempotency_key=idempotency_key)
        waited = wait or out is not None
        if waited:
            job = watch_job(client, job, quiet=quiet, interval=interval)
        print_outcome(client, job, id_only=id_only, as_json=as_json, out=out, waited=waited)

    return run


def print_outcome(client: Client, job: Job, *, id_only: bool, as_json: bool, out: Path | None, waited: bool) -> None:
    downloaded = None
    if out is not None and job.result and job.result.get("batch_id"):
        out.mkdir(parents=True, exist_ok=True)
        downloaded = client.download_batch(job.result["batch_id"], out)
    if id_only:
        click.echo(result_id(job) if waited else job.id)
    elif as_json:
        print_json(job)
    else:
        click.echo(outcome_line(job))
    if downloaded is not None and not id_only:
        click.echo(f"wrote {downloaded}", err=as_json)


out_option = click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                          help="Wait, then download the batch into this folder as <batch id>.zip.")


@click.command()
@click.argument("dataset_id")
@click.option("--architecture", help="cdcgan [default; on a few-shot set of 64 px or more, preset few-shot-textures' "
                                     "singan], dcgan, stylegan2-ada, fastgan, cfastgan, began, cbegan, singan, "
                                     "cyclegan.")
@click.option("--steps", type=int)
@click.option("--resolution", type=int)
@click.option("--base-model", help="Fine-tune from this generator.")
@job_options
def train(dataset_id: str, architecture: str | None, steps: int | None, resolution: int | None,
          base_model: str | None) -> tuple[str, dict[str, Any]]:
    """Train a generator on DATASET_ID."""
    return "train", {"dataset_id": dataset_id, "architecture": architecture, "steps": steps,
                     "resolution": resolution, "base_model_id": base_model}


@click.command()
@click.argument("model_id")
@click.option("--count-per-class", type=int)
@click.option("--count", "counts", multiple=True, metavar="CLASS=N", help="Images of one class (repeatable).")
@click.option("--seed", type=int)
@out_option
@job_options
def generate(model_id: str, count_per_class: int | None, counts: tuple[str, ...],
             seed: int | None) -> tuple[str, dict[str, Any]]:
    """Generate a labelled batch from MODEL_ID."""
    per_class = parse_params(counts) or None
    return "generate", {"model_id": model_id, "count_per_class": count_per_class, "counts": per_class, "seed": seed}


@click.command()
@click.argument("model_id")
@click.argument("dataset_id")
@click.option("--metric", "metrics", multiple=True, help="fid, kid, diversity, is, precision, recall, memorisation, "
                                                         "sifid (repeatable).")
@click.option("--num-samples", type=int)
@click.option("--backbone")
@job_options
def evaluate(model_id: str, dataset_id: str, metrics: tuple[str, ...], num_samples: int | None,
             backbone: str | None) -> tuple[str, dict[str, Any]]:
    """Measure MODEL_ID's images against DATASET_ID's."""
    return "evaluate", {"model_id": model_id, "dataset_id": dataset_id, "metrics": list(metrics) or None,
                        "num_samples": num_samples, "backbone": backbone}


def _counts(text: str | None) -> list[int] | None:
    try:
        return [int(n) for n in text.split(",")] if text else None
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list like 0,100,300", param_hint="--synthetic-per-class") from None


@click.command("report")
@click.argument("train_dataset_id")
@click.option("--model", "model_id", help="Generate the synthetic images from this generator.")
@click.option("--batch", "batch_id", help="Or take them from this batch.")
@click.option("--test-dataset", "test_dataset_id")
@click.option("--test-fraction", type=float)
@click.option("--synthetic-per-class", help="Comma-separated, e.g. 0,100,300.")
@click.option("--classifier", help="small-cnn [default], resnet18, mobilenet_v2.")
@click.option("--epochs", type=int)
@click.option("--repeats", type=int)
@job_options
def augmentation_report(train_dataset_id: str, model_id: str | None, batch_id: str | None,
                        test_dataset_id: str | None, test_fraction: float | None, synthetic_per_class: str | None,
                        classifier: str | None, epochs: int | None, repeats: int | None) -> tuple[str, dict[str, Any]]:
    """Does synthetic data help? An augmentation report on TRAIN_DATASET_ID."""
    return "augmentation_report", {
        "train_dataset_id": train_dataset_id, "model_id": model_id, "batch_id": batch_id,
        "test_dataset_id": test_dataset_id, "test_fraction": test_fraction,
        "synthetic_per_class": _counts(synthetic_per_class), "classifier": classifier, "epochs": epochs,
        "repeats": repeats}


@click.command()
@click.argument("model_id")
@click.option("--dataset", "dataset_id", help="Translate this dataset's images of --class.")
@click.option("--class", "class_", help="The source class in --dataset.")
@click.option("--source-dataset", "source_dataset_id", help="Or every image of this dataset.")
@click.option("--target-class")
@click.option("--count", type=int)
@out_option
@job_options
def translate(model_id: str, dataset_id: str | None, class_: str | None, source_dataset_id: str | None,
              target_class: str | None, count: int | None) -> tuple[str, dict[str, Any]]:
    """Translate images with a cyclegan MODEL_ID (e.g. good parts into a defect class)."""
    return "translate", {"model_id": model_id, "dataset_id": dataset_id, "class": class_,
                         "source_dataset_id": source_dataset_id, "target_class": target_class, "count": count}


COMMANDS = (train, generate, evaluate, augmentation_report, translate)
