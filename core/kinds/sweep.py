"""The sweep job: which generator helps this dataset? Each candidate (an architecture with a few settings, optionally
fine-tuned from a base model) trains as ordinary child train jobs on the training part of a held-out split; the
children score their models against the held-out images; successive halving stops the candidates that are behind
at two rungs and gives their budget to the leaders; the result is a leaderboard and the winner's model
(docs/sweep.md, worker/handlers/sweep.py).

The API resolves every candidate as the train job it becomes (core.kinds.train), so that a bad candidate is a 422
at submission naming `candidates.<i>`, and stores each candidate's resolved train params with the schedule: the
worker derives each child's params from them alone.

The schedule. k candidates; rungs at 1/4 and 1/2 of a candidate's full share, then its end; at each rung the
qualified candidates are ranked by the metric and the best ceil(n/2) go on (a candidate alone goes straight to
its end). Its cost in candidate-shares is c = k/4 + ceil(k/2)/4 + ceil(ceil(k/2)/2)/2, so a full share is the
budget / c: the steps or minutes of those stopped early go to the leaders. A rung that cannot separate the
candidates ends the halving there, and the rest of the budget is shared equally (worker/sweep_board.py). Without
halving each candidate gets budget / k in one child.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from core.errors import InvalidParam
from core.fields import NAME_PATTERN, ResourceId
from core.kinds.base import JobKind, Named, Params, Reference
from core.kinds.train import Holdout, UpliftCheck
from core.tables import Dataset
from models.architectures import architecture_names, get_architecture
from models.metrics.builtin.diversity import COLLAPSE_THRESHOLD

RUNGS = (0.25, 0.5, 1.0)  # of a candidate's full share: where halving compares candidates, then its end
MAX_STEPS = 1_000_000  # a train job's most steps: the cap of a child that trains for minutes
SAMPLE_EVERY = 200  # a train job's default
# Train params the sweep sets for every child: candidates differ in their architecture, base model and settings.
SWEEP_OWNED = frozenset({"dataset_id", "architecture", "base_model_id", "steps", "resolution", "channels", "crop",
                         "seed", "holdout", "max_minutes", "keep_checkpoint", "continue_from_job_id",
                         "sample_every", "checkpoint_every", "eval_every", "preset", "holdout_uplift"})
# The selection metrics, and whether higher is better: KID and FID are distances, the uplift is a gain.
METRICS = {"kid": False, "fid": False, "uplift": True}


class Selection(Params):
    metric: Literal[tuple(METRICS)] = Field("kid", description=(  # type: ignore[valid-type]
        "Ranks candidates: KID or FID against the held-out images in the auto backbone, lowest first, or the uplift "
        "of a classifier tested on them (see uplift), highest first."))
    split: Holdout = Field(default_factory=Holdout, description="The stratified, seeded held-out split that no "
                                                                "candidate trains on, and the samples scored.")
    min_diversity: float = Field(COLLAPSE_THRESHOLD, ge=0, description="A candidate whose diversity is below it "
                                                                       "is disqualified (collapsed).")
    max_near_copy_fraction: float = Field(0.05, ge=0, le=1, description="A candidate more of whose images are "
                                                                        "near-copies of training images is "
                                                                        "disqualified (memorised).")
    uplift: UpliftCheck = Field(default_factory=UpliftCheck, description=(
        "How the uplift metric is measured, at every rung: synthetic_per_class images per class added to the "
        "split's training part, a classifier trained repeats times with and without them, tested on the held-out "
        "part."))


class Candidate(Params):
    architecture: str = Field(description="One of the generator architectures (not a translator).")
    name: str | None = Field(None, max_length=100, pattern=NAME_PATTERN, description="Its label on the leaderboard "
                                                                                     "[architecture].")
    base_model_id: ResourceId | None = Field(None, description="Fine-tune from this generator.")
    settings: dict[str, Any] = Field(default_factory=dict, description=(
        "Train params of the architecture (its options, batch_size, lr, ...); not "
        + ", ".join(sorted(SWEEP_OWNED)) + ", which the sweep sets."))

    @field_validator("architecture")
    @classmethod
    def _generator(cls, value: str) -> str:
        known = [name for name in architecture_names() if not get_architecture(name).translator]
        if value not in known:
            raise ValueError(f"unknown generator architecture {value!r}; known: {', '.join(known)}")
        return value

    @field_validator("settings")
    @classmethod
    def _not_owned(cls, value: dict[str, Any]) -> dict[str, Any]:
        owned = sorted(SWEEP_OWNED & set(value))
        if owned:
            raise ValueError(f"the sweep sets {owned} for every candidate")
        return value


class Confirm(UpliftCheck):
    """The winner's augmentation report against real images alone."""


