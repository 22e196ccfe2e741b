"""Every architecture through the service, on both stacks: the worker trains exactly the configuration the
API reported, the model holds the sampling network alone, and training state ends with the job."""
from __future__ import annotations

import pytest

from core.kinds.train import PARAMS_MODELS
from models.architectures import architecture_names, get_architecture
from models.augment import resolve_augment
from tests.conftest import submit, wait_job

TINY = {"resolution": 32, "width": 8, "z_dim": 16, "batch_size": 4, "steps": 2, "sample_every": 2,
        "checkpoint_every": 1}
# Where TINY is not tiny enough: SinGAN's own schedule sets its steps (3 scales x 1 step per class); CycleGAN
# also needs its source and target classes.
TINY_OPTIONS = {"singan": {"min_size": 20, "steps_per_scale": 1},
                "cyclegan": {"source_class": "crazing", "target_class": "scratches", "resnet_blocks": 1}}


@pytest.mark.parametrize("name", architecture_names())
def test_worker_trains_with_the_params_the_api_reported(client, dataset, name):
    from core.storage import get_store
    from core.storage_keys import checkpoint_key, model_discriminator_key
    from models.checkpoint import unpack_state

    resolutions = get_architecture(name).resolutions
    resolution = TINY["resolution"] if TINY["resolution"] in resolutions else min(resolutions)
    tiny = {k: v for k, v in TINY.items() if k in PARAMS_MODELS[name].model_fields}  # SinGAN has no z_dim
    accepted = submit(client, "train", {"dataset_id": dataset["id"], "architecture": name, **tiny,
                                        **TINY_OPTIONS.get(name, {}), "resolution": resolution})
    assert accepted.status_code == 202, accepted.text
    reported = accepted.json()["params"]
    job = wait_job(client, accepted.json()["id"])
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['result']['model_id']}").json()
    trained = model["config"]["options"]
    expected = {field: reported[field] for field in get_architecture(name).Options.model_fields}
    if expected.get("augment") == "auto":  # recorded as what it chose for the dataset
        expected["augment"] = resolve_augment("auto", dataset["num_images"])
    assert trained == expected
    assert {k: model["config"][k] for k in ("steps", "batch_size", "seed")} == {
        k: reported[k] for k in ("steps", "batch_size", "seed")}

    tree = unpack_state(client.get(f"/v1/models/{model['id']}/checkpoint").content)
    assert tree["format"] == "defectgen-generator/1"
    assert set(tree) == {"format", "config", "step", "generator"}  # no optimiser, no discriminator
    store = get_store()
    assert store.exists(model_discriminator_key(model["id"]))  # kept beside the model, for fine-tunes
    assert not store.exists(checkpoint_key(job["id"]))
