"""The train job: dataset from storage -> models.training.train_gan -> a registered model.

The model's object is the sampling network alone (a generator snapshot); D's weights are kept beside it for
fine-tunes. The job's training checkpoint is kept while the job can still resume and deleted once it succeeds.
With `eval_every`, the generator is measured every so many steps and the model registered is the best
snapshot by `eval_metric`, not the last: GANs on a few hundred images overfit. At every sample grid the
generator's diversity is measured in the auto backbone (worker/collapse.py); the model's is that of the snapshot
it registers. With `holdout` it trains on the split's training part and scores the model against the held-out
part (worker/sweep_scoring.py); `max_minutes` ends training early at a step that it then registers, and
`continue_from_job_id` resumes from the checkpoint another job kept (`keep_checkpoint`).
"""
from __future__ import annotations

import time

from pydantic import ValidationError

from core.kinds._backbones import AUTO
from core.kinds.train import gan_config
from core.splits import stratified_split
from core.storage_keys import (
    best_snapshot_key,
    checkpoint_key,
    model_discriminator_key,
    model_key,
    sample_key,
)
from core.tables import Dataset, RegisteredModel
from models.architectures import get_architecture
from models.checkpoint import CheckpointError, read_checkpoint
from models.metrics.builtin.diversity import COLLAPSE_THRESHOLD
from models.monitor import Monitor, Stopped
from models.snapshot import load_sampler, model_info, read_pretrained
from models.training import GanCallbacks, train_gan
from worker.collapse import DiversityProbe, collapse_flags, figures
from worker.generator_quality import Evaluator
from worker.inputs import load_row, load_training_images, torch_device
from worker.runner import JobContext, JobFailed, Outcome
from worker.sweep_scoring import score_holdout, training_part
from worker.translation_inputs import load_translation_images, translation_datasets


class BestSnapshot:
    """Measures snapshots (and their diversity, with a probe) and keeps the best one (lowest FID or KID) in the
    store; survives resumes."""

    def __init__(self, ctx: JobContext, evaluator: Evaluator, device: str, probe: DiversityProbe | None) -> None:
        self.ctx, self.evaluator, self.device, self.probe = ctx, evaluator, device, probe
        self.metric = ctx.params.eval_metric
        self.key = best_snapshot_key(ctx.job_id)
        self.best: tuple[float, int] | None = None
        self.quality: dict[str, float] = {}  # the best snapshot's diversity figures
        if ctx.store.exists(self.key):  # resumed: the stored best carries its own step
            step = model_info(ctx.store.get_bytes(self.key))["step"]
            data = ctx.event_data("eval", step)
            self.best, self.quality = (data["value"], step), figures(data)

    def __call__(self, step: int, snapshot: bytes) -> None:
        p = self.ctx.params
        sampler = load_sampler(snapshot, self.device)
        result = self.evaluator.run(sampler, [self.metric], p.eval_samples, p.seed)
        quality = figures(self.probe.measure(sampler)) if self.probe else {}
        value = result["metrics"][self.metric][self.metric]
        best = value is not None and (self.best is None or value < self.best[0])
        if best:
            self.ctx.store.put_bytes(self.key, snapshot)
            self.best, self.quality = (value, step), quality
        self.ctx.event("eval", {"metric": self.metric, "value": value, "best": best, "backbone": result["backbone"],
                                "backbone_fingerprint": result["backbone_fingerprint"],
                                "num_real": result["num_real"], "num_fake": result["num_fake"], **quality}, step)

    def snapshot(self) -> bytes:
        return self.ctx.store.get_bytes(self.key)


