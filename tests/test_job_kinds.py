"""Job kinds and architectures, checked in-process: what /openapi.json shows, what a submission refuses (422)
and what an active job's references protect from deletion (409). No worker runs; jobs stay queued."""
from __future__ import annotations

import typing

import pytest

from core.kinds import all_kinds, get_kind
from core.kinds.base import value_at
from core.tables import Backbone, Batch, Dataset, Job, RegisteredModel
from models.architectures import architecture_names, get_architecture
from models.presets import PRESETS
from tests.inprocess import add_row

COLLECTIONS = {Dataset: "datasets", RegisteredModel: "models", Batch: "batches", Backbone: "backbones"}


@pytest.fixture(scope="module")
def dataset(api):  # type: ignore[no-untyped-def]
    return add_row(Dataset)


# What an architecture needs beyond the dataset: a translator, its source and target classes.
REQUIRED = {"cyclegan": {"source_class": "a", "target_class": "b"}}


def train(api, **params):  # type: ignore[no-untyped-def]
    params = {**REQUIRED.get(params.get("architecture"), {}), **params}
    return api.post("/v1/jobs", json={"kind": "train", "params": params})


def _schema(api, name: str) -> dict:  # type: ignore[no-untyped-def]
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    return schemas[f"TrainParams_{name.replace('-', '_')}"]


@pytest.mark.parametrize("name", architecture_names())
def test_openapi_shows_each_architectures_declared_options(api, name):
    options = get_architecture(name).Options
    properties = _schema(api, name)["properties"]
    for field, info in options.model_fields.items():
        assert field in properties, field
        assert properties[field].get("default") == info.default, field
    assert properties["architecture"].get("const", properties["architecture"].get("enum", [None])[0]) == name


def _wrong_values(info) -> list[typing.Any]:  # type: ignore[no-untyped-def]
    values: list[typing.Any] = ["not-a-valid-value"]
    for bound in info.metadata:
        for attr, shift in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
            if getattr(bound, attr, None) is not None:
                values.append(getattr(bound, attr) + shift)
    return values


@pytest.mark.parametrize("name", architecture_names())
def test_a_wrong_value_of_each_option_is_a_422_naming_it(api, dataset, name):
    for field, info in get_architecture(name).Options.model_fields.items():
        for wrong in _wrong_values(info):
            response = train(api, dataset_id=dataset.id, architecture=name, **{field: wrong})
            assert response.status_code == 422, (field, wrong, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert [e["loc"] for e in response.json()["errors"]] == [["body", "params", field]], (field, wrong)


def test_an_option_of_another_architecture_is_refused(api, dataset):
    response = train(api, dataset_id=dataset.id, architecture="cdcgan", mapping_layers=2)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "params", "mapping_layers"]


def test_unknown_architecture_names_the_field(api, dataset):
    response = train(api, dataset_id=dataset.id, architecture="vqgan")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "params", "architecture"]
    assert "cdcgan" in response.json()["detail"]


@pytest.mark.parametrize("name", architecture_names())
def test_stored_params_hold_every_default_once(api, dataset, name):
    response = train(api, dataset_id=dataset.id, architecture=name, steps=3)
    assert response.status_code == 202, response.text
    params = response.json()["params"]
    for field, info in get_architecture(name).Options.model_fields.items():
        assert params[field] == info.default, field
    assert get_kind("train").parse(params).architecture == name


def test_a_preset_fills_what_the_request_leaves_out(api, dataset):
    response = train(api, dataset_id=dataset.id, preset="neu-dcgan", steps=3)
    assert response.status_code == 202, response.text
    params = response.json()["params"]
    recipe = PRESETS["neu-dcgan"]
    assert params["architecture"] == recipe.architecture
    assert {name: params[name] for name in recipe.values} == {**recipe.values, "steps": 3}  # the request wins
    assert params["upsample"] == "transpose" and params["augment"] == "none"


def test_the_few_shot_textures_preset_is_a_cpu_sized_singan(api, dataset):
    response = train(api, dataset_id=dataset.id, preset="few-shot-textures", steps_per_scale=5)
    assert response.status_code == 202, response.text
    params = response.json()["params"]
    assert params["architecture"] == "singan"
    assert (params["width"], params["images_per_class"], params["steps_per_scale"]) == (16, 2, 5)


def few_shot_set(**fields):  # type: ignore[no-untyped-def]
    return add_row(Dataset, **{"min_size": [64, 64], "max_size": [200, 200], **fields})


def test_a_request_that_chooses_nothing_trains_the_few_shot_recipe_on_a_few_shot_set(api):
    response = train(api, dataset_id=few_shot_set().id, seed=3, max_minutes=5, base_model_id=None)
    assert response.status_code == 202, response.text
    params = response.json()["params"]
    assert (params["architecture"], params["preset"]) == ("singan", "few-shot-textures")
    assert (params["seed"], params["max_minutes"], params["images_per_class"]) == (3, 5, 2)
    assert get_kind("train").parse(params).architecture == "singan"


