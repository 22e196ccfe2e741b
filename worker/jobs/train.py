"""The train job: dataset from storage -> models.training.train_gan -> a registered model.

With `eval_every`, the generator is measured every so many steps and the model registered is the best
checkpoint by `eval_metric`, not the last: GANs on a few hundred images overfit.
"""
from __future__ import annotations

from core.objects import best_checkpoint_key, checkpoint_key, model_key, sample_key
from core.tables import Dataset, Model
from core.train_config import gan_config
from models.checkpoint import CheckpointError, read_checkpoint
from models.generation import load_sampler
from models.training import TrainCallbacks, train_gan
from worker.jobs.common import load_dataset, load_row, torch_device
from worker.jobs.evaluation import Evaluator
from worker.runner import JobContext, JobFailed, JobStopped, Outcome


class BestCheckpoint:
    """Measures checkpoints and keeps the best one (lowest FID or KID) in the store; survives resumes."""

    def __init__(self, ctx: JobContext, evaluator: Evaluator, device: str) -> None:
        self.ctx, self.evaluator, self.device = ctx, evaluator, device
        self.metric = ctx.params["eval_metric"]
        self.key = best_checkpoint_key(ctx.job_id)
        self.best: tuple[float, int] | None = None
        if ctx.store.exists(self.key):  # resumed: the stored best carries its own step
            step = read_checkpoint(ctx.store.get_bytes(self.key)).step
            self.best = (ctx.event_data("eval", step)["value"], step)

    def __call__(self, step: int, checkpoint: bytes) -> None:
        p = self.ctx.params
        result = self.evaluator.run(load_sampler(checkpoint, self.device), [self.metric], p["eval_samples"],
                                    p["seed"])
        value = result["metrics"][self.metric][self.metric]
        best = value is not None and (self.best is None or value < self.best[0])
        if best:
            self.ctx.store.put_bytes(self.key, checkpoint)
            self.best = (value, step)
        self.ctx.event("eval", {"metric": self.metric, "value": value, "best": best, "backbone": result["backbone"],
                                "num_real": result["num_real"], "num_fake": result["num_fake"]}, step)

    def checkpoint(self) -> bytes:
        return self.ctx.store.get_bytes(self.key)


def run_train(ctx: JobContext) -> Outcome:
    p = ctx.params
    dataset = load_row(ctx, Dataset, p["dataset_id"], "dataset")
    base = load_row(ctx, Model, p["base_model_id"], "base_model") if p.get("base_model_id") else None
    classes = [c["name"] for c in dataset.classes]
    device = torch_device(ctx.settings)
    try:
        config = gan_config(p, classes, device)
    except ValueError as exc:  # the API checked it; an architecture changed since the job was queued
        raise JobFailed("bad_params", str(exc)) from None
    ctx.report(0, config.steps, message="loading dataset")
    images, labels = load_dataset(ctx.store, dataset, config.resolution, config.channels)
    store = ctx.store
    ckpt_key = checkpoint_key(ctx.job_id)
    resume = store.get_bytes(ckpt_key) if store.exists(ckpt_key) else None
    init = store.get_bytes(base.object_key) if base is not None and resume is None else None
    if resume is not None:
        try:
            ctx.event("resumed", {"attempt": ctx.attempt}, read_checkpoint(resume).step)
        except CheckpointError as exc:
            raise JobFailed("bad_checkpoint", f"the job's checkpoint cannot be resumed: {exc}") from None
    best = None
    if p.get("eval_every"):
        evaluator = Evaluator(ctx, dataset, p["eval_backbone"], device, config.resolution, config.channels)
        best = BestCheckpoint(ctx, evaluator, device)

    def save_checkpoint(step: int, blob: bytes) -> None:
        store.put_bytes(ckpt_key, blob)
        ctx.event("checkpoint", {"size_bytes": len(blob)}, step)

    def save_sample(step: int, png: bytes) -> None:
        store.put_bytes(sample_key(ctx.job_id, step), png)
        ctx.event("sample", {}, step)

    callbacks = TrainCallbacks(
        progress=lambda step, total, metrics: ctx.report(step, total, metrics, "training"),
        should_stop=ctx.should_stop,
        save_checkpoint=save_checkpoint,
        save_sample=save_sample,
        evaluate=best,
        eval_every=p.get("eval_every") or 0,
    )
    try:
        result = train_gan(config, images, labels, callbacks, resume_from=resume, init_weights_from=init)
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", str(exc)) from None
    if result.stopped:
        if ctx.shutdown.is_set():
            save_checkpoint(result.step, result.checkpoint)  # the next worker resumes from here
        raise JobStopped()
    chosen, step, metrics = result.checkpoint, result.step, dict(ctx.metrics)
    if best and best.best:
        chosen, step = best.checkpoint(), best.best[1]
        metrics[best.metric] = best.best[0]
    # The id derives from the job's, so a retry after a crash overwrites rather than orphans the object.
    model_id = "mdl_" + ctx.job_id.removeprefix("job_")
    store.put_bytes(model_key(model_id), chosen)
    model = Model(
        id=model_id, workspace_id=ctx.workspace_id, kind="generator", architecture=config.architecture,
        dataset_id=dataset.id, config=config.to_dict(),
        job_id=ctx.job_id, classes=classes, resolution=config.resolution, channels=config.channels,
        step=step, metrics=metrics, object_key=model_key(model_id), size_bytes=len(chosen),
    )
    ctx.report(result.step, config.steps, message="done")
    return Outcome({"model_id": model_id, "step": step}, [model])
