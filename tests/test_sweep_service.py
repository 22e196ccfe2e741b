"""Sweeps through the service (issue 16): the pick, disqualification, a killed worker and cancel.

The candidates are tiny cdcgans on a two-class set. "trained" learns. "frozen" has a learning rate so small that it
keeps its initial weights: useless by construction, and its images are alike whatever z is (diversity about 0.5
of the held-out images', measured at 0.45 to 0.55), which the floor of 0.8 set here counts as collapsed; at the
first rung its KID is the better of the two (1.5 against 3.2), so it is the floor that rules it out.
"""
from __future__ import annotations

import pytest

from tests.conftest import TINY_TRAIN, sample_zip, submit, upload, wait_job
from tests.stack import wait_until

TINY = {k: v for k, v in TINY_TRAIN.items() if k not in ("architecture", "resolution")}
TRAINED = {"architecture": "cdcgan", "name": "trained", "settings": TINY}
FROZEN = {"architecture": "cdcgan", "name": "frozen", "settings": {**TINY, "lr": 1e-12}}
SELECTION = {"split": {"fraction": 0.25, "seed": 0, "num_samples": 64}, "min_diversity": 0.8}


@pytest.fixture(scope="module")
def sweep_set(stack) -> dict:  # type: ignore[no-untyped-def]
    """Enough images that 3 of each class are held out."""
    with stack.client() as c:
        response = upload(c, sample_zip(per_class=12, size=32), filename="sweep-set.zip")
        assert response.status_code in (200, 201), response.text
        return response.json()


def _sweep(client, dataset: dict, budget_steps: int) -> dict:  # type: ignore[no-untyped-def]
    params = {"dataset_id": dataset["id"], "budget_steps": budget_steps, "resolution": 32,
              "candidates": [TRAINED, FROZEN], "selection": SELECTION}
    response = submit(client, "sweep", params)
    assert response.status_code == 202, response.text
    return response.json()


def _children(client, sweep_id: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    items = client.get("/v1/jobs", params={"parent_job_id": sweep_id, "limit": 100}).json()["items"]
    return {job["id"].rsplit(".", 1)[1]: job for job in items}


def test_sweep_picks_the_trained_candidate_and_disqualifies_the_collapsed_one(client, stack, sweep_set):
    sweep = _sweep(client, sweep_set, 200)
    # and a worker killed in the middle: the finished candidate is not trained again
    wait_until(lambda: _children(client, sweep["id"]).get("c1s1", {}).get("status") == "running", 120,
               interval=0.1, what="the second candidate to start")
    stack.kill_workers()
    stack.start_worker()
    job = wait_job(client, sweep["id"], timeout=300)
    assert job["status"] == "succeeded", job
    result = job["result"]
    board = {row["name"]: row for row in result["leaderboard"]}
    assert result["winner"]["name"] == "trained" and board["trained"]["rank"] == 1
    assert board["trained"]["status"] == "finished"
    assert board["frozen"]["status"] == "disqualified" and board["frozen"]["reason"].startswith("collapsed")
    assert board["frozen"]["kid"] < board["trained"]["curve"][0]["kid"]  # better KID, disqualified all the same
    # halving: a full share of 160 steps, rungs at 40 and 80; the winner went on alone from 40 to its end
    assert result["schedule"] == {"unit": "steps", "ends": [40, 80, 160]}
    assert board["frozen"]["steps_trained"] == 40 and board["trained"]["steps_trained"] == 160
    assert [p["step"] for p in board["trained"]["curve"]] == [40, 160]

    children = _children(client, job["id"])
    assert sorted(children) == ["c0s1", "c0s2", "c1s1"]
    assert all(c["status"] == "succeeded" and c["parent_job_id"] == job["id"] for c in children.values())
    assert children["c0s2"]["params"]["continue_from_job_id"] == children["c0s1"]["id"]
    assert children["c0s1"]["attempts"] == 1 and job["attempts"] == 1 and children["c1s1"]["attempts"] == 2
    model = client.get(f"/v1/models/{result['model_id']}").json()
    assert model["metrics"]["selected_by"] == job["id"] and model["job_id"] == children["c0s2"]["id"]
    # the winner's rung-1 model was continued, so it is gone; the disqualified candidate keeps its model
    assert client.get(f"/v1/models/{children['c0s1']['result']['model_id']}").status_code == 404
    assert client.get(f"/v1/models/{board['frozen']['model_id']}").status_code == 200


def test_cancelling_a_sweep_cancels_its_children(client, sweep_set):
    sweep = _sweep(client, sweep_set, 20_000)  # rungs of 4,000 steps: still training when cancelled
    wait_until(lambda: _children(client, sweep["id"]).get("c0s1", {}).get("status") == "running", 120,
               interval=0.1, what="the first candidate to start")
    response = client.post(f"/v1/jobs/{sweep['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"  # parked: at once
    children = _children(client, sweep["id"])
    assert children["c1s1"]["status"] == "cancelled"  # queued: at once
    running = wait_job(client, children["c0s1"]["id"], timeout=60)
    assert running["status"] == "cancelled" and running["progress"]["step"] < 4000
    assert sorted(_children(client, sweep["id"])) == ["c0s1", "c1s1"]
    assert client.get(f"/v1/jobs/{sweep['id']}").json()["status"] == "cancelled"


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_a_sweep_ranked_by_uplift_scores_each_candidate_with_a_classifier(client, sweep_set):
    # 20 steps each leave both below any diversity floor: no floor here, the ranking is what is tested
    check = {"synthetic_per_class": 8, "classifier": "small-cnn", "epochs": 1, "repeats": 2}
    params = {"dataset_id": sweep_set["id"], "budget_steps": 40, "resolution": 32, "halving": False,
              "candidates": [TRAINED, FROZEN], "selection": {**SELECTION, "min_diversity": 0.0, "metric": "uplift",
                                                             "uplift": check}}
    job = wait_job(client, submit(client, "sweep", params).json()["id"], timeout=300)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["metric"] == "uplift"
    rows = [row for row in result["leaderboard"] if row["status"] == "finished"]
    assert len(rows) == 2 and [row["rank"] for row in rows] == [1, 2], result["leaderboard"]
    assert rows[0]["uplift"] >= rows[1]["uplift"] and result["winner"]["name"] == rows[0]["name"]
    for row in rows:
        assert -1 <= row["uplift"] <= 1 and row["curve"][-1]["uplift"] == row["uplift"]
        scores = _children(client, job["id"])[row["job_id"].rsplit(".", 1)[1]]["result"]["holdout"]
        low, high = scores["uplift_ci95"]
        assert -1 <= low <= scores["uplift"] <= high <= 1 and 0 <= scores["uplift_real_accuracy"] <= 1
        assert scores["uplift_p_value"] is not None  # two repeats: a paired test
