"""Held-out scores of a generator: what a sweep ranks and disqualifies its candidates by. A train job with
`holdout` trains on the training part of a stratified, seeded split and scores its model here at its end.

- KID and FID against the held-out images, in the auto backbone (worker/generator_quality.py). The backbone must
  not have seen them either: for the auto backbone's own split (AUTO_SPLIT, the sweep's default) it is the train
  job's backbone, for another split one trained on that split's training part.
- diversity against the held-out images, the collapse measure (models/metrics/builtin/diversity.py);
- memorisation against the images the generator trained on (models/metrics/builtin/memorisation.py): the share
  of generated images that are near-copies of one of them;
- with `uplift` (train's holdout_uplift), the uplift: an augmentation report in brief (models/augmentation_report.py)
  of real + synthetic images against real alone, trained on the images the generator trained on and tested on
  the held-out ones, at the generator's resolution.
"""
from __future__ import annotations

from typing import Any

import torch

from core.kinds._backbones import AUTO
from models.augmentation_report import ReportConfig, run_report
from models.classification import ClassifierConfig
from models.data import TrainingImages
from models.metrics.evaluate import extract_feature_set
from models.monitor import Monitor
from models.snapshot import Sampler, load_sampler
from worker.generator_quality import AUTO_SPLIT, Evaluator
from worker.handlers.augmentation_report import ModelSource
from worker.runner import JobContext

SCORES = ("kid", "fid", "diversity", "near_copy_fraction", "uplift")


def training_part(images: torch.Tensor | TrainingImages, labels: torch.Tensor,
                  index: torch.Tensor) -> tuple[torch.Tensor | TrainingImages, torch.Tensor]:
    """The images at `index` (a split's training part), in either form load_training_images gives."""
    if isinstance(images, TrainingImages):
        return TrainingImages(images.pixels[index], images.sizes[index], images.resolution), labels[index]
    return images[index], labels[index]


def score_holdout(ctx: JobContext, evaluator: Evaluator, loaded: tuple[torch.Tensor | TrainingImages, torch.Tensor],
                  split: tuple[float, int], train: torch.Tensor, test: torch.Tensor, snapshot: bytes,
                  num_samples: int, seed: int, device: str, uplift: dict[str, Any] | None = None) -> dict[str, Any]:
    """`evaluator`: the train job's auto-backbone evaluator over the whole dataset, `loaded` as it was given;
    train/test: the split's indices into the dataset's images; `uplift`: train's holdout_uplift, or None. Returns
    the figures in SCORES (uplift only when asked) and sample counts."""
    if split != AUTO_SPLIT:
        dataset, (resolution, channels, crop) = evaluator.dataset, evaluator.size
        evaluator = Evaluator(ctx, dataset, AUTO, device, resolution, channels, crop, loaded, split)
    images, labels = evaluator.images()
    held_out = extract_feature_set(evaluator.backbone, images[test], labels[test], evaluator.class_names)
    trained_on = extract_feature_set(evaluator.backbone, images[train], labels[train], evaluator.class_names)
    sampler = load_sampler(snapshot, device)
    quality = evaluator.run(sampler, ["kid", "fid", "diversity"], num_samples, seed, real=held_out)["metrics"]
    copies = evaluator.run(sampler, ["memorisation"], num_samples, seed, real=trained_on)["metrics"]["memorisation"]
    scores = {"kid": quality["kid"]["kid"], "kid_std": quality["kid"]["kid_std"], "fid": quality["fid"]["fid"],
              "diversity": quality["diversity"]["diversity"], "near_copy_fraction": copies["near_copy_fraction"],
              "num_held_out": len(test), "num_trained_on": len(train), "num_fake": num_samples,
              "backbone": AUTO, "backbone_fingerprint": evaluator.backbone.fingerprint}
    if uplift is not None:
        scores.update(score_uplift(ctx, sampler, evaluator.class_names, (images[train], labels[train]),
                                   (images[test], labels[test]), uplift, seed, device))
    return scores


def score_uplift(ctx: JobContext, sampler: Sampler, class_names: list[str], train: tuple[torch.Tensor, torch.Tensor],
                 test: tuple[torch.Tensor, torch.Tensor], check: dict[str, Any], seed: int,
                 device: str) -> dict[str, Any]:
    """The accuracy uplift of `check["synthetic_per_class"]` generated images per class over the real training
    images alone: the mean paired difference over the repeats, its 95% interval and one-sided p value."""
    config = sampler.config
    classifier = ClassifierConfig(architecture=check["classifier"], class_names=class_names, channels=config.channels,
                                  resolution=config.resolution, epochs=check["epochs"], seed=seed, device=device)
    report = ReportConfig(classifier=classifier, synthetic_per_class=[0, check["synthetic_per_class"]],
                          repeats=check["repeats"], seed=seed, gradcam_samples=0)
    source = ModelSource(sampler, [config.class_names.index(name) for name in class_names], config.resolution,
                         config.channels, 1.0)
    summary = run_report(report, train, test, source, monitor=Monitor(None, ctx.should_stop)).summary
    gain = summary["settings"][1]["uplift"]["accuracy"]
    return {"uplift": gain["mean"], "uplift_ci95": gain["ci95"], "uplift_p_value": gain["p_value"],
            "uplift_real_accuracy": summary["settings"][0]["accuracy"]["mean"]}
