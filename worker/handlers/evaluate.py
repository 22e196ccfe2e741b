"""The evaluate job: a model and a dataset -> quality metrics, on the job and on the model. Measuring diversity
sets the model's collapse flag afresh (worker/collapse.py)."""
from __future__ import annotations

from typing import Any

from core.tables import Dataset, RegisteredModel
from models.config import GanConfig
from models.snapshot import load_sampler
from worker.collapse import collapse_flags
from worker.generator_quality import Evaluator, headline
from worker.inputs import load_row, torch_device
from worker.runner import JobContext, Outcome


def handle(ctx: JobContext) -> Outcome:
    p = ctx.params
    model = load_row(ctx, RegisteredModel, p.model_id, "model")
    dataset = load_row(ctx, Dataset, p.dataset_id, "dataset")
    device = torch_device(ctx.settings)
    ctx.report(0, 2, message="real-image features")
    crop = GanConfig.from_dict(model.config).crop if model.config else "resize"  # rows from before configs
    evaluator = Evaluator(ctx, dataset, p.backbone, device, model.resolution, model.channels, crop)
    ctx.report(1, 2, message="generating and measuring")
    result = evaluator.run(load_sampler(ctx.store.get_bytes(model.object_key), device), p.metrics,
                           p.num_samples, p.seed)
    summary = headline(result)
    outcome: dict[str, Any] = {"metrics": result}
    if "diversity" in summary:
        flags = collapse_flags(summary["diversity"])
        summary["collapsed"] = bool(flags)
        model.flags = outcome["flags"] = flags
    ctx.report(2, 2, summary, message="done")
    model.metrics = {**model.metrics, **summary}  # a new dict, so the change is saved with the job's result
    return Outcome(outcome, [model])
