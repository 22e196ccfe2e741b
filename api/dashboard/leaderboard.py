"""A sweep job's leaderboard for its page: the rows the sweep writes (worker/handlers/sweep.py; in its metrics
while it runs, in its result once it ends) and one chart of every candidate's metric curve over its steps."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.schemas.jobs import JobOut
from core.kinds.sweep import METRICS

WIDTH, HEIGHT, PAD = 720, 180, 8
# One colour per candidate, repeating after eight; colour-blind-safe (Okabe and Ito).
COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
SHOWN_ELSEWHERE = ("leaderboard", "winner")  # result keys that the board shows, left out of the result table
SCORE_COLUMNS = ("kid", "fid", "diversity", "near_copy_fraction")  # and the metric, where it is none of them


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    points: str  # an SVG polyline's points
    dots: list[tuple[float, float]]


@dataclass(frozen=True)
class Board:
    metric: str
    higher_first: bool
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    lines: list[Line]
    x_range: tuple[float, float]
    y_range: tuple[float, float]


def sweep_board(job: JobOut) -> Board | None:
    rows = (job.result or {}).get("leaderboard") or job.metrics.get("leaderboard")
    if job.kind != "sweep" or not rows:
        return None
    metric = job.params.get("selection", {}).get("metric", "kid")
    curves = [(row, [(p["step"], p[metric]) for p in row.get("curve", [])
                     if isinstance(p.get("step"), int | float) and isinstance(p.get(metric), int | float)])
              for row in rows]
    xs = [x for _, points in curves for x, _ in points] or [0.0]
    ys = [y for _, points in curves for _, y in points] or [0.0]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

    def at(x: float, y: float) -> tuple[float, float]:
        return (round(PAD + (x - x0) / ((x1 - x0) or 1) * (WIDTH - 2 * PAD), 1),
                round(HEIGHT - PAD - (y - y0) / ((y1 - y0) or 1) * (HEIGHT - 2 * PAD), 1))

    lines = []
    for row, points in curves:
        dots = [at(x, y) for x, y in points]
        lines.append(Line(row["name"], COLOURS[row["index"] % len(COLOURS)],
                          " ".join(f"{x},{y}" for x, y in dots), dots))
    columns = SCORE_COLUMNS if metric in SCORE_COLUMNS else (metric, *SCORE_COLUMNS)
    return Board(metric, METRICS.get(metric, False), columns, rows, lines, (x0, x1), (y0, y1))


def shown_elsewhere(job: JobOut) -> list[str]:
    return list(SHOWN_ELSEWHERE) if job.kind == "sweep" else []


def result_shown(job: JobOut) -> dict[str, Any] | None:
    if job.result is None:
        return None
    return {k: v for k, v in job.result.items() if k not in shown_elsewhere(job)}
