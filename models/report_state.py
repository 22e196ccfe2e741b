"""What an augmentation report has finished so far, so that a report stopped or killed mid-way resumes without
training those classifiers again: per finished (repeat, setting) its metrics and test predictions, plus the
artefacts only repeat 0 makes (Grad-CAM grids, the baseline classifier).

Stored with models.checkpoint.pack_state (safetensors; bytes travel as uint8 tensors; no pickle).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from models.checkpoint import CheckpointError, pack_state, unpack_state
from models.config import is_int

REPORT_STATE_FORMAT = "defectgen-report/1"


@dataclass
class FinishedRun:
    repeat: int
    setting: str  # Setting.key
    metrics: dict[str, Any]  # models.classification.classification_metrics
    predictions: np.ndarray  # the predicted class of every test image


@dataclass
class ReportState:
    finished: list[FinishedRun] = field(default_factory=list)  # in the order they were trained
    gradcam: dict[str, bytes] = field(default_factory=dict)  # setting key -> PNG, from repeat 0
    baseline_classifier: bytes = b""  # save_classifier of repeat 0's real-only classifier, once trained

    def copy(self) -> ReportState:
        return ReportState(list(self.finished), dict(self.gradcam), self.baseline_classifier)

    def to_bytes(self) -> bytes:
        return pack_state({
            "format": REPORT_STATE_FORMAT,
            "finished": [{"repeat": run.repeat, "setting": run.setting, "metrics": run.metrics,
                          "predictions": torch.from_numpy(np.asarray(run.predictions, dtype=np.int64))}
                         for run in self.finished],
            "gradcam": {key: _bytes_tensor(png) for key, png in self.gradcam.items()},
            "baseline_classifier": _bytes_tensor(self.baseline_classifier),
        })

    @classmethod
    def from_bytes(cls, blob: bytes) -> ReportState:
        tree = unpack_state(blob)
        if tree.get("format") != REPORT_STATE_FORMAT:
            raise CheckpointError(f"unknown report checkpoint format {tree.get('format')!r}")
        try:
            finished = [FinishedRun(run["repeat"], run["setting"], run["metrics"], run["predictions"].numpy())
                        for run in tree["finished"]]
            gradcam = {key: _tensor_bytes(png) for key, png in tree["gradcam"].items()}
            baseline = _tensor_bytes(tree["baseline_classifier"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"malformed report checkpoint: {exc!r}") from exc
        if not all(is_int(run.repeat) and isinstance(run.setting, str) and isinstance(run.metrics, dict)
                   and run.predictions.ndim == 1 for run in finished):
            raise CheckpointError("malformed report checkpoint: a finished run has the wrong types")
        return cls(finished, gradcam, baseline)


def _bytes_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.uint8 or tensor.dim() != 1:
        raise TypeError("bytes must be stored as a 1-d uint8 tensor")
    return tensor.numpy().tobytes()
