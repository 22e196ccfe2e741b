"""The evaluate job: a model and a dataset -> quality metrics, on the job and on the model."""
from __future__ import annotations

from core.tables import Dataset, RegisteredModel
from models.config import GanConfig
from models.snapshot import load_sampler
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
    ctx.report(2, 2, summary, message="done")
    model.metrics = {**model.metrics, **summary}  # a new dict, so the change is saved with the job's result
    return Outcome({"metrics": result}, [model])
