"""A sweep's state, derived from its params and its children's rows alone: which child each candidate needs next,
who was stopped at which rung and why, and the leaderboard. Nothing here writes: worker/handlers/sweep.py acts on
what it says, so that a tick that dies half-way is simply run again.

Each candidate trains in segments, one child train job each: segment j ends at the schedule's j-th end (a rung, or
the candidate's end) and continues segment j-1's kept checkpoint. After a rung, when every candidate that entered
it has ended its segment, the qualified ones (scored, and above the diversity and memorisation floors) are
ranked by the metric (KID and FID lowest first, the uplift highest first), ties by candidate order, and the best
ceil(n/2) of the n that entered go on; one that goes on alone trains straight to its end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.kinds.sweep import METRICS

FINISHED, STOPPED, DISQUALIFIED, FAILED = "finished", "stopped", "disqualified", "failed"


@dataclass(frozen=True)
class Child:
    id: str
    status: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None


def child_id(sweep_id: str, candidate: int, segment: int) -> str:
    return f"{sweep_id}.c{candidate}s{segment}"


def confirm_id(sweep_id: str) -> str:
    return f"{sweep_id}.confirm"


@dataclass
class Standing:
    index: int
    name: str
    segments: list[Child] = field(default_factory=list)
    out: str | None = None  # STOPPED, DISQUALIFIED or FAILED, once decided
    reason: str = ""

    @property
    def last(self) -> Child | None:
        return self.segments[-1] if self.segments else None

    @property
    def scores(self) -> dict[str, Any] | None:
        last = self.last
        return (last.result or {}).get("holdout") if last and last.status == "succeeded" else None


@dataclass
class Wanted:
    """A child the sweep needs that does not exist yet."""

    candidate: int
    segment: int
    end: float  # steps, or cumulative minutes
    last: bool  # the candidate's final segment: it keeps no checkpoint


@dataclass
class Board:
    standings: list[Standing]
    wanted: list[Wanted]
    waiting: list[str]  # names of the candidates whose child is queued or running
    rung: int  # the segment being trained (1-based)
    done: bool  # every candidate has ended

    def leaderboard(self, metric: str) -> list[Standing]:
        """Finished first, then those stopped at a later rung before those stopped earlier, each by the metric;
        disqualified and failed last."""
        def key(s: Standing) -> tuple:
            return (s.out in (DISQUALIFIED, FAILED), -len(s.segments), rank_value(s.scores, metric), s.index)

        return sorted(self.standings, key=key)


def rank_value(scores: dict[str, Any] | None, metric: str) -> float:
    """What ranks a candidate, lowest first: the metric, negated where higher is better; unmeasured last."""
    value = (scores or {}).get(metric)
    if value is None:
        return math.inf
    return -value if METRICS[metric] else value


def disqualified(scores: dict[str, Any] | None, selection: dict[str, Any]) -> str | None:
    """Why a scored segment does not qualify; None when it does."""
    if scores is None:
        return "not scored"
    metric = selection["metric"]
    if scores.get(metric) is None:
        return f"{metric} could not be measured"
    diversity = scores.get("diversity")
    if diversity is None or diversity < selection["min_diversity"]:
        shown = "unmeasured" if diversity is None else f"{diversity:.3g}"
        return f"collapsed: diversity {shown} < {selection['min_diversity']}"
    copies = scores.get("near_copy_fraction")
    if copies is not None and copies > selection["max_near_copy_fraction"]:
        return f"memorised: {copies:.1%} of its images are near-copies of training images " \
               f"(> {selection['max_near_copy_fraction']:.1%})"
    return None


def board(sweep_id: str, params: dict[str, Any], children: dict[str, Child]) -> Board:
    candidates, ends = params["candidates"], params["schedule"]["ends"]
    selection, metric = params["selection"], params["selection"]["metric"]
    standings = [Standing(i, c["name"]) for i, c in enumerate(candidates)]
    alive = list(standings)
    segment = 1
    while True:
        alone_to_end = segment > 1 and len(alive) == 1
        end_index = len(ends) - 1 if alone_to_end else segment - 1
        wanted, waiting = [], []
        for s in alive:
            child = children.get(child_id(sweep_id, s.index, segment))
            if child is None:
                wanted.append(Wanted(s.index, segment, ends[end_index], end_index == len(ends) - 1))
                continue
            s.segments.append(child)
            if child.status in ("queued", "running"):
                waiting.append(s.name)
        if wanted or waiting:
            return Board(standings, wanted, waiting, segment, False)
        for s in alive:
            last = s.last
            assert last is not None
            if last.status != "succeeded":
                s.out = FAILED
                s.reason = f"its child job {last.id} {last.status}" + (
                    f": {last.error.get('message', '')}" if last.error else "")
            elif why := disqualified(s.scores, selection):
                s.out, s.reason = DISQUALIFIED, why
        qualified = sorted((s for s in alive if s.out is None), key=lambda s: (rank_value(s.scores, metric), s.index))
        if end_index == len(ends) - 1:
            for rank, s in enumerate(qualified, 1):
                s.reason = f"trained to its end; {metric} rank {rank} of {len(qualified)} finalists"
            return Board(standings, [], [], segment, True)
        keep = math.ceil(len(alive) / 2)
        for s in qualified[keep:]:
            s.out = STOPPED
            s.reason = (f"stopped at rung {segment}: {metric} {s.scores[metric]:.4g} outside the best {keep} of "  # type: ignore[index]
                        f"{len(alive)}")
        alive = qualified[:keep]
        if not alive:
            return Board(standings, [], [], segment, True)
        alive.sort(key=lambda s: s.index)
        segment += 1


def status_of(s: Standing) -> str:
    return s.out or FINISHED
