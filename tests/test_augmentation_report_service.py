"""augmentation_report jobs, reports, filtered and topped-up generation, and classifier models, through the
live service."""
from __future__ import annotations

import csv
import io
import zipfile

import pytest
from PIL import Image

from tests.conftest import sample_zip, submit, upload, wait_job

TINY_REPORT = {"classifier": "small-cnn", "epochs": 1, "repeats": 2, "resolution": 32, "batch_size": 8,
               "synthetic_per_class": [2], "gradcam_samples": 2}


def _batch(client, model_id: str, **params) -> dict:
    job = wait_job(client, submit(client, "generate", {"model_id": model_id, **params}).json()["id"])
    assert job["status"] == "succeeded", job
    return job


def _manifest(client, batch_id: str) -> list[dict]:
    download = client.get(f"/v1/batches/{batch_id}/download")
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        return list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))


@pytest.fixture(scope="module")
def report(stack, dataset, trained_model) -> dict:
    with stack.client() as c:
        batch = _batch(c, trained_model["id"], count_per_class=4)
        job = submit(c, "augmentation_report", {"train_dataset_id": dataset["id"], "test_fraction": 0.35,
                                                "batch_id": batch["result"]["batch_id"], "class_balance": True,
                                                **TINY_REPORT}).json()
        job = wait_job(c, job["id"])
        assert job["status"] == "succeeded", job
        return {"job": job, "report": c.get(f"/v1/reports/{job['result']['report_id']}").json()}


def test_report_has_every_setting_with_statistics(client, report):
    summary = report["report"]["summary"]
    keys = [s["key"] for s in summary["settings"]]
    assert len(keys) == 4 and summary["baseline"] in keys  # {0, 2} synthetic x {unbalanced, balanced}
    for setting in summary["settings"]:
        for metric in ("accuracy", "macro_f1"):
            stats = setting[metric]
            assert len(stats["runs"]) == 2 and stats["ci95"][0] <= stats["mean"] <= stats["ci95"][1]
        assert set(setting["per_class"]) == {"crazing", "scratches"}
        assert sum(map(sum, setting["confusion"])) == 2 * 4  # two repeats of a 4-image test split
        assert (setting["uplift"] is None) == (setting["key"] == summary["baseline"])
        assert setting["uplift"] is None or setting["uplift"]["setting"] == setting["key"]
        assert setting["alias_of"] in (None, *keys) and isinstance(setting["few_repeats"], bool)
    assert summary["interval_method"]
    result = report["job"]["result"]
    assert result["uplift"] is None or result["uplift"]["setting"] == result["best_setting"]


def test_report_plots_and_gradcam_are_pngs(client, report):
    urls = [*report["report"]["plots"].values(), *report["report"]["gradcam"].values()]
    assert len(report["report"]["plots"]) == 2 and len(report["report"]["gradcam"]) == 4
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        Image.open(io.BytesIO(response.content)).verify()
    assert client.get(f"/v1/reports/{report['report']['id']}/plots/nope.png").status_code == 404


def test_report_registers_a_classifier_that_can_be_reimported(client, report):
    model = client.get(f"/v1/models/{report['report']['classifier_model_id']}").json()
    assert model["kind"] == "classifier" and model["architecture"] == "small-cnn"
    blob = client.get(f"/v1/models/{model['id']}/checkpoint").content
    imported = client.post("/v1/models", files={"file": ("clf.safetensors", blob)})
    assert imported.status_code == 201, imported.text
    assert imported.json()["kind"] == "classifier" and imported.json()["classes"] == model["classes"]


def test_reports_are_private_to_a_workspace(other_client, report):
    assert other_client.get(f"/v1/reports/{report['report']['id']}").status_code == 404


@pytest.mark.parametrize("mode, threshold, expect_all", [("confident", 1e-6, True), ("informative", 1e-6, False)])
def test_filtered_generation(client, trained_model, report, mode, threshold, expect_all):
    job = _batch(client, trained_model["id"], count_per_class=3, seed=5,
                 filter={"classifier_model_id": report["report"]["classifier_model_id"], "mode": mode,
                         "threshold": threshold, "max_candidates_factor": 2})
    rows = _manifest(client, job["result"]["batch_id"])
    stats = job["result"]["filter"]
    if expect_all:  # every image's class has p >= 1e-6
        assert len(rows) == 6 and all(s["kept"] == 3 and s["candidates"] <= 64 for s in stats.values())
        assert all(float(row["score"]) >= threshold for row in rows)
    else:  # informative keeps p < 1e-6 only: nothing, after trying the capped 2 x 3 candidates per class
        assert rows == [] and all(s == {"requested": 3, "kept": 0, "candidates": 6} for s in stats.values())


