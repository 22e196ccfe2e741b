"""Cyclegan train jobs and translate jobs, in-process (no worker runs): bad params are 422 at submission and store
nothing; what a train job trains on, read from uploaded datasets, is the source class or every image of a source
dataset as class 0 and each target after it."""
from __future__ import annotations

import pytest
import torch
from sqlalchemy import func, select

from core.tables import Dataset, Job, RegisteredModel
from models.data import TrainingImages
from tests.conftest import sample_zip, upload
from tests.inprocess import add_row

TINY = {"architecture": "cyclegan", "resolution": 32, "width": 8, "batch_size": 4, "steps": 2}


@pytest.fixture(scope="module")
def rows(api):  # type: ignore[no-untyped-def]
    classes = [{"name": "clean", "count": 6}, {"name": "crazing", "count": 6}, {"name": "scratches", "count": 6}]
    dataset = add_row(Dataset, classes=classes, num_images=18)
    clean = add_row(Dataset, classes=[{"name": "clean", "count": 5}], num_images=5)
    translator = add_row(RegisteredModel, kind="translator", architecture="cyclegan",
                         classes=["clean", "crazing", "scratches"])
    generator = add_row(RegisteredModel, classes=["crazing", "scratches"])
    return dataset, clean, translator, generator


def _job_count() -> int:
    from core.db import session_scope

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job))


def submit(api, kind: str, params: dict):  # type: ignore[no-untyped-def]
    return api.post("/v1/jobs", json={"kind": kind, "params": params})


