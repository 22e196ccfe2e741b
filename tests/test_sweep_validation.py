"""Sweep submissions that need no worker (in-process API), the schedule, the halving rule on children's rows, and
cascading cancel through the parent link (issue 16)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.kinds.sweep import default_candidates, share, step_schedule
from core.tables import Dataset, Job
from tests.inprocess import add_row
from worker.sweep_board import DISQUALIFIED, FAILED, STOPPED, Child, board, child_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def photos(api) -> Dataset:  # type: ignore[no-untyped-def]
    return add_row(Dataset, min_size=[200, 200], max_size=[200, 200])


def _sweep(api, **params):  # type: ignore[no-untyped-def]
    return api.post("/v1/jobs", json={"kind": "sweep", "params": params})


def _error(response) -> tuple[list, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    return error["loc"][1:], error["msg"]


def test_defaults_resolve_every_candidate_as_a_train_job(api, photos):
    response = _sweep(api, dataset_id=photos.id, budget_steps=1000)
    assert response.status_code == 202, response.text
    params = response.json()["params"]
    assert [c["name"] for c in params["candidates"]] == ["cdcgan", "cfastgan"]  # 200 px images: 64 px, cfastgan too
    assert params["resolution"] == 64 and params["schedule"] == {"unit": "steps", "ends": [200, 400, 800]}
    train = params["candidates"][1]["train"]
    assert train["architecture"] == "cfastgan" and train["steps"] == 200 and train["keep_checkpoint"]
    assert train["mode_seeking"] == 0.3
    assert train["holdout"] == {"fraction": 0.2, "seed": 0, "num_samples": 256} and train["channels"] == 1
    assert train["sample_every"] == train["checkpoint_every"] == 200 and train["width"] == 8


@pytest.mark.parametrize(("params", "loc", "msg"), [
    ({}, [], "exactly one budget"),
    ({"budget_steps": 100, "budget_minutes": 5}, [], "exactly one budget"),
    ({"candidates": [{"architecture": "cyclegan"}]}, ["candidates", 0, "architecture"], "unknown generator"),
    ({"candidates": [{"architecture": "cdcgan", "settings": {"steps": 9}}]}, ["candidates", 0, "settings"],
     "the sweep sets ['steps']"),
    ({"candidates": [{"architecture": "cdcgan", "settings": {"width": 0}}]},
     ["candidates", 0, "settings", "width"], "greater than or equal to 1"),
    ({"candidates": [{"architecture": "cdcgan", "settings": {"ada_images": 1, "bogus": 1}}]},
     ["candidates", 0, "settings", "bogus"], "Extra inputs"),
    ({"candidates": [{"architecture": "fastgan"}], "resolution": 32}, ["candidates", 0, "resolution"], "64"),
    ({"candidates": [{"architecture": "cdcgan", "base_model_id": "mdl_none"}]},
     ["candidates", 0, "base_model_id"], "does not exist"),
    ({"candidates": [{"architecture": "singan"}]}, ["candidates", 0, "architecture"], "budget_minutes"),
    ({"budget_steps": 4}, ["budget_steps"], "less than 4"),
    ({"selection": {"metric": "accuracy"}}, ["selection", "metric"], "'kid', 'fid' or 'uplift'"),
    ({"selection": {"metric": "uplift", "uplift": {"classifier": "vgg99"}}}, ["selection", "uplift", "classifier"],
     "unknown classifier"),
])
def test_bad_sweeps_are_422_naming_the_field(api, photos, params, loc, msg):
    params = {"budget_steps": 100, **params} if "budget_minutes" not in params and params else params
    got_loc, got_msg = _error(_sweep(api, dataset_id=photos.id, **params))
    assert got_loc == ["params", *loc] and msg in got_msg


def test_an_uplift_sweep_gives_every_child_its_uplift_check(api, photos):
    check = {"synthetic_per_class": 20, "classifier": "small-cnn", "epochs": 2, "repeats": 2}
    response = _sweep(api, dataset_id=photos.id, budget_steps=1000, selection={"metric": "uplift", "uplift": check})
    assert response.status_code == 202, response.text
    assert [c["train"]["holdout_uplift"] for c in response.json()["params"]["candidates"]] == [check, check]
    by_kid = _sweep(api, dataset_id=photos.id, budget_steps=1000).json()["params"]["candidates"]
    assert [c["train"]["holdout_uplift"] for c in by_kid] == [None, None]  # measured only when it ranks


def test_an_uplift_check_needs_a_held_out_split(api, photos):
    response = api.post("/v1/jobs", json={"kind": "train", "params": {"dataset_id": photos.id, "steps": 20,
                                                                      "holdout_uplift": {}}})
    assert _error(response) == (["params", "holdout_uplift"],
                                "the uplift is scored on the held-out images: give holdout too")


def test_one_class_and_too_small_held_out_splits_are_refused(api):
    one = add_row(Dataset, classes=[{"name": "a", "count": 10}])
    assert "needs 2" in _error(_sweep(api, dataset_id=one.id, budget_steps=100))[1]
    few = add_row(Dataset, classes=[{"name": "a", "count": 2}, {"name": "b", "count": 10}])
    loc, msg = _error(_sweep(api, dataset_id=few.id, budget_steps=100, selection={"split": {"fraction": 0.2}}))
    assert loc == ["params", "candidates", 0, "holdout", "fraction"] and "['a']" in msg


def test_a_continuation_needs_a_kept_checkpoint_and_the_same_settings(api, photos):
    earlier = add_row(Job, status="succeeded", params={"keep_checkpoint": False}, result={"step": 10})
    response = api.post("/v1/jobs", json={"kind": "train", "params": {
        "dataset_id": photos.id, "steps": 20, "continue_from_job_id": earlier.id}})
    assert _error(response) == (["params", "continue_from_job_id"],
                                f"job {earlier.id} is not a train job that kept its checkpoint")


def test_time_budget_and_schedule_arithmetic(api, photos):
    response = _sweep(api, dataset_id=photos.id, budget_minutes=10, halving=False,
                      candidates=[{"architecture": "cdcgan"}, {"architecture": "cdcgan"}])
    params = response.json()["params"]
    assert params["schedule"] == {"unit": "minutes", "ends": [5.0]}
    assert [c["name"] for c in params["candidates"]] == ["cdcgan", "cdcgan-1"]
    assert params["candidates"][0]["train"]["max_minutes"] == 5.0 and not params["candidates"][0]["train"][
        "keep_checkpoint"]
    # halving over 2: 2/4 + 1/4 + 1/2 shares = 1.25; over 4: 4/4 + 2/4 + 1/2 = 2; over 5: 5/4 + 3/4 + 2/2 = 3
    assert share(100, 2, True) == 80 and share(100, 4, True) == 50 and share(90, 5, True) == 30
    assert step_schedule(10_000, 2, True) == ([2000, 4000, 8000], 200)
    assert step_schedule(1300, 2, True) == ([250, 500, 1000], 50)  # rung steps on the sample interval
    assert step_schedule(90, 3, False) == ([30], 30)


def test_default_candidates_follow_size_and_device(photos):
    names = [c.architecture for c in default_candidates(photos, "cpu", 32)]
    assert names == ["cdcgan"]
    assert [c.architecture for c in default_candidates(photos, "cuda", 64)] == ["cdcgan", "cfastgan", "stylegan2-ada"]


def _params(count: int, ends: list[float]) -> dict:
    return {"candidates": [{"name": f"n{i}"} for i in range(count)], "schedule": {"unit": "steps", "ends": ends},
            "selection": {"metric": "kid", "min_diversity": 0.3, "max_near_copy_fraction": 0.05}}


def _done(sweep: str, candidate: int, segment: int, kid: float, diversity: float = 1.0, copies: float = 0.0,
          status: str = "succeeded") -> tuple[str, Child]:
    scores = {"kid": kid, "diversity": diversity, "near_copy_fraction": copies}
    job_id = child_id(sweep, candidate, segment)
    return job_id, Child(job_id, status, {"step": segment, "holdout": scores}, None, NOW, NOW)


def test_halving_keeps_the_best_half_of_the_qualified_and_sends_one_alone_to_its_end():
    params = _params(4, [10, 20, 40])
    state = board("job_s", params, {})
    assert [(w.candidate, w.segment, w.end, w.last) for w in state.wanted] == [
        (0, 1, 10, False), (1, 1, 10, False), (2, 1, 10, False), (3, 1, 10, False)]
    children = dict([_done("job_s", 0, 1, 0.5), _done("job_s", 1, 1, 0.1, diversity=0.1),
                     _done("job_s", 2, 1, 0.3), _done("job_s", 3, 1, 0.9, status="failed")])
    state = board("job_s", params, children)
    out = {s.name: (s.out, s.reason) for s in state.standings}
    assert out["n1"][0] == DISQUALIFIED and out["n1"][1].startswith("collapsed")  # best KID, below the floor
    assert out["n3"][0] == FAILED
    assert [(w.candidate, w.segment, w.end) for w in state.wanted] == [(0, 2, 20), (2, 2, 20)]
    children.update([_done("job_s", 0, 2, 0.2), _done("job_s", 2, 2, 0.25)])
    state = board("job_s", params, children)
    assert [(w.candidate, w.segment, w.end, w.last) for w in state.wanted] == [(0, 3, 40, True)]
    assert next(s for s in state.standings if s.name == "n2").out == STOPPED
    children.update([_done("job_s", 0, 3, 0.1)])
    state = board("job_s", params, children)
    assert state.done and [s.name for s in state.leaderboard("kid")] == ["n0", "n2", "n1", "n3"]


def test_a_candidate_not_clearly_behind_goes_on_and_the_rest_of_the_budget_is_shared():
    params = {**_params(4, [10, 20, 40]), "budget_steps": 80}  # halving over 4: 4/4 + 2/4 + 1/2 = 2 shares of 40

    def done(candidate: int, segment: int, kid: float, kid_std: float) -> tuple[str, Child]:
        job_id, child = _done("job_t", candidate, segment, kid)
        child.result["holdout"]["kid_std"] = kid_std  # type: ignore[index]
        return job_id, child

    # n1 is third, but within 2 deviations of n2 (the last of the best 2): 0.5 - 0.3 < 2 * hypot(0.1, 0.1)
    children = dict([done(0, 1, 0.1, 0.01), done(1, 1, 0.5, 0.1), done(2, 1, 0.3, 0.1), done(3, 1, 0.9, 0.01)])
    state = board("job_t", params, children)
    out = {s.name: s.out for s in state.standings}
    assert out == {"n0": None, "n1": None, "n2": None, "n3": STOPPED}
    # 4 x 10 steps spent; the 3 going on share the other 40 and train to their end: 10 + 40 // 3
    assert [(w.candidate, w.segment, w.end, w.last) for w in state.wanted] == [
        (0, 2, 23, True), (1, 2, 23, True), (2, 2, 23, True)]
    children.update([done(0, 2, 0.2, 0.1), done(1, 2, 0.05, 0.1), done(2, 2, 0.3, 0.1)])
    state = board("job_t", params, children)
    assert state.done and [s.name for s in state.leaderboard("kid")] == ["n1", "n0", "n2", "n3"]
    assert "not clearly behind at rung 1" in state.standings[1].reason
    # clearly behind (0.5 - 0.3 > 2 * hypot(0.01, 0.01)): plain halving
    children = dict([done(0, 1, 0.1, 0.01), done(1, 1, 0.5, 0.01), done(2, 1, 0.3, 0.01), done(3, 1, 0.9, 0.01)])
    state = board("job_t", params, children)
    assert [(w.candidate, w.end, w.last) for w in state.wanted] == [(0, 20, False), (2, 20, False)]


def test_uplift_ranks_highest_first_and_its_floors_still_apply():
    params = _params(4, [10, 20, 40])
    params["selection"]["metric"] = "uplift"

    def done(candidate: int, segment: int, uplift: float, diversity: float = 1.0) -> tuple[str, Child]:
        job_id = child_id("job_u", candidate, segment)
        scores = {"uplift": uplift, "kid": 0.1, "diversity": diversity, "near_copy_fraction": 0.0}
        return job_id, Child(job_id, "succeeded", {"step": segment, "holdout": scores}, None, NOW, NOW)

    children = dict([done(0, 1, -0.05), done(1, 1, 0.04), done(2, 1, 0.09, diversity=0.1), done(3, 1, 0.01)])
    state = board("job_u", params, children)
    assert [(w.candidate, w.segment) for w in state.wanted] == [(1, 2), (3, 2)]  # the best 2 of 4, highest first
    assert [s.out for s in state.standings] == [STOPPED, None, DISQUALIFIED, None]
    children.update([done(1, 2, 0.05), done(3, 2, 0.07)])
    state = board("job_u", params, children)
    assert [(w.candidate, w.segment, w.last) for w in state.wanted] == [(3, 3, True)]
    children.update([done(3, 3, 0.06)])
    state = board("job_u", params, children)
    assert state.done and [s.name for s in state.leaderboard("uplift")] == ["n3", "n1", "n0", "n2"]


def test_memorised_candidates_are_disqualified():
    params = _params(2, [10])
    state = board("job_m", params, dict([_done("job_m", 0, 1, 0.1, copies=0.5), _done("job_m", 1, 1, 0.9)]))
    assert state.done and state.leaderboard("kid")[0].name == "n1"
    assert state.standings[0].reason.startswith("memorised")


def test_cancel_cascades_to_children_and_a_parked_parent_ends_at_once(api):
    parent = add_row(Job, kind="sweep", status="running", lease_owner="parked@2026-01-01T00:00:00+00:00")
    queued = add_row(Job, parent_job_id=parent.id)
    running = add_row(Job, parent_job_id=parent.id, status="running", lease_owner="w")
    other = add_row(Job)
    listed = api.get("/v1/jobs", params={"parent_job_id": parent.id}).json()["items"]
    assert {j["id"] for j in listed} == {queued.id, running.id}
    assert all(j["parent_job_id"] == parent.id for j in listed)
    assert api.post(f"/v1/jobs/{parent.id}/cancel").json()["status"] == "cancelled"
    status = {j["id"]: (j["status"]) for j in api.get("/v1/jobs", params={"limit": 500}).json()["items"]}
    assert (status[queued.id], status[running.id], status[other.id]) == ("cancelled", "running", "queued")
    assert api.get(f"/v1/jobs/{running.id}/events").json()["items"][-1]["type"] == "cancel_requested"