def test_dedupe_reports_near_copy_ratios(client, trained_model, report):
    job = _batch(client, trained_model["id"], count_per_class=2,
                 filter={"classifier_model_id": report["report"]["classifier_model_id"], "mode": None,
                         "dedupe_against_train": True, "dedupe_threshold": 1e-9})
    rows = _manifest(client, job["result"]["batch_id"])
    assert len(rows) == 4 and all(float(row["near_copy_ratio"]) > 0 for row in rows)


def test_top_up_generates_the_difference(client, trained_model):
    unbalanced = upload(client, _unbalanced_zip(), filename="unbalanced.zip").json()
    job = _batch(client, trained_model["id"], top_up_dataset_id=unbalanced["id"])
    counts = {c["name"]: c["count"] for c in client.get(f"/v1/batches/{job['result']['batch_id']}").json()["classes"]}
    assert counts == {"scratches": 3}  # crazing has 9 real images, scratches 6: top up to the largest
    job = _batch(client, trained_model["id"], top_up_dataset_id=unbalanced["id"], count_per_class=10)
    counts = {c["name"]: c["count"] for c in client.get(f"/v1/batches/{job['result']['batch_id']}").json()["classes"]}
    assert counts == {"crazing": 1, "scratches": 4}


def _unbalanced_zip() -> bytes:
    big, small = (zipfile.ZipFile(io.BytesIO(sample_zip(per_class=n))) for n in (9, 6))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for source, cls in ((big, "crazing"), (small, "scratches")):
            for name in source.namelist():
                if name.startswith(cls + "/") and not name.endswith("/"):
                    zf.writestr(name, source.read(name))
    return out.getvalue()


def test_bad_report_params_are_422(client, dataset, trained_model, report):
    one_class = _batch(client, trained_model["id"], counts={"crazing": 4})
    base = {"train_dataset_id": dataset["id"], "model_id": trained_model["id"], **TINY_REPORT}
    cases = [
        ({"classifier": "vgg99"}, "classifier"),
        ({"test_fraction": 0.01}, "test_fraction"),
        ({"model_id": None, "batch_id": one_class["result"]["batch_id"]}, "batch_id"),
        ({"synthetic_per_class": [1000]} | {"model_id": None, "batch_id": report["job"]["params"]["batch_id"]},
         "batch_id"),
        ({"batch_id": report["job"]["params"]["batch_id"]}, "params"),  # two sources
    ]
    for override, field in cases:
        response = submit(client, "augmentation_report", {**base, **override})
        assert response.status_code == 422, (override, response.text)
        assert response.json()["errors"][0]["loc"][-1] == field, (override, response.json())


def test_filter_needs_a_classifier(client, trained_model):
    response = submit(client, "generate", {"model_id": trained_model["id"], "count_per_class": 1,
                                           "filter": {"classifier_model_id": trained_model["id"]}})
    assert response.status_code == 422
    assert "not a classifier" in response.json()["errors"][0]["msg"]


def test_imported_pretrained_weights_start_a_report(client, dataset, report):
    import safetensors.torch
    import torch

    from models.classifiers import build_classifier

    torch.manual_seed(0)
    weights = safetensors.torch.save(build_classifier("small-cnn", 5, 3).state_dict())  # RGB, 5 other classes
    imported = client.post("/v1/models", files={"file": ("cnn.safetensors", weights)},
                           data={"architecture": "small-cnn"})
    assert imported.status_code == 201, imported.text
    model = imported.json()
    assert (model["kind"], model["channels"], len(model["classes"])) == ("classifier", 3, 5)
    refused = client.post("/v1/models", files={"file": ("cnn.safetensors", weights)}, data={"architecture": "vgg"})
    assert refused.status_code == 422

    params = {"train_dataset_id": dataset["id"], "batch_id": report["job"]["params"]["batch_id"],
              **TINY_REPORT, "repeats": 1, "gradcam_samples": 0}
    wrong = submit(client, "augmentation_report", {**params, "classifier": "resnet18",
                                                   "init_classifier_id": model["id"]})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["loc"][-1] == "init_classifier_id"
    job = wait_job(client, submit(client, "augmentation_report", {**params, "init_classifier_id": model["id"]})
                   .json()["id"])
    assert job["status"] == "succeeded", job
