"""Discriminator augmentation shared by the architectures: ADA (adaptive probability) or DiffAugment (always on),
applied to every image D sees, real and generated, so that D cannot memorise a few dozen training images.

`AugmentOptions` declares the options once; an architecture's Options inherit them (beside ArchitectureOptions) and
may change the defaults.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from models.augment.ada import AdaController, ada_augment
from models.augment.diffaugment import diff_augment

AugmentKind = Literal["auto", "ada", "diffaugment", "none"]
# "auto" augments a training set of fewer images than this: DiffAugment. In the ADA paper (Karras et al. 2020,
# Fig. 1) FFHQ subsets of 2k-50k images overfit without augmentation within the first few million images shown,
# which a few thousand steps here reach; this service's datasets (10-300 images per class) are all far below.
SMALL_DATASET_IMAGES = 20_000


def resolve_augment(kind: str, num_images: int) -> str:
    if kind != "auto":
        return kind
    return "diffaugment" if num_images < SMALL_DATASET_IMAGES else "none"


class AugmentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    augment: AugmentKind = Field("auto", description=(
        "Discriminator augmentation: DiffAugment (colour, translation, cutout, always applied), ADA (applied "
        "with a probability p that adapts to D's overfitting) or none; auto: DiffAugment for a training set "
        f"of fewer than {SMALL_DATASET_IMAGES:,} images, else none."))
    ada_target: float = Field(0.6, gt=0, lt=1, description="ADA's overfitting target r_t.")
    ada_images: int = Field(500_000, ge=1, description="Images for ADA's p to go from 0 to 1.")
    ada_interval: int = Field(4, ge=1, description="Minibatches between updates of ADA's p.")


class DiscriminatorAugment:
    """Augments what D sees; with ADA, `observe` D's logits on real images and `step` once per minibatch."""

    def __init__(self, options: AugmentOptions, device: torch.device | str) -> None:
        # train_gan resolves "auto" for its training set; a trainer built without one is taken to have small data.
        self.kind = "diffaugment" if options.augment == "auto" else options.augment
        self.interval = options.ada_interval
        self.ada = AdaController(options.ada_target, options.ada_images, device) if self.kind == "ada" else None
        self._minibatches = 0

    @property
    def p(self) -> float:
        """The probability of each augmentation: ADA's p; DiffAugment always applies."""
        if self.ada is not None:
            return self.ada.p
        return 1.0 if self.kind == "diffaugment" else 0.0

    def __call__(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.ada is not None:
            return ada_augment(images, self.ada.p, rng)
        if self.kind == "diffaugment":
            return diff_augment(images, rng)
        return images

    def observe(self, real_logits: torch.Tensor) -> None:
        if self.ada is not None:
            self.ada.accumulate(real_logits)

    def step(self, batch_size: int) -> None:
        self._minibatches += 1
        if self.ada is not None and self._minibatches % self.interval == 0:
            self.ada.update(batch_size * self.interval)

    def state_dict(self) -> dict | None:
        if self.ada is None:
            return None
        return {**self.ada.state_dict(), "minibatches": self._minibatches}

    def load_state_dict(self, state: dict | None) -> None:
        if (state is None) != (self.ada is None):
            raise ValueError("the checkpoint's augmentation state does not fit this configuration")
        if state is not None:
            state = dict(state)
            minibatches = state.pop("minibatches", 0)
            if type(minibatches) is not int or minibatches < 0:
                raise ValueError(f"invalid minibatches {minibatches!r}")
            self.ada.load_state_dict(state)  # type: ignore[union-attr]
            self._minibatches = minibatches
