from __future__ import annotations


class MetricsError(ValueError):
    """Bad input to the metrics package: a weights file, a TorchScript blob, a FeatureSet, images or options."""