@pytest.mark.parametrize(("dataset_fields", "request_fields"), [
    ({"min_size": [48, 64]}, {}),  # smaller than the recipe's resolution
    ({"classes": [{"name": c, "count": 10} for c in "abcdefghi"]}, {}),  # too many pyramids for the CPU budget
    ({"classes": [{"name": "a", "count": 17}, {"name": "b", "count": 10}]}, {}),  # not a few-shot set
    ({}, {"architecture": "cdcgan"}),
    ({}, {"steps": 500}),
    ({}, {"mode_seeking": 0.1}),
])
def test_otherwise_a_request_trains_the_default_architecture(api, dataset_fields, request_fields):
    response = train(api, dataset_id=few_shot_set(**dataset_fields).id, **request_fields)
    assert response.status_code == 202, response.text
    assert (response.json()["params"]["architecture"], response.json()["params"]["preset"]) == ("cdcgan", None)


@pytest.fixture
def cuda_training(monkeypatch):  # type: ignore[no-untyped-def]
    from core.settings import get_settings

    monkeypatch.setenv("DEFECTGEN_TRAIN_DEVICE", "cuda")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("DEFECTGEN_TRAIN_DEVICE")
    get_settings.cache_clear()


def test_a_cuda_service_keeps_the_default_architecture_on_a_few_shot_set(api, cuda_training):
    params = train(api, dataset_id=few_shot_set().id).json()["params"]
    assert (params["architecture"], params["preset"]) == ("cdcgan", None)


@pytest.mark.parametrize("name", [n for n in architecture_names() if get_architecture(n).device_defaults])
def test_a_cuda_service_takes_the_cuda_defaults_where_the_request_gives_none(api, dataset, cuda_training, name):
    cuda = get_architecture(name).device_defaults["cuda"]
    params = train(api, dataset_id=dataset.id, architecture=name).json()["params"]
    assert {field: params[field] for field in cuda} == cuda
    given = train(api, dataset_id=dataset.id, architecture=name, steps=7).json()["params"]
    assert given["steps"] == 7


def test_a_cpu_service_takes_the_declared_defaults(api, dataset):
    params = train(api, dataset_id=dataset.id).json()["params"]
    options = get_architecture(params["architecture"]).Options
    assert all(params[name] == info.default for name, info in options.model_fields.items())


@pytest.mark.parametrize(("params", "loc"), [({"preset": "neu-dcgan", "architecture": "dcgan"}, "preset"),
                                             ({"preset": "vqgan-paper"}, "preset")])
def test_a_wrong_preset_is_a_422_naming_it(api, dataset, params, loc):
    response = train(api, dataset_id=dataset.id, **params)
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["errors"]] == [loc]


def test_a_fine_tune_inherits_its_base_models_shape(api, dataset):
    base = add_row(RegisteredModel, architecture="stylegan2-ada", resolution=32, channels=1,
                   config={"architecture": "stylegan2-ada", "channels": 1, "class_names": ["a", "b"],
                           "options": {"resolution": 32, "z_dim": 24, "width": 8, "w_dim": 32}})
    response = train(api, dataset_id=dataset.id, architecture="stylegan2-ada", base_model_id=base.id)
    assert response.status_code == 202, response.text
    params = response.json()["params"]
    assert (params["resolution"], params["z_dim"], params["width"], params["w_dim"]) == (32, 24, 8, 32)
    refused = train(api, dataset_id=dataset.id, architecture="stylegan2-ada", base_model_id=base.id, w_dim=64)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "params", "w_dim"]


def test_report_counts_the_train_splits_images(api):
    """{a: 100, b: 10}, test_fraction 0.2, class_balance, [0, 100]: the train split is {a: 80, b: 8}, so b
    needs 100 + 72 = 172 synthetic images (the whole set's counts would have demanded 190)."""
    data = add_row(Dataset, classes=[{"name": "a", "count": 100}, {"name": "b", "count": 10}], num_images=110)

    def report(b_images: int):  # type: ignore[no-untyped-def]
        batch = add_row(Batch, classes=[{"name": "a", "count": 100}, {"name": "b", "count": b_images}])
        return api.post("/v1/jobs", json={"kind": "augmentation_report", "params": {
            "train_dataset_id": data.id, "batch_id": batch.id, "test_fraction": 0.2, "class_balance": True,
            "synthetic_per_class": [0, 100]}})

    assert report(180).status_code == 202, report(180).text
    assert report(172).status_code == 202
    short = report(171)
    assert short.status_code == 422
    assert "b (171 < 172)" in short.json()["detail"]


def _nested(path: str, value: str) -> dict:
    params: dict = {}
    node = params
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return params


REFERENCES = [(spec.name, path, ref.table) for spec in all_kinds() for path, ref in spec.references.items()]


@pytest.mark.parametrize(("kind", "path", "table"), REFERENCES, ids=[f"{k}:{p}" for k, p, _ in REFERENCES])
@pytest.mark.parametrize("status", ["queued", "running"])
def test_each_reference_blocks_deleting_what_it_names(api, kind, path, table, status):
    resource = add_row(table)
    job = add_row(Job, kind=kind, status=status, params=_nested(path, resource.id))
    assert value_at(job.params, path) == resource.id
    url = f"/v1/{COLLECTIONS[table]}/{resource.id}"
    response = api.delete(url)
    assert response.status_code == 409, response.text
    assert job.id in response.json()["detail"]
    from core.db import session_scope

    with session_scope() as session:
        session.get(Job, job.id).status = "succeeded"
    assert api.delete(url).status_code == 204