def handle(ctx: JobContext) -> Outcome:
    p, store = ctx.params, ctx.store
    dataset = load_row(ctx, Dataset, p.dataset_id, "dataset")
    base = load_row(ctx, RegisteredModel, p.base_model_id, "base_model") if p.base_model_id else None
    translator = get_architecture(p.architecture).translator
    classes, source = translation_datasets(ctx, p, dataset) if translator else (
        [c["name"] for c in dataset.classes], None)
    device = torch_device(ctx.settings)
    try:
        config = gan_config(p, classes, device)
    except ValidationError as exc:  # the API checked it; an architecture changed since the job was queued
        raise JobFailed("bad_params", str(exc)) from None
    monitor = ctx.monitor()
    monitor.report(0, config.steps, "loading dataset")
    if translator:
        images, labels = load_translation_images(store, dataset, source, classes, config.resolution,
                                                 config.channels, config.crop)
    else:
        images, labels = load_training_images(store, dataset, config.resolution, config.channels, config.crop)
    loaded = (images, labels)  # the whole dataset, which evaluators compare with
    split = None
    if p.holdout is not None:
        split = stratified_split(labels, p.holdout.fraction, p.holdout.seed)
        images, labels = training_part(images, labels, split[0])
    ckpt_key = checkpoint_key(ctx.job_id)
    resume = store.get_bytes(ckpt_key) if store.exists(ckpt_key) else None
    if resume is None and p.continue_from_job_id:
        earlier = checkpoint_key(p.continue_from_job_id)
        if not store.exists(earlier):
            raise JobFailed("checkpoint_missing", f"job {p.continue_from_job_id} no longer has a checkpoint")
        resume = store.get_bytes(earlier)
    pretrained = None
    try:
        if resume is not None:
            ctx.event("resumed", {"attempt": ctx.attempt}, read_checkpoint(resume).step)
        elif base is not None:
            d_key = model_discriminator_key(base.id)
            pretrained = read_pretrained(store.get_bytes(base.object_key),
                                         store.get_bytes(d_key) if store.exists(d_key) else None)
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", f"cannot start from the stored weights: {exc}") from None
    probe = auto = None
    if len(classes) >= 2 and not translator:  # the auto backbone is a classifier of the classes
        monitor.report(0, config.steps, "auto backbone")
        auto = Evaluator(ctx, dataset, AUTO, device, config.resolution, config.channels, config.crop, loaded)
        probe = DiversityProbe(ctx, auto, config)
    best = None
    if p.eval_every:
        evaluator = auto if auto is not None and p.eval_backbone == AUTO else \
            Evaluator(ctx, dataset, p.eval_backbone, device, config.resolution, config.channels, config.crop, loaded)
        best = BestSnapshot(ctx, evaluator, device, probe)

    def save_checkpoint(step: int, blob: bytes) -> None:
        store.put_bytes(ckpt_key, blob)
        ctx.event("checkpoint", {"size_bytes": len(blob)}, step)

    def save_sample(step: int, png: bytes) -> None:
        store.put_bytes(sample_key(ctx.job_id, step), png)
        ctx.event("sample", {}, step)

    callbacks = GanCallbacks(save_checkpoint=save_checkpoint, save_sample=save_sample, evaluate=best,
                             eval_every=p.eval_every or 0, measure=probe)
    deadline = None if p.max_minutes is None else time.monotonic() + p.max_minutes * 60
    timed = Monitor(lambda pr: monitor.report(pr.step, pr.total, pr.message, pr.metrics),
                    lambda: ctx.should_stop() or (deadline is not None and time.monotonic() > deadline))
    try:
        try:
            result = train_gan(config, images, labels, callbacks, timed, resume_from=resume, pretrained=pretrained)
        except Stopped as stop:
            if ctx.should_stop() or stop.state is None:
                raise
            # Out of time: the same run, ended at the step reached (sample grid, checkpoint, snapshot).
            reached = read_checkpoint(stop.state).step
            result = train_gan(config.replace(steps=reached), images, labels, callbacks, monitor,
                               resume_from=stop.state)
    except Stopped as stop:
        if ctx.shutdown.is_set() and stop.state is not None:  # the next worker resumes from here
            save_checkpoint(read_checkpoint(stop.state).step, stop.state)
        raise
    except CheckpointError as exc:
        raise JobFailed("bad_checkpoint", str(exc)) from None
    snapshot, step, metrics = result.snapshot, result.step, dict(ctx.metrics)
    quality = figures(probe.latest) if probe else {}
    if best and best.best:
        snapshot, step, quality = best.snapshot(), best.best[1], best.quality
        metrics[best.metric] = best.best[0]
    flags = collapse_flags(quality.get("diversity"))
    if probe:
        ctx.metrics = {**ctx.metrics, **quality, "collapsed": bool(flags)}
        metrics.update(quality, collapsed=bool(flags))
    if flags:
        ctx.event("collapse", {"diversity": quality["diversity"], "threshold": COLLAPSE_THRESHOLD}, step)
    # The id derives from the job's, so a retry after a crash overwrites rather than orphans the object.
    model_id = "mdl_" + ctx.job_id.removeprefix("job_")
    store.put_bytes(model_discriminator_key(model_id), result.discriminator)
    store.put_bytes(model_key(model_id), snapshot)
    model = RegisteredModel(
        id=model_id, workspace_id=ctx.workspace_id, kind="translator" if translator else "generator",
        architecture=config.architecture,
        dataset_id=dataset.id, config=result.config.to_dict(),
        job_id=ctx.job_id, classes=classes, resolution=config.resolution, channels=config.channels,
        step=step, metrics=metrics, flags=flags, object_key=model_key(model_id), size_bytes=len(snapshot),
    )
    extra = {} if probe or translator else {
        "warnings": ['diversity is not measured: backbone "auto" needs at least 2 classes']}
    if split is not None and auto is not None:
        monitor.report(result.step, config.steps, "scoring against the held-out images")
        holdout = (p.holdout.fraction, p.holdout.seed)
        uplift = p.holdout_uplift.model_dump() if p.holdout_uplift else None
        extra["holdout"] = score_holdout(ctx, auto, loaded, holdout, *split, snapshot, p.holdout.num_samples,
                                         p.holdout.seed, device, uplift)
        ctx.event("holdout", extra["holdout"], step)
    monitor.report(result.step, config.steps, "done")
    return Outcome({"model_id": model_id, "step": step, **extra}, [model], keep_checkpoint=p.keep_checkpoint)
