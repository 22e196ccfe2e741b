"""The sweep job's coordinator: it runs in short ticks and never holds a worker while its candidates train.

Why ticks in a worker slot, parked in between (option (a) of issue 16's design), and not a coordinator thread in
each worker's main process: the embedded default runs one worker with one slot, so a sweep that waited in its
slot would deadlock against its own children; a tick in a slot is an ordinary job run, with the lease, attempts,
cancel and SIGTERM handling every job has, where a thread would need its own; and a worker's main process never
loads PyTorch, which scoring and resolving train params need.

Each tick reads the sweep's params and its children's rows (worker/sweep_board.py), creates the children the
schedule needs next (ids derived from the sweep's, so a repeated tick finds them instead of making twins), and
raises Park: the sweep stays `running` (its progress says what it waits for), its worker is freed, and the next
tick runs when a child ends (core.jobs, which also says how a lost wake-up is recovered). The children are
ordinary train jobs with `parent_job_id`, so they run in parallel on as many workers as are free, and resume,
retry and cancel as every job does; cancelling the sweep, or its failing for good, cancels them
(core.jobs.cancel_children). The last tick writes the leaderboard, marks the winner's model, runs the optional
confirming report, and deletes the checkpoints the segments kept and the models of segments that a later segment
continued.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import jobs
from core.db import session_scope
from core.errors import InvalidParam
from core.kinds import get_kind, resolve_job
from core.queue import enqueue
from core.storage_keys import checkpoint_key, model_prefix
from core.tables import Job, JobEvent, RegisteredModel
from worker.runner import JobContext, Outcome, Park
from worker.sweep_board import (
    CLEAR_GAP,
    FINISHED,
    Board,
    Child,
    Standing,
    Wanted,
    board,
    child_id,
    confirm_id,
    status_of,
)
from worker.sweep_scoring import SCORES

RULE = ("successive halving: rungs at 1/4 and 1/2 of a candidate's full share; at each, the qualified candidates "
        "(above the diversity and memorisation floors) are ranked by the metric and the best ceil(n/2) of the n "
        "that entered go on, one alone straight to its end; the shares of those stopped go to the leaders. Only the "
        f"clearly behind stop: one within {CLEAR_GAP:g} standard deviations of the last kept (KID's over subsets, the "
        "uplift's interval) goes on too, and then those going on share the rest of the budget equally to their end")
EQUAL_RULE = "every candidate trains its equal share of the budget; no halving"


def handle(ctx: JobContext) -> Outcome:
    p = ctx.params
    with session_scope() as session:
        sweep = session.get(Job, ctx.job_id)
        assert sweep is not None
        if sweep.cancel_requested:  # parking refuses it, and the runner ends the sweep cancelled
            raise Park
        children = _children(session, ctx.job_id)
        dispatched = {data.get("job_id") for data in session.scalars(
            select(JobEvent.data).where(JobEvent.job_id == ctx.job_id, JobEvent.type == "child"))}
    state = board(ctx.job_id, p, children)
    for wanted in state.wanted:
        _create_child(ctx, wanted, children)
    for child in children.values():  # made by a tick that died before it sent them
        if child.status == jobs.QUEUED and child.id not in dispatched and child.id != confirm_id(ctx.job_id):
            _dispatch(ctx, child.id, "train")
    if state.wanted:
        state = board(ctx.job_id, p, _load_children(ctx.job_id))
    ctx.metrics = {"leaderboard": _leaderboard(p, state)}
    if not state.done:
        _report(ctx, state, f"rung {state.rung}: training {', '.join(state.waiting)}; the sweep goes on when all "
                            "have ended")
        raise Park
    ranked = state.leaderboard(p["selection"]["metric"])
    winner = ranked[0] if ranked and status_of(ranked[0]) == FINISHED else None
    confirm = _confirm(ctx, winner, children) if p.get("confirm") is not None and winner else None
    if confirm is not None and confirm["status"] in jobs.ACTIVE:
        _report(ctx, state, f"confirming the winner: report {confirm['job_id']} is {confirm['status']}")
        raise Park
    return _finish(ctx, state, winner, confirm)


def _children(session: Any, sweep_id: str) -> dict[str, Child]:
    rows = session.scalars(select(Job).where(Job.parent_job_id == sweep_id))
    return {r.id: Child(r.id, r.status, r.result, r.error, r.started_at, r.finished_at) for r in rows}


def _load_children(sweep_id: str) -> dict[str, Child]:
    with session_scope() as session:
        return _children(session, sweep_id)


def _segment_params(p: dict[str, Any], sweep_id: str, wanted: Wanted) -> dict[str, Any]:
    """The candidate's resolved train params for one segment: only steps, minutes and continuation differ."""
    params = dict(p["candidates"][wanted.candidate]["train"])
    ends = p["schedule"]["ends"]
    if p["schedule"]["unit"] == "steps":
        params["steps"] = int(wanted.end)
    else:
        start = 0.0 if wanted.segment == 1 else ends[min(wanted.segment - 2, len(ends) - 1)]
        params["max_minutes"] = round(wanted.end - start, 4)
    params["keep_checkpoint"] = not wanted.last
    params["continue_from_job_id"] = (None if wanted.segment == 1
                                      else child_id(sweep_id, wanted.candidate, wanted.segment - 1))
    return params


