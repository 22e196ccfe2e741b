"""Generator-quality metrics (pure PyTorch; torch-fidelity for the Inception network and part of the maths).

    backbone = load_inception(weights_path_or_bytes)           # or load_torchscript(blob) for a domain backbone,
                                                               # or models.metrics.auto.load_auto_backbone(blob)
    real = extract_feature_set(backbone, real_images, real_labels, class_names)   # cache real.to_bytes()
    result = evaluate(backbone, None, None, fake_images, fake_labels, ["fid", "kid", "is"], class_names,
                      real_stats=real)

Metrics (``metric_names()``): fid, kid, is, precision, recall, memorisation, diversity; all but is and
memorisation also per class.
This package must not import api/, worker/, core/ or cli/.
"""
from __future__ import annotations

from models.metrics.backbones import (
    INCEPTION_NAME,
    Backbone,
    InceptionBackbone,
    TorchScriptBackbone,
    load_inception,
    load_torchscript,
)
from models.metrics.errors import MetricsError
from models.metrics.evaluate import evaluate, extract_feature_set
from models.metrics.features import FeatureSet
from models.metrics.frechet import frechet_distance, frechet_distance_from_features
from models.metrics.registry import Metric, MetricInputs, get_metric, metric_names, register

__all__ = [
    "INCEPTION_NAME", "Backbone", "FeatureSet", "InceptionBackbone", "Metric", "MetricInputs", "MetricsError",
    "TorchScriptBackbone", "evaluate", "extract_feature_set", "frechet_distance", "frechet_distance_from_features",
    "get_metric", "load_inception", "load_torchscript", "metric_names", "register",
]
