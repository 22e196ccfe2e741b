"""Which backbone a job measures in when none is given, and when "auto" cannot work (in-process: no worker)."""
from __future__ import annotations

import pytest

from core.tables import Dataset, RegisteredModel
from tests.conftest import TINY_TRAIN
from tests.inprocess import add_row


@pytest.fixture(scope="module")
def rows(api):  # type: ignore[no-untyped-def]
    two = add_row(Dataset, classes=[{"name": "a", "count": 6}, {"name": "b", "count": 6}])
    one = add_row(Dataset, classes=[{"name": "a", "count": 6}])
    model = add_row(RegisteredModel, classes=["a"], dataset_id=one.id)
    return two, one, model


def submit(api, kind: str, params: dict):  # type: ignore[no-untyped-def]
    return api.post("/v1/jobs", json={"kind": kind, "params": params})


def test_without_inception_weights_the_default_is_auto(api, rows):
    two, _, model = rows
    evaluate = submit(api, "evaluate", {"model_id": model.id, "dataset_id": two.id})
    assert evaluate.status_code == 202, evaluate.text
    assert evaluate.json()["params"]["backbone"] == "auto"
    assert evaluate.json()["params"]["metrics"] == ["fid", "kid", "diversity"]
    train = submit(api, "train", {"dataset_id": two.id, "eval_every": 5, **TINY_TRAIN})
    assert train.status_code == 202, train.text
    assert train.json()["params"]["eval_backbone"] == "auto"
    # the Inception Score needs Inception's logits: its default stays Inception, which is not imported here
    refused = submit(api, "evaluate", {"model_id": model.id, "dataset_id": two.id, "metrics": ["is"]})
    assert refused.status_code == 422 and "defectgen weights import" in refused.text


def test_auto_needs_two_classes(api, rows):
    _, one, model = rows
    for params in ({}, {"backbone": "auto"}):
        response = submit(api, "evaluate", {"model_id": model.id, "dataset_id": one.id, **params})
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert error["loc"][-1] == "backbone" and "at least 2" in error["msg"]
    train = submit(api, "train", {"dataset_id": one.id, "eval_every": 5, **TINY_TRAIN})
    assert train.status_code == 422 and train.json()["errors"][0]["loc"][-1] == "eval_backbone"
    # without evaluation a one-class dataset trains; its result says that diversity is not measured
    assert submit(api, "train", {"dataset_id": one.id, **TINY_TRAIN}).status_code == 202


def test_a_report_needs_two_classes(api, rows):
    _, one, model = rows
    response = submit(api, "augmentation_report", {"train_dataset_id": one.id, "model_id": model.id})
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["loc"][-1] == "train_dataset_id" and "two" in error["msg"]
