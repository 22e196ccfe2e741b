"""The evaluate job: a model and a dataset -> quality metrics, on the job and on the model."""
from __future__ import annotations

from core.tables import Dataset, Model
from models.generation import load_sampler
from worker.jobs.common import load_row, torch_device
from worker.jobs.evaluation import Evaluator, headline
from worker.runner import JobContext, Outcome


def run_evaluate(ctx: JobContext) -> Outcome:
    p = ctx.params
    model = load_row(ctx, Model, p["model_id"], "model")
    dataset = load_row(ctx, Dataset, p["dataset_id"], "dataset")
    device = torch_device(ctx.settings)
    ctx.report(0, 2, message="real-image features")
    evaluator = Evaluator(ctx, dataset, p["backbone"], device, model.resolution, model.channels)
    ctx.report(1, 2, message="generating and measuring")
    result = evaluator.run(load_sampler(ctx.store.get_bytes(model.object_key), device), p["metrics"],
                           p["num_samples"], p["seed"])
    summary = headline(result)
    ctx.report(2, 2, summary, message="done")
    model.metrics = {**model.metrics, **summary}  # a new dict, so the change is saved with the job's result
    return Outcome({"metrics": result}, [model])
