"""What every long-running loop in models/ reports to and asks: one progress callback type and one way to stop.

A loop calls `monitor.report(step, total, message, metrics)` after each unit of work and `monitor.check()`
before each; `check()` raises `Stopped` when the caller asked the loop to stop. A loop that runs another loop
hands it `monitor.part(offset, total, message)`, so that the inner loop's steps count towards the outer total.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    message: str = ""
    metrics: Mapping[str, float] | None = None


class Stopped(Exception):
    """The loop returned early because its monitor asked it to. `state` is what the loop had made so far
    (e.g. a checkpoint to resume from), when it has anything worth keeping."""

    def __init__(self, state: bytes | None = None) -> None:
        super().__init__("stopped on request")
        self.state = state


class Monitor:
    def __init__(self, on_progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self._on_progress = on_progress
        self._should_stop = should_stop

    def report(self, step: int, total: int, message: str = "", metrics: Mapping[str, float] | None = None) -> None:
        if self._on_progress is not None:
            self._on_progress(Progress(step, total, message, metrics))

    def stop_requested(self) -> bool:
        return self._should_stop is not None and self._should_stop()

    def check(self) -> None:
        """Raises Stopped (with no state) when a stop was requested."""
        if self.stop_requested():
            raise Stopped()

    def part(self, offset: int, total: int, message: str | None = None) -> Monitor:
        """A monitor for an inner loop: its step k is reported as offset + k of `total`, under `message`."""

        def forward(progress: Progress) -> None:
            self.report(offset + progress.step, total, progress.message if message is None else message,
                        progress.metrics)

        return Monitor(forward, self._should_stop)


SILENT = Monitor()