TRAIN_CASES = {
    "unknown source class": ({"source_class": "rust", "target_class": "scratches"}, "source_class"),
    "unknown target class": ({"source_class": "clean", "target_class": "rust"}, "target_class"),
    "unknown target among several": ({"source_class": "clean", "target_classes": ["scratches", "rust"]},
                                     "target_classes"),
    "same source and target": ({"source_class": "scratches", "target_class": "scratches"}, "source_class"),
    "source among the targets": ({"source_class": "clean", "target_classes": ["crazing", "clean"]}, "source_class"),
    "a source dataset's class as target": ({"source_dataset_id": "CLEAN", "target_class": "clean"},
                                           "source_dataset_id"),
    "missing source dataset": ({"source_dataset_id": "ds_nope", "target_class": "scratches"}, "source_dataset_id"),
    "two sources": ({"source_class": "clean", "source_dataset_id": "CLEAN", "target_class": "scratches"}, None),
    "no target": ({"source_class": "clean"}, None),
    "repeated targets": ({"source_class": "clean", "target_classes": ["crazing", "crazing"]}, None),
    "evaluation": ({"source_class": "clean", "target_class": "scratches", "eval_every": 1}, "eval_every"),
    "z_dim": ({"source_class": "clean", "target_class": "scratches", "z_dim": 16}, "z_dim"),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_bad_cyclegan_training_is_422(api, rows, case):
    dataset, clean, _, _ = rows
    params, field = TRAIN_CASES[case]
    params = {k: clean.id if v == "CLEAN" else v for k, v in params.items()}
    before = _job_count()
    response = submit(api, "train", {"dataset_id": dataset.id, **TINY, **params})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert response.json()["errors"][0]["loc"] == ["body", "params", field]
    assert _job_count() == before


def test_cyclegan_training_is_accepted_from_a_class_or_a_source_dataset(api, rows):
    dataset, clean, _, _ = rows
    accepted = submit(api, "train", {"dataset_id": dataset.id, **TINY, "source_class": "clean",
                                     "target_classes": ["crazing", "scratches"]})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["params"]["resnet_blocks"] is None  # 6 at this resolution, decided by the network
    from_dataset = submit(api, "train", {"dataset_id": dataset.id, **TINY, "source_dataset_id": clean.id,
                                         "target_class": "scratches"})
    assert from_dataset.status_code == 202, from_dataset.text
    assert api.delete(f"/v1/datasets/{clean.id}").status_code == 409  # an active job reads it


TRANSLATE_CASES = {
    "a generator, not a translator": ({"model_id": "GENERATOR"}, "model_id"),
    "unknown class": ({"class": "rust"}, "class"),
    "unknown target": ({"target_class": "rust"}, "target_class"),
    "the source as target": ({"target_class": "clean"}, "target_class"),
    "backward from an unnamed target": ({"direction": "backward"}, "target_class"),
    "more images than there are": ({"count": 7}, "count"),
    "missing model": ({"model_id": "mdl_nope"}, "model_id"),
    "both sources": ({"source_dataset_id": "CLEAN"}, None),
    "class without dataset": ({"dataset_id": None}, None),
    "unknown direction": ({"direction": "sideways"}, "direction"),
    "threshold out of range": ({"mask_threshold": 1.0}, "mask_threshold"),
    "flag bounds reversed": ({"min_changed": 0.5, "max_changed": 0.1}, None),
}


@pytest.mark.parametrize("case", list(TRANSLATE_CASES))
def test_bad_translation_is_422(api, rows, case):
    dataset, clean, translator, generator = rows
    override, field = TRANSLATE_CASES[case]
    names = {"CLEAN": clean.id, "GENERATOR": generator.id}
    params = {"model_id": translator.id, "dataset_id": dataset.id, "class": "clean", **override}
    params = {k: names.get(v, v) for k, v in params.items() if v is not None}  # type: ignore[arg-type]
    before = _job_count()
    response = submit(api, "translate", params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert response.json()["errors"][0]["loc"] == ["body", "params", field]
    assert _job_count() == before


def test_translation_is_accepted_and_stores_every_default(api, rows):
    dataset, clean, translator, _ = rows
    response = submit(api, "translate", {"model_id": translator.id, "source_dataset_id": clean.id, "count": 5})
    assert response.status_code == 202, response.text
    assert response.json()["params"] == {
        "model_id": translator.id, "dataset_id": None, "class": None, "source_dataset_id": clean.id,
        "direction": "forward", "target_class": None, "count": 5, "seed": 0, "mask_threshold": 0.1,
        "min_changed": 0.001, "max_changed": 0.5}
    backward = submit(api, "translate", {"model_id": translator.id, "dataset_id": dataset.id, "class": "scratches",
                                         "direction": "backward"})
    assert backward.status_code == 202, backward.text  # the images' class names the target
    generate = submit(api, "generate", {"model_id": translator.id, "count_per_class": 1})
    assert generate.status_code == 422 and generate.json()["errors"][0]["loc"] == ["body", "params", "model_id"]


def _row(dataset_id: str) -> Dataset:
    from core.db import session_scope

    with session_scope() as session:
        row = session.get(Dataset, dataset_id)
        session.expunge(row)
    return row


@pytest.fixture(scope="module")
def datasets(api):  # type: ignore[no-untyped-def]
    steel = upload(api, sample_zip(per_class=3, size=40, classes=("clean", "crazing", "scratches")))
    defects = upload(api, sample_zip(per_class=2, size=32, classes=("crazing", "scratches")))
    assert steel.status_code == defects.status_code == 201, (steel.text, defects.text)
    return _row(steel.json()["id"]), _row(defects.json()["id"])


def test_a_source_class_and_targets_of_one_dataset(datasets):
    from core.storage import get_store
    from worker.translation_inputs import load_translation_images

    steel, _ = datasets
    images, labels = load_translation_images(get_store(), steel, None, ["scratches", "clean"], 32, 1, "random")
    assert isinstance(images, TrainingImages) and images.sizes.tolist() == [[40, 40]] * 6
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]  # crazing is neither


def test_every_image_of_a_source_dataset_is_the_source(datasets):
    from core.kinds._translation import translation_classes
    from core.kinds.train import PARAMS_MODELS
    from core.storage import get_store
    from worker.translation_inputs import load_translation_images

    steel, defects = datasets
    params = PARAMS_MODELS["cyclegan"](architecture="cyclegan", dataset_id=defects.id, source_dataset_id=steel.id,
                                       target_class="crazing")
    classes = translation_classes(params, defects, steel)
    assert classes == ["source", "crazing"]
    images, labels = load_translation_images(get_store(), defects, steel, classes, 32, 1, "resize")
    assert isinstance(images, torch.Tensor) and images.shape == (11, 1, 32, 32)
    assert labels.tolist() == [0] * 9 + [1] * 2  # all nine steel images, then the defect set's crazing
