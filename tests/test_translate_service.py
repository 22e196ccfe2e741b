"""Good -> defect through the live service, on both stacks: a cyclegan trained from clean parts to two defect
classes, a translate job, its batch downloaded (images, masks, manifest), uploaded again as a dataset and used as
the synthetic source of an augmentation report."""
from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from models.labels import MARGIN, text_width
from tests.conftest import sample_zip, submit, upload, wait_job

CLEAN_SIZE = 42  # not a multiple of 4: the translator pads and crops back
TINY = {"architecture": "cyclegan", "resolution": 32, "width": 4, "resnet_blocks": 1, "batch_size": 2, "steps": 4,
        "sample_every": 4, "checkpoint_every": 2, "pool_size": 2}


@pytest.fixture(scope="module")
def steel(stack) -> dict:
    """Clean parts and two defects; `defectgen sample-data --clean` makes such a set."""
    with stack.client() as c:
        archive = sample_zip(per_class=4, size=CLEAN_SIZE, classes=("clean", "crazing", "scratches"))
        response = upload(c, archive, filename="steel.zip")
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="module")
def translator(stack, steel) -> dict:
    with stack.client() as c:
        job = submit(c, "train", {"dataset_id": steel["id"], "source_class": "clean",
                                  "target_classes": ["crazing", "scratches"], **TINY})
        assert job.status_code == 202, job.text
        job = wait_job(c, job.json()["id"])
        assert job["status"] == "succeeded", job
        return {"job": job, "model": c.get(f"/v1/models/{job['result']['model_id']}").json()}


def test_a_cyclegan_trains_into_a_translator(client, translator):
    model, job = translator["model"], translator["job"]
    assert (model["kind"], model["architecture"]) == ("translator", "cyclegan")
    assert model["classes"] == ["clean", "crazing", "scratches"]
    assert {"loss_adversarial", "loss_cycle", "loss_identity", "loss_d"} <= set(job["metrics"])
    samples = client.get(f"/v1/jobs/{job['id']}/samples").json()
    grid = Image.open(io.BytesIO(client.get(samples[-1]["url"]).content))
    # 4 clean crops; source | translated | reconstructed per target, each row named on the left
    assert grid.size == (2 * MARGIN + text_width("-> scratches -> back") + 2 + 4 * 34, 2 + 6 * 34)
    refused = submit(client, "generate", {"model_id": model["id"], "count_per_class": 1})
    assert refused.status_code == 422
    snapshot = client.get(f"/v1/models/{model['id']}/checkpoint").content
    imported = client.post("/v1/models", files={"file": ("cyclegan.safetensors", snapshot)})
    assert imported.status_code == 201, imported.text
    assert (imported.json()["kind"], imported.json()["classes"]) == ("translator", model["classes"])


def test_translate_download_upload_and_report(client, dataset, steel, translator):
    job = submit(client, "translate", {"model_id": translator["model"]["id"], "dataset_id": steel["id"],
                                       "class": "clean", "count": 3, "seed": 1})
    assert job.status_code == 202, job.text
    job = wait_job(client, job.json()["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert (result["count"], result["sources"]) == (6, 3)  # every image into each of the two targets
    batch = client.get(f"/v1/batches/{result['batch_id']}").json()
    assert batch["classes"] == [{"name": "crazing", "count": 3}, {"name": "scratches", "count": 3}]

    download = client.get(f"/v1/batches/{batch['id']}/download")
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        files = {name: Image.open(io.BytesIO(zf.read(name))) for name in zf.namelist() if name.endswith(".png")}
    assert len(manifest) == 6 and set(files) == {row["file"] for row in manifest} | {row["mask"] for row in manifest}
    sources = {f"clean/{name}" for name in ("clean_1.png", "clean_2.png", "clean_3.png", "clean_4.png")}
    for row in manifest:
        image, mask = files[row["file"]], files[row["mask"]]
        assert row["mask"] == f"masks/{row['file']}" and row["source"] in sources
        assert image.size == mask.size == (CLEAN_SIZE, CLEAN_SIZE) and (image.mode, mask.mode) == ("L", "L")
        pixels = np.asarray(mask)
        assert set(np.unique(pixels)) <= {0, 255}
        assert float(row["changed_fraction"]) == pytest.approx((pixels == 255).mean(), abs=1e-6)
    flags = Counter(row["flag"] for row in manifest if row["flag"])
    assert result["flagged"] == {"unchanged": flags["unchanged"], "changed_everywhere": flags["changed_everywhere"]}
    assert len({row["source"] for row in manifest}) == 3

    again = upload(client, download.content, filename="translated.zip")
    assert again.status_code == 201, again.text
    assert again.json()["classes"] == batch["classes"]  # the masks are not a class

    report = submit(client, "augmentation_report", {
        "train_dataset_id": dataset["id"], "batch_id": batch["id"], "classifier": "small-cnn", "epochs": 1,
        "repeats": 1, "resolution": 32, "batch_size": 8, "synthetic_per_class": [2], "gradcam_samples": 0})
    assert report.status_code == 202, report.text
    report = wait_job(client, report.json()["id"])
    assert report["status"] == "succeeded", report
    stored = client.get(f"/v1/reports/{report['result']['report_id']}").json()
    assert stored["synthetic_source"] == {"batch_id": batch["id"]}
