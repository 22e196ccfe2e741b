"""A training run's callbacks and monitor that record what they are given, and can ask for a stop."""
from __future__ import annotations

from dataclasses import dataclass, field

from models.monitor import Monitor
from models.training import GanCallbacks


@dataclass
class Recorder:
    stop_after: int | None = None  # steps after which the monitor asks for a stop
    progress: list = field(default_factory=list)  # the metrics of each step
    samples: dict = field(default_factory=dict)  # step -> sample grid PNG

    def callbacks(self) -> GanCallbacks:
        return GanCallbacks(save_checkpoint=lambda step, blob: None, save_sample=self.samples.__setitem__)

    def monitor(self) -> Monitor:
        return Monitor(lambda progress: self.progress.append(progress.metrics),
                       lambda: self.stop_after is not None and len(self.progress) >= self.stop_after)
