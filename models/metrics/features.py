"""FeatureSet: the features of one image set under one backbone, with their mean and covariance (float64).

Real-data statistics are cached per dataset and backbone: ``to_bytes`` / ``from_bytes`` use safetensors (no
pickle) with the backbone's name and fingerprint in the metadata; the cache key should hold the fingerprint.
Labels and class names travel with it so that per-class metrics work from the cache too.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import safetensors.torch
import torch

from models.metrics.errors import MetricsError
from models.metrics.frechet import covariance

FORMAT = "defectgen-featureset/1"


@dataclass(frozen=True, eq=False)
class FeatureSet:
    features: torch.Tensor  # float64 [N, D]
    mean: torch.Tensor  # float64 [D]
    covariance: torch.Tensor  # float64 [D, D], unbiased; NaN when N < 2
    backbone: str
    backbone_fingerprint: str
    labels: torch.Tensor | None = None  # int64 [N], indices into class_names
    class_names: tuple[str, ...] | None = None

    @classmethod
    def from_features(cls, features: torch.Tensor, *, backbone: str, backbone_fingerprint: str,
                      labels: torch.Tensor | None = None,
                      class_names: Sequence[str] | None = None) -> FeatureSet:
        features = torch.as_tensor(features).to(torch.float64).contiguous()
        if features.dim() != 2:
            raise MetricsError(f"features must be [N, D], got {tuple(features.shape)}")
        n, dim = features.shape
        mean = features.mean(0) if n else torch.full((dim,), float("nan"), dtype=torch.float64)
        labels, class_names = _check_labels(labels, class_names, n)
        return cls(features, mean, covariance(features, mean if n else None), backbone, backbone_fingerprint,
                   labels, class_names)

    @property
    def num_samples(self) -> int:
        return int(self.features.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    def select(self, index: torch.Tensor) -> FeatureSet:
        """The subset given by a boolean mask or indices, with its own statistics."""
        labels = None if self.labels is None else self.labels[index]
        return FeatureSet.from_features(self.features[index], backbone=self.backbone,
                                        backbone_fingerprint=self.backbone_fingerprint, labels=labels,
                                        class_names=self.class_names)

    def for_class(self, class_index: int) -> FeatureSet:
        if self.labels is None:
            raise MetricsError("this feature set has no labels")
        return self.select(self.labels == class_index)

    def to_bytes(self) -> bytes:
        tensors = {"features": self.features, "mean": self.mean, "covariance": self.covariance}
        if self.labels is not None:
            tensors["labels"] = self.labels
        metadata = {
            "format": FORMAT,
            "backbone": self.backbone,
            "backbone_fingerprint": self.backbone_fingerprint,
            "class_names": json.dumps(None if self.class_names is None else list(self.class_names)),
        }
        return safetensors.torch.save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata)

    @classmethod
    def from_bytes(cls, blob: bytes) -> FeatureSet:
        try:
            blob = bytes(blob)
            tensors = safetensors.torch.load(blob)
            metadata = _metadata(blob)
            if metadata.get("format") != FORMAT:
                raise MetricsError(f"not a {FORMAT} blob (format {metadata.get('format')!r})")
            class_names = json.loads(metadata["class_names"])
            features, mean, cov = tensors["features"], tensors["mean"], tensors["covariance"]
            backbone, fingerprint = metadata["backbone"], metadata["backbone_fingerprint"]
        except MetricsError:
            raise
        except Exception as exc:  # noqa: BLE001  (SafetensorError, KeyError, JSON errors...)
            raise MetricsError(f"not a valid feature set: {exc}") from None
        if any(t.dtype != torch.float64 for t in (features, mean, cov)) or features.dim() != 2:
            raise MetricsError("feature set tensors must be float64 with features [N, D]")
        n, dim = features.shape
        if mean.shape != (dim,) or cov.shape != (dim, dim):
            raise MetricsError(f"feature set shapes disagree: features {tuple(features.shape)}, "
                               f"mean {tuple(mean.shape)}, covariance {tuple(cov.shape)}")
        labels, class_names = _check_labels(tensors.get("labels"), class_names, n)
        return cls(features, mean, cov, backbone, fingerprint, labels, class_names)


def _check_labels(labels: torch.Tensor | None, class_names: Sequence[str] | None,
                  n: int) -> tuple[torch.Tensor | None, tuple[str, ...] | None]:
    if class_names is not None:
        if not all(isinstance(c, str) for c in class_names) or len(set(class_names)) != len(class_names):
            raise MetricsError("class_names must be distinct strings")
        class_names = tuple(class_names)
    if labels is None:
        return None, class_names
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.shape != (n,):
        raise MetricsError(f"labels must be integers [N={n}], got {labels.dtype} {tuple(labels.shape)}")
    labels = labels.to(torch.int64)
    if class_names is None:
        raise MetricsError("labels need class_names")
    if n and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise MetricsError(f"labels must be in [0, {len(class_names)})")
    return labels.contiguous(), class_names


def _metadata(blob: bytes) -> dict[str, str]:
    header_len = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8:8 + header_len]).get("__metadata__", {})