def _create_child(ctx: JobContext, wanted: Wanted, children: dict[str, Child]) -> None:
    job_id = child_id(ctx.job_id, wanted.candidate, wanted.segment)
    if job_id in children:
        return
    _insert(ctx, job_id, "train", _segment_params(ctx.params, ctx.job_id, wanted))
    _dispatch(ctx, job_id, "train")


def _insert(ctx: JobContext, job_id: str, kind: str, params: dict[str, Any]) -> None:
    with session_scope() as session:
        if session.get(Job, job_id) is None:
            session.add(Job(id=job_id, workspace_id=ctx.workspace_id, kind=kind, queue=get_kind(kind).queue,
                            status=jobs.QUEUED, params=params, progress={}, metrics={}, parent_job_id=ctx.job_id))
            jobs.status_event(session, job_id, jobs.QUEUED, parent_job_id=ctx.job_id)


def _dispatch(ctx: JobContext, job_id: str, kind: str) -> None:
    enqueue(job_id, kind, get_kind(kind).queue)
    ctx.event("child", {"job_id": job_id, "kind": kind})


def _report(ctx: JobContext, state: Board, message: str) -> None:
    finished = sum(1 for s in state.standings for c in s.segments if c.status in jobs.FINAL)
    planned = finished + len(state.wanted) + len(state.waiting) if not state.done else finished
    ctx.report(finished, max(planned, finished, 1), message=message)


def _curve(s: Standing) -> list[dict[str, Any]]:
    points = []
    for number, child in enumerate(s.segments, 1):
        scores = (child.result or {}).get("holdout") or {}
        seconds = ((child.finished_at - child.started_at).total_seconds()
                   if child.finished_at and child.started_at else None)
        points.append({"segment": number, "job_id": child.id, "status": child.status,
                       "step": (child.result or {}).get("step"), "seconds": seconds,
                       **{k: scores.get(k) for k in ("kid_std", *SCORES)}})
    return points


def _leaderboard(p: dict[str, Any], state: Board) -> list[dict[str, Any]]:
    rows = []
    ranked = state.leaderboard(p["selection"]["metric"]) if state.done else state.standings
    for rank, s in enumerate(ranked, 1):
        candidate, scores = p["candidates"][s.index], s.scores or {}
        last = s.last
        rows.append({
            "rank": rank if state.done else None, "name": s.name, "index": s.index,
            "architecture": candidate["architecture"], "base_model_id": candidate["base_model_id"],
            "status": status_of(s) if state.done or s.out else "training", "reason": s.reason,
            "steps_trained": (last.result or {}).get("step") if last and last.result else None,
            "model_id": (last.result or {}).get("model_id") if last and last.result else None,
            "job_id": last.id if last else None,
            **{k: scores.get(k) for k in SCORES},
            "curve": _curve(s),
        })
    return rows


