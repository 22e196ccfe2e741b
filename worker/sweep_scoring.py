"""Held-out scores of a generator: what a sweep ranks and disqualifies its candidates by. A train job with
`holdout` trains on the training part of a stratified, seeded split and scores its model here at its end.

- KID and FID against the held-out images, in the auto backbone (worker/generator_quality.py). The backbone must
  not have seen them either: for the auto backbone's own split (AUTO_SPLIT, the sweep's default) it is the train
  job's backbone, for another split one trained on that split's training part.
- diversity against the held-out images, the collapse measure (models/metrics/builtin/diversity.py);
- memorisation against the images the generator trained on (models/metrics/builtin/memorisation.py): the share
  of generated images that are near-copies of one of them.
"""
from __future__ import annotations

from typing import Any

import torch

from core.kinds._backbones import AUTO
from models.data import TrainingImages
from models.metrics.evaluate import extract_feature_set
from models.snapshot import load_sampler
from worker.generator_quality import AUTO_SPLIT, Evaluator
from worker.runner import JobContext

SCORES = ("kid", "fid", "diversity", "near_copy_fraction")


def training_part(images: torch.Tensor | TrainingImages, labels: torch.Tensor,
                  index: torch.Tensor) -> tuple[torch.Tensor | TrainingImages, torch.Tensor]:
    """The images at `index` (a split's training part), in either form load_training_images gives."""
    if isinstance(images, TrainingImages):
        return TrainingImages(images.pixels[index], images.sizes[index], images.resolution), labels[index]
    return images[index], labels[index]


def score_holdout(ctx: JobContext, evaluator: Evaluator, loaded: tuple[torch.Tensor | TrainingImages, torch.Tensor],
                  split: tuple[float, int], train: torch.Tensor, test: torch.Tensor, snapshot: bytes,
                  num_samples: int, seed: int, device: str) -> dict[str, Any]:
    """`evaluator`: the train job's auto-backbone evaluator over the whole dataset, `loaded` as it was given;
    train/test: the split's indices into the dataset's images. Returns the figures in SCORES and sample counts."""
    if split != AUTO_SPLIT:
        dataset, (resolution, channels, crop) = evaluator.dataset, evaluator.size
        evaluator = Evaluator(ctx, dataset, AUTO, device, resolution, channels, crop, loaded, split)
    images, labels = evaluator.images()
    held_out = extract_feature_set(evaluator.backbone, images[test], labels[test], evaluator.class_names)
    trained_on = extract_feature_set(evaluator.backbone, images[train], labels[train], evaluator.class_names)
    sampler = load_sampler(snapshot, device)
    quality = evaluator.run(sampler, ["kid", "fid", "diversity"], num_samples, seed, real=held_out)["metrics"]
    copies = evaluator.run(sampler, ["memorisation"], num_samples, seed, real=trained_on)["metrics"]["memorisation"]
    return {"kid": quality["kid"]["kid"], "kid_std": quality["kid"]["kid_std"], "fid": quality["fid"]["fid"],
            "diversity": quality["diversity"]["diversity"], "near_copy_fraction": copies["near_copy_fraction"],
            "num_held_out": len(test), "num_trained_on": len(train), "num_fake": num_samples,
            "backbone": AUTO, "backbone_fingerprint": evaluator.backbone.fingerprint}