def _confirm_flag(value: Any) -> Any:
    return {} if value is True else None if value is False else value


class SweepParams(Params):
    dataset_id: ResourceId
    budget_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60, description=(
        "Training minutes of all candidates together (on W free workers the sweep takes about 1/W of it, plus "
        "loading and scoring)."))
    budget_steps: int | None = Field(None, ge=4, le=16 * MAX_STEPS, description="Training steps of all candidates.")
    candidates: list[Candidate] | None = Field(None, min_length=1, max_length=16, description=(
        "Default: chosen by the dataset's image size and classes and the training device (docs/sweep.md)."))
    resolution: int | None = Field(None, description="Every candidate's resolution, so that their scores compare "
                                                     "[64 where the smallest image has 64 pixels a side, else 32].")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    selection: Selection = Field(default_factory=Selection)
    halving: bool = Field(True, description="Successive halving; false: every candidate trains its equal share.")
    confirm: Annotated[Confirm | None, BeforeValidator(_confirm_flag)] = Field(None, description=(
        "true, or settings: an augmentation report of the winner against real images alone, tested on the held-out "
        "split."))

    @model_validator(mode="after")
    def _one_budget(self) -> SweepParams:
        if (self.budget_minutes is None) == (self.budget_steps is None):
            raise ValueError("give exactly one budget: budget_minutes or budget_steps")
        return self


def default_candidates(dataset: Dataset, device: str, resolution: int) -> list[Candidate]:
    """cdcgan always (the service's default outside few-shot sets, the fastest on a CPU); cfastgan (the few-shot
    design, one conditional G with the mode-seeking term) where the resolution is 64 or more, its smallest: on the
    alike photographs it scored FD ratio 1.5 to 2.2 and uplift -0.006 to +0.015 where the per-class fastgan scored
    5.09 and -0.089 (docs/quality.md); stylegan2-ada on a GPU, where it trains in minutes. Every candidate takes
    the dataset's channels."""
    chosen = [Candidate(architecture="cdcgan")]
    if resolution >= 64:
        chosen.append(Candidate(architecture="cfastgan"))
    if device == "cuda":
        chosen.append(Candidate(architecture="stylegan2-ada"))
    return chosen


def survivors(count: int) -> list[int]:
    """Candidates alive in each segment under halving: all, then ceil(n/2) after each rung."""
    alive = [count]
    for _ in RUNGS[1:]:
        alive.append(math.ceil(alive[-1] / 2))
    return alive


def share(budget: float, count: int, halving: bool) -> float:
    """A candidate's full share of the budget (see the module docstring)."""
    if not halving or count == 1:
        return budget / count
    alive = survivors(count)
    cost = sum(n * (end - start) for n, start, end in zip(alive, (0, *RUNGS), RUNGS))
    return budget / cost


def step_schedule(budget: int, count: int, halving: bool) -> tuple[list[int], int]:
    """(cumulative steps at each segment's end, the sample and checkpoint interval). Rung steps are multiples of
    the interval, so that a candidate stopped and continued there trains as one uninterrupted job would."""
    full = min(int(share(budget, count, halving)), MAX_STEPS)
    if not halving or count == 1:
        return [full], math.gcd(full, SAMPLE_EVERY) if full > SAMPLE_EVERY else full
    unit = full // 4
    if unit > SAMPLE_EVERY:
        unit -= unit % 50
    if unit < 1:
        raise InvalidParam("budget_steps", f"{budget} steps leave less than 4 for each of {count} candidates")
    every = math.gcd(unit, SAMPLE_EVERY) if unit > SAMPLE_EVERY else unit
    return [unit, 2 * unit, 4 * unit], every


