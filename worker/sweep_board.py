"""A sweep's state, derived from its params and its children's rows alone: which child each candidate needs next,
who was stopped at which rung and why, and the leaderboard. Nothing here writes: worker/handlers/sweep.py acts on
what it says, so that a tick that dies half-way is simply run again.

Each candidate trains in segments, one child train job each: segment j ends at the schedule's j-th end (a rung, or
the candidate's end) and continues segment j-1's kept checkpoint. After a rung, when every candidate that entered
it has ended its segment, the qualified ones (scored, and above the diversity and memorisation floors) are
ranked by the metric (KID and FID lowest first, the uplift highest first), ties by candidate order, and the best
ceil(n/2) of the n that entered go on; one that goes on alone trains straight to its end. Only a candidate clearly
behind is stopped: one whose metric is within the noise of the last one kept (see clearly_behind) goes on too, and
then halving ends there: those going on share what is left of the budget equally, each in one final segment.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.kinds.sweep import MAX_STEPS, METRICS

FINISHED, STOPPED, DISQUALIFIED, FAILED = "finished", "stopped", "disqualified", "failed"
# How many standard deviations of the difference make a candidate clearly behind. On benchmarks/sweep.py's
# photographs, cfastgan's KID at the first rung was 0.74 +- 0.24 against cdcgan's 0.32 +- 0.20 (1.4 deviations
# apart), and given the whole budget it won by far (-0.10 against 0.65; docs/sweep.md): early gaps that size do
# not predict the end.
CLEAR_GAP = 2.0


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


def spread(scores: dict[str, Any] | None, metric: str) -> float | None:
    """The standard deviation of a candidate's metric where its scorer gives one: KID's over its subsets (they
    share most images, so it is about the estimate's own), the uplift's from its 95% interval; FID has none."""
    scores = scores or {}
    if metric == "kid":
        return scores.get("kid_std")
    if metric == "uplift" and scores.get("uplift_ci95"):
        low, high = scores["uplift_ci95"]
        return (high - low) / (2 * 1.96)
    return None


def clearly_behind(scores: dict[str, Any] | None, ahead: dict[str, Any] | None, metric: str) -> bool:
    """Whether `scores` trail `ahead` by more than CLEAR_GAP deviations of the difference; always, where the metric
    has no deviation."""
    mine, theirs = spread(scores, metric), spread(ahead, metric)
    if mine is None or theirs is None:
        return True
    gap = rank_value(scores, metric) - rank_value(ahead, metric)
    return gap > CLEAR_GAP * math.hypot(mine, theirs)


def _equal_end(params: dict[str, Any], standings: list[Standing], going: int, at: float) -> float:
    """The end of a final segment from `at` when `going` candidates share what is left of the budget."""
    ends, unit = params["schedule"]["ends"], params["schedule"]["unit"]
    spent = sum(ends[len(s.segments) - 1] for s in standings)
    if unit == "steps":
        return min(int(at + (params["budget_steps"] - spent) / going), MAX_STEPS)
    return round(at + (params["budget_minutes"] - spent) / going, 4)


def board(sweep_id: str, params: dict[str, Any], children: dict[str, Child]) -> Board:
    candidates, ends = params["candidates"], params["schedule"]["ends"]
    selection, metric = params["selection"], params["selection"]["metric"]
    standings = [Standing(i, c["name"]) for i, c in enumerate(candidates)]
    alive = list(standings)
    segment = 1
    shared_end: float | None = None  # set when a rung could not separate candidates
    while True:
        final = shared_end is not None or (segment > 1 and len(alive) == 1) or segment == len(ends)
        end = shared_end if shared_end is not None else ends[-1] if final else ends[segment - 1]
        wanted, waiting = [], []
        for s in alive:
            child = children.get(child_id(sweep_id, s.index, segment))
            if child is None:
                wanted.append(Wanted(s.index, segment, end, final))
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
        if final:
            for rank, s in enumerate(qualified, 1):
                s.reason = f"trained to its end; {metric} rank {rank} of {len(qualified)} finalists" + (
                    f"; {s.reason}" if shared_end is not None and s.reason else "")
            return Board(standings, [], [], segment, True)
        keep = math.ceil(len(alive) / 2)
        kept = qualified[:keep]
        tied = [s for s in qualified[keep:] if not clearly_behind(s.scores, kept[-1].scores, metric)]
        for s in qualified[keep:]:
            if s in tied:
                s.reason = (f"not clearly behind at rung {segment} ({metric} within {CLEAR_GAP:g} deviations of "
                            f"the last of the best {keep}): halving ended there")
                continue
            s.out = STOPPED
            s.reason = (f"stopped at rung {segment}: {metric} {s.scores[metric]:.4g} outside the best {keep} of "  # type: ignore[index]
                        f"{len(alive)}")
        alive = kept + tied
        if not alive:
            return Board(standings, [], [], segment, True)
        if tied:
            shared_end = _equal_end(params, standings, len(alive), ends[segment - 1])
        alive.sort(key=lambda s: s.index)
        segment += 1


def status_of(s: Standing) -> str:
    return s.out or FINISHED
