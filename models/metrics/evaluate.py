"""One evaluation: features computed once per image set, then every requested metric, overall and per class."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from models.metrics.backbones import Backbone
from models.metrics.errors import MetricsError
from models.metrics.features import FeatureSet
from models.metrics.registry import FAKE, FAKE_LOGITS, PAIRS, REAL, Metric, MetricInputs, get_metric
from models.metrics.sifid import Pairing, paired_stats
from models.monitor import SILENT, Monitor


def extract_feature_set(backbone: Backbone, images: torch.Tensor, labels: torch.Tensor | None = None,
                        class_names: Sequence[str] | None = None, *, monitor: Monitor = SILENT) -> FeatureSet:
    """Features of one image set with their statistics: what the service caches per dataset and backbone."""
    features = backbone.features(images, monitor=monitor)
    return FeatureSet.from_features(features, backbone=backbone.name, backbone_fingerprint=backbone.fingerprint,
                                    labels=labels, class_names=class_names)


def evaluate(backbone: Backbone, real_images: torch.Tensor | None, real_labels: torch.Tensor | None,
             fake_images: torch.Tensor, fake_labels: torch.Tensor | None, metrics: Sequence[str],
             class_names: Sequence[str] | None = None, real_stats: FeatureSet | None = None, *,
             monitor: Monitor = SILENT, options: Mapping[str, Mapping[str, Any]] | None = None,
             pairing: Pairing | None = None) -> dict[str, Any]:
    """Runs the named metrics on uint8 image sets [N, C, H, W] and returns a JSON-able dict:

        {"backbone", "backbone_fingerprint", "feature_dim", "num_real", "num_fake",
         "metrics": {name: {...values and flags, "num_real", "num_fake", "backbone"}},
         "per_class": {class_name: {"num_real", "num_fake", "fid": {...}, "kid": {...}}}}   (when labelled)

    real_stats (a cached FeatureSet of the same backbone) replaces real_images and real_labels. Per-class
    results are computed when fake_labels is given, for the requested metrics that support it (fid, kid).
    options: per-metric options, e.g. {"kid": {"num_subsets": 50}, "memorisation": {"threshold": 0.2}}.
    pairing: the real image of each generated one, for the metrics that compare pairs (sifid).

    Each stage reports to `monitor` under its own name and count: "real_features" and "fake_features" (images
    done of the set), then "metrics" (computations done); it is checked before every batch and computation.
    """
    selected = _select(metrics)
    options = dict(options or {})
    stray = sorted(set(options) - {m.name for m in selected})
    if stray:
        raise MetricsError(f"options given for metrics that were not requested: {stray}")
    resolved = {m.name: m.resolve_options(options.get(m.name)) for m in selected}
    needs = frozenset().union(*(m.needs for m in selected))
    if FAKE_LOGITS in needs and not backbone.has_logits:
        raise MetricsError(f"{[m.name for m in selected if FAKE_LOGITS in m.needs]} need Inception logits; "
                           f"backbone {backbone.name!r} has none")
    per_class = fake_labels is not None and any(m.per_class for m in selected)
    if per_class and (not isinstance(fake_labels, torch.Tensor) or fake_labels.shape != fake_images.shape[:1]):
        raise MetricsError("fake_labels must be a tensor [N] with one label per generated image")

    real = None
    if REAL in needs:
        if real_stats is not None:
            real = _check_cached(real_stats, backbone, class_names)
        elif real_images is None:
            raise MetricsError("real images or cached real statistics are needed")
        else:
            real = extract_feature_set(backbone, real_images, real_labels, class_names,
                                       monitor=monitor.part(0, len(real_images), "real_features"))
        if class_names is None:
            class_names = real.class_names
        if per_class and real.labels is None:
            raise MetricsError("per-class metrics need the labels of the real images")

    pairs = None
    if PAIRS in needs:
        if pairing is None:
            raise MetricsError(f"{[m.name for m in selected if PAIRS in m.needs]} need a real image paired with "
                               f"each generated one")
        images = len(set(pairing.index)) + len(fake_images)  # each paired real image once, every generated one
        pairs = paired_stats(backbone, pairing, fake_images, monitor=monitor.part(0, images, "paired_features"))
    fake = fake_logits = None
    if needs & {FAKE, FAKE_LOGITS}:
        fake_monitor = monitor.part(0, len(fake_images), "fake_features")
        if FAKE_LOGITS in needs:
            fake_features, fake_logits = backbone.features_and_logits(fake_images, monitor=fake_monitor)
        else:
            fake_features = backbone.features(fake_images, monitor=fake_monitor)
        fake = FeatureSet.from_features(fake_features, backbone=backbone.name,
                                        backbone_fingerprint=backbone.fingerprint,
                                        labels=fake_labels if per_class else None,
                                        class_names=class_names if per_class else None)

    classes = list(fake.class_names or ()) if per_class and fake is not None else []
    class_metrics = [m for m in selected if m.per_class]
    total = len(selected) + len(classes) * len(class_metrics)
    done = 0
    inputs = MetricInputs(real, fake, fake_logits, pairs=pairs)
    results: dict[str, Any] = {}
    for metric in selected:
        monitor.check()
        results[metric.name] = {**metric.compute(inputs, **resolved[metric.name]), "backbone": backbone.name}
        done += 1
        monitor.report(done, total, "metrics")

    out: dict[str, Any] = {
        "backbone": backbone.name,
        "backbone_fingerprint": backbone.fingerprint,
        "feature_dim": backbone.feature_dim,
        "num_real": real.num_samples if real is not None else len(pairs.real_mean) if pairs is not None else 0,
        "num_fake": len(fake_images),
        "metrics": results,
    }
    if per_class:
        assert real is not None and fake is not None
        out["per_class"] = {}
        for index, name in enumerate(classes):
            class_inputs = MetricInputs(real.for_class(index), fake.for_class(index))
            entry: dict[str, Any] = {"num_real": class_inputs.real.num_samples,
                                     "num_fake": class_inputs.fake.num_samples}
            for metric in class_metrics:
                monitor.check()
                entry[metric.name] = {**metric.compute(class_inputs, **resolved[metric.name]),
                                      "backbone": backbone.name}
                done += 1
                monitor.report(done, total, "metrics")
            out["per_class"][name] = entry
    return out


def _select(metrics: Sequence[str]) -> list[Metric]:
    if isinstance(metrics, str) or not metrics:
        raise MetricsError("metrics must be a non-empty list of metric names")
    try:
        return [get_metric(name) for name in dict.fromkeys(metrics)]
    except KeyError as exc:
        raise MetricsError(exc.args[0]) from None


def _check_cached(stats: FeatureSet, backbone: Backbone, class_names: Sequence[str] | None) -> FeatureSet:
    if stats.backbone_fingerprint != backbone.fingerprint or stats.feature_dim != backbone.feature_dim:
        raise MetricsError(f"cached real statistics are for backbone {stats.backbone!r} "
                           f"({stats.backbone_fingerprint[:12]}…), not {backbone.name!r} "
                           f"({backbone.fingerprint[:12]}…)")
    if class_names is not None and stats.class_names is not None and tuple(class_names) != stats.class_names:
        raise MetricsError(f"cached real statistics have classes {list(stats.class_names)}, "
                           f"not {list(class_names)}")
    return stats