class Sweep(JobKind):
    name = "sweep"
    Params = SweepParams
    references = {"dataset_id": Reference(Dataset, "dataset")}

    def parse(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The stored params as they are: resolved, with each candidate's train params and the schedule, which
        no request may give."""
        return stored

    def resolve(self, params: SweepParams, named: Named) -> dict[str, Any]:
        dataset = named["dataset_id"]
        if len(dataset.classes) < 2:
            raise InvalidParam("dataset_id", "candidates are scored in the auto backbone, a classifier of the "
                                             "dataset's classes: it needs 2")
        device = named.services["settings"].train_device
        resolution = params.resolution or (64 if min(dataset.min_size) >= 64 else 32)
        candidates = params.candidates or default_candidates(dataset, device, resolution)
        count = len(candidates)
        if params.budget_steps is not None:
            ends, every = step_schedule(params.budget_steps, count, params.halving)
            schedule = {"unit": "steps", "ends": ends}
        else:
            full = share(params.budget_minutes, count, params.halving)  # type: ignore[arg-type]
            ends = [full * f for f in RUNGS] if params.halving and count > 1 else [full]
            schedule, every = {"unit": "minutes", "ends": [round(e, 4) for e in ends]}, SAMPLE_EVERY
        names: list[str] = []
        resolved_candidates = []
        for index, candidate in enumerate(candidates):
            name = candidate.name or candidate.architecture
            if name in names:
                name = f"{name}-{index}"
            names.append(name)
            train = _resolve_train(named, index, candidate, params, resolution, schedule, every)
            resolved_candidates.append({"name": name, "architecture": candidate.architecture,
                                        "base_model_id": candidate.base_model_id, "settings": candidate.settings,
                                        "train": train})
        resolved = params.model_dump(mode="json")
        resolved.update(resolution=resolution, candidates=resolved_candidates, schedule=schedule)
        return resolved


def _resolve_train(named: Named, index: int, candidate: Candidate, params: SweepParams, resolution: int,
                   schedule: dict[str, Any], every: int) -> dict[str, Any]:
    """The candidate's first child's train params, resolved as POST /v1/jobs would."""
    from core.kinds import get_kind, resolve_job  # core.kinds imports every spec lazily, this one included

    minutes = schedule["unit"] == "minutes"
    first_end = schedule["ends"][0]
    selection = params.selection
    params_in = {**candidate.settings, "dataset_id": params.dataset_id, "architecture": candidate.architecture,
                 "base_model_id": candidate.base_model_id, "resolution": resolution, "seed": params.seed,
                 "holdout": selection.split.model_dump(), "steps": MAX_STEPS if minutes else first_end,
                 "max_minutes": first_end if minutes else None, "keep_checkpoint": len(schedule["ends"]) > 1,
                 "sample_every": every, "checkpoint_every": every,
                 "holdout_uplift": selection.uplift.model_dump() if selection.metric == "uplift" else None}
    where = ["candidates", index]
    try:
        train = get_kind("train").adapter.validate_python({k: v for k, v in params_in.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [p for p in error["loc"] if p != candidate.architecture]
        raise InvalidParam([*where, *(["settings"] if loc and loc[0] in candidate.settings else []), *loc],
                           error["msg"]) from None
    try:
        resolved = resolve_job(named.session, named.workspace_id, "train", train, **named.services)
    except InvalidParam as exc:
        inside = ["settings"] if exc.loc and exc.loc[0] in candidate.settings else []
        raise InvalidParam([*where, *inside, *exc.loc], exc.msg) from None
    if not minutes and resolved["steps"] != params_in["steps"]:  # e.g. SinGAN: pyramids x scales x steps per scale
        raise InvalidParam([*where, "architecture"], f"{candidate.architecture}'s own schedule fixes its steps "
                                                     f"({resolved['steps']}): sweep it with budget_minutes")
    return resolved


SPEC = Sweep()
