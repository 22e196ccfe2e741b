from __future__ import annotations

from models.errors import DataError


class MetricsError(DataError):
    """Bad input to the metrics package: a weights file, a TorchScript blob, a FeatureSet, images or options."""
