from __future__ import annotations

import pytest
import torch
from torch import nn

from models.classifiers import build_classifier
from models.errors import DataError
from models.filtering import NearCopyDetector, keep_mask, score_images


class FixedLogits(nn.Module):
    """Returns logits[i] for the image whose first pixel is i (inputs arrive in [-1, 1])."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = ((x[:, 0, 0, 0] + 1) * 127.5).round().long()
        return self.logits[index]


def indexed_images(n: int) -> torch.Tensor:
    images = torch.zeros((n, 1, 16, 16), dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    return images


def test_scores_and_filter_modes():
    # Probabilities of class 0 / class 1 for five images, all labelled class 0.
    probs = torch.tensor([[0.95, 0.05], [0.7, 0.3], [0.55, 0.45], [0.4, 0.6], [0.1, 0.9]])
    model = FixedLogits(probs.log())
    labels = torch.zeros(5, dtype=torch.long)
    label_prob, predicted = score_images(model, indexed_images(5), labels)
    assert label_prob == pytest.approx(probs[:, 0].tolist())
    assert predicted.tolist() == [0, 0, 0, 1, 1]
    assert keep_mask("confident", 0.6, label_prob, predicted, labels).tolist() == [True, True, False, False, False]
    # Informative: still classified correctly, but with less than 0.8 certainty.
    assert keep_mask("informative", 0.8, label_prob, predicted, labels).tolist() == [False, True, True, False, False]
    with pytest.raises(ValueError):
        keep_mask("diverse", 0.5, label_prob, predicted, labels)
    with pytest.raises(ValueError):
        keep_mask("confident", 1.5, label_prob, predicted, labels)
    with pytest.raises(DataError):
        score_images(model, indexed_images(5), torch.full((5,), 2))
    with pytest.raises(DataError):
        score_images(model, indexed_images(5), torch.zeros(4, dtype=torch.long))


def test_near_copies_of_training_images_are_flagged():
    gen = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (20, 1, 16, 16), dtype=torch.uint8, generator=gen)
    fresh = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8, generator=gen)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_classifier("small-cnn", 2, 1)
    near, ratios = NearCopyDetector("small-cnn", model, train)(torch.cat([train[[3, 7, 11]], fresh]))
    assert near.tolist() == [True, True, True, False, False, False]
    assert ratios[:3].max() < 1e-3 and ratios[3:].min() > 0.5
    empty_near, empty_ratios = NearCopyDetector("small-cnn", model, train)(train[:0])
    assert empty_near.shape == empty_ratios.shape == (0,)
    with pytest.raises(DataError, match="duplicate"):
        NearCopyDetector("small-cnn", model, train[[0, 0, 0, 1]])
    with pytest.raises(DataError, match="at least 2"):
        NearCopyDetector("small-cnn", model, train[:1])
    with pytest.raises(DataError):
        NearCopyDetector("small-cnn", model, train.float())
