"""A Client.wait callback that shows a job's progress: step, ETA and its latest losses."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from defectgen.schemas import Job

MAX_METRICS = 4
LINE_EVERY = 0.1  # away from a terminal, a line per status change and per tenth of the steps


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def latest_metrics(job: Job) -> str:
    """The job's numeric metrics, losses first, at most MAX_METRICS of them."""
    numeric = {k: v for k, v in job.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    keys = sorted(numeric, key=lambda k: (not k.startswith("loss"), k))[:MAX_METRICS]
    return " ".join(f"{k}={numeric[k]:.3g}" for k in keys)


def status_line(job: Job) -> str:
    p = job.progress
    parts = [job.id, job.status]
    if p.total_steps:
        parts += [f"step {p.step}/{p.total_steps}", f"eta {eta_text(p.eta_seconds)}"]
    if p.message:
        parts.append(p.message)
    metrics = latest_metrics(job)
    return "  ".join(parts + ([metrics] if metrics else []))


class JobProgress:
    """On a terminal, a rich progress bar; elsewhere (a log, a pipe) plain lines, not a redraw per poll."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._shown: tuple[str, int] | None = None

    def __call__(self, job: Job) -> None:
        if self.console.is_terminal:
            self._draw(job)
        else:
            self._print(job)

    def _draw(self, job: Job) -> None:
        p = job.progress
        if self._bar is None:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("step {task.completed:.0f}/{task.fields[steps]}"),
                                 TextColumn("eta {task.fields[eta]}"), TextColumn("{task.fields[metrics]}"),
                                 console=self.console, transient=False)
            self._bar.start()
            self._task = self._bar.add_task("", total=None, steps="?", eta="?", metrics="")
        assert self._task is not None
        self._bar.update(self._task, description=f"{job.id} {job.status}" + (f" ({p.message})" if p.message else ""),
                         completed=p.step, total=p.total_steps or None, steps=p.total_steps or "?",
                         eta=eta_text(p.eta_seconds), metrics=latest_metrics(job))
        if job.final:
            self.close()

    def _print(self, job: Job) -> None:
        band = int(job.progress.fraction / LINE_EVERY)
        if self._shown != (job.status, band) or job.final:
            self.console.print(status_line(job), highlight=False, soft_wrap=True)
            self._shown = (job.status, band)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