def _confirm(ctx: JobContext, winner: Standing, children: dict[str, Child]) -> dict[str, Any]:
    """The winner's augmentation report against real images alone, on the held-out split (a child job)."""
    job_id = confirm_id(ctx.job_id)
    existing = children.get(job_id)
    model_id = (winner.last.result or {})["model_id"]  # type: ignore[union-attr]
    if existing is None:
        p, settings = ctx.params, ctx.params["confirm"]
        split = p["selection"]["split"]
        request = {"train_dataset_id": p["dataset_id"], "model_id": model_id, "test_fraction": split["fraction"],
                   "seed": split["seed"], "synthetic_per_class": [0, settings["synthetic_per_class"]],
                   "classifier": settings["classifier"], "epochs": settings["epochs"],
                   "repeats": settings["repeats"]}
        kind = get_kind("augmentation_report")
        try:
            with session_scope() as session:
                params = resolve_job(session, ctx.workspace_id, kind.name, kind.adapter.validate_python(request),
                                     settings=ctx.settings, store=ctx.store)
        except InvalidParam as exc:
            return {"job_id": None, "status": "refused", "error": exc.msg}
        _insert(ctx, job_id, kind.name, params)
        _dispatch(ctx, job_id, kind.name)
        return {"job_id": job_id, "status": jobs.QUEUED}
    out = {"job_id": job_id, "status": existing.status}
    if existing.status == jobs.SUCCEEDED and existing.result:
        out.update(report_id=existing.result.get("report_id"), best_setting=existing.result.get("best_setting"),
                   uplift=existing.result.get("uplift"))
    elif existing.error:
        out["error"] = existing.error.get("message")
    return out


def _finish(ctx: JobContext, state: Board, winner: Standing | None,
            confirm: dict[str, Any] | None) -> Outcome:
    p = ctx.params
    leaderboard = ctx.metrics["leaderboard"]
    records = []
    model_id = (winner.last.result or {}).get("model_id") if winner and winner.last else None
    with session_scope() as session:
        model = session.get(RegisteredModel, model_id) if model_id else None
        if model is not None:
            model.metrics = {**model.metrics, "selected_by": ctx.job_id,
                             **{f"holdout_{k}": v for k, v in (winner.scores or {}).items()  # type: ignore[union-attr]
                                if k in SCORES}}
            session.expunge(model)
            records.append(model)
    _drop_segments(ctx, state)
    total_steps = sum((c.result or {}).get("step", 0) for s in state.standings for c in s.segments[-1:])
    result: dict[str, Any] = {
        "model_id": model_id, "winner": leaderboard[0] if winner else None, "leaderboard": leaderboard,
        "metric": p["selection"]["metric"], "rule": RULE if p["halving"] else EQUAL_RULE,
        "schedule": p["schedule"], "steps_trained": total_steps,
    }
    if winner is None:
        result["warnings"] = ["no candidate met the floors: there is no winner"]
    if confirm is not None:
        result["confirm"] = confirm
    _report(ctx, state, "done")
    return Outcome(result, records)


def _drop_segments(ctx: JobContext, state: Board) -> None:
    """The checkpoints segments kept for their continuations, and the models of segments a later one continued
    (each candidate keeps its last model). Safe to repeat."""
    with session_scope() as session:
        for s in state.standings:
            for child in s.segments:
                ctx.store.delete(checkpoint_key(child.id))
            for child in s.segments[:-1]:
                model_id = (child.result or {}).get("model_id")
                if model_id and (model := session.get(RegisteredModel, model_id)) is not None:
                    session.delete(model)
                    ctx.store.delete_prefix(model_prefix(model_id))
