"""`defectgen sweep DATASET_ID --budget-minutes 20 [--candidate ARCH[:BASE_MODEL]] ... --wait`: which generator
helps this dataset (docs/sweep.md); `--wait --json` prints the job with its leaderboard when it ends."""
from __future__ import annotations

from typing import Any

import click

from cli.submit import job_options


def candidate(text: str) -> dict[str, Any]:
    architecture, _, base = text.partition(":")
    return {"architecture": architecture, **({"base_model_id": base} if base else {})}


@click.command()
@click.argument("dataset_id")
@click.option("--budget-minutes", type=float, help="Training minutes of all candidates together.")
@click.option("--budget-steps", type=int, help="Or training steps of all candidates together.")
@click.option("--candidate", "candidates", multiple=True, metavar="ARCH[:BASE_MODEL_ID]",
              help="A candidate (repeatable); default: chosen by the dataset and the device.")
@click.option("--metric", type=click.Choice(["kid", "fid", "uplift"]),
              help="What ranks the candidates [kid]; uplift: a classifier's gain from their images.")
@click.option("--no-halving", is_flag=True, help="Train every candidate its equal share instead.")
@click.option("--confirm", is_flag=True, help="Then an augmentation report of the winner against real images alone.")
@job_options
def sweep(dataset_id: str, budget_minutes: float | None, budget_steps: int | None, candidates: tuple[str, ...],
          metric: str | None, no_halving: bool, confirm: bool) -> tuple[str, dict[str, Any]]:
    """Train candidate generators on DATASET_ID and rank them on held-out images."""
    return "sweep", {"dataset_id": dataset_id, "budget_minutes": budget_minutes, "budget_steps": budget_steps,
                     "candidates": [candidate(c) for c in candidates] or None,
                     "selection": {"metric": metric} if metric else None,
                     "halving": False if no_halving else None, "confirm": True if confirm else None}
