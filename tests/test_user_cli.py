"""The user commands (`defectgen datasets | train | generate | jobs | models | batches ...` and `demo`) against a
live embedded stack with a real worker, through click's runner in this process; a missing server through a real
process, to see what a user sees."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from tests.conftest import sample_zip
from tests.stack import ROOT, free_port

embedded = pytest.mark.parametrize("stack", ["embedded"], indirect=True)


@pytest.fixture
def dg(stack):
    """Runs a command against the stack, the way a user's shell with DEFECTGEN_URL and DEFECTGEN_API_KEY would."""
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Result:
        result = runner.invoke(cli, list(args), env={"DEFECTGEN_URL": stack.url, "DEFECTGEN_API_KEY": stack.api_key})
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return run


def test_no_server_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DEFECTGEN_URL": f"http://127.0.0.1:{free_port()}", "DEFECTGEN_API_KEY": "dg_x"}
    for args, printed in ((["datasets", "list"], ""), (["demo", "--out", str(tmp_path)], "1. uploading neu-sample")):
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1 and done.stdout.startswith(printed) and len(done.stdout.splitlines()) <= 1
        assert done.stderr == f"Error: no defectgen server at {env['DEFECTGEN_URL']}: [Errno 111] Connection refused\n"
    result = CliRunner().invoke(cli, ["jobs", "list"], env={"DEFECTGEN_API_KEY": None})
    assert result.exit_code == 2 and "no API key: pass --api-key or set DEFECTGEN_API_KEY" in result.output


@embedded
def test_datasets(dg, tmp_path):
    archive = tmp_path / "cli-set.zip"
    archive.write_bytes(sample_zip(per_class=3, size=16, classes=("inclusion", "patches")))
    dataset_id = dg("datasets", "upload", str(archive), "--name", "cli-set", "--id-only").stdout.strip()
    assert dataset_id.startswith("ds_")
    again = json.loads(dg("datasets", "upload", str(archive), "--json").stdout)
    assert again["id"] == dataset_id and again["duplicate"] is True
    assert "nothing new stored" in dg("datasets", "upload", str(archive)).stdout

    table = dg("datasets", "list").stdout.splitlines()
    assert table[0].split() == ["id", "name", "images", "classes", "created"]
    assert any(line.split()[:3] == [dataset_id, "cli-set", "6"] for line in table[1:])
    assert dataset_id in [d["id"] for d in json.loads(dg("datasets", "list", "--json").stdout)]
    assert json.loads(dg("datasets", "list", "--limit", "1", "--json").stdout)[0]["id"] == dataset_id
    shown = {line.split()[0]: line.split()[1:] for line in dg("datasets", "show", dataset_id).stdout.splitlines()}
    assert shown["num_images"] == ["6"] and shown["name"] == ["cli-set"]

    preview = tmp_path / "preview.png"
    assert dg("datasets", "preview", dataset_id, "--out", str(preview)).stdout.strip() == str(preview)
    assert preview.read_bytes()[:4] == b"\x89PNG"
    assert dg("datasets", "delete", dataset_id).stdout.strip() == f"deleted {dataset_id}"
    gone = dg("datasets", "show", dataset_id, code=1)
    assert gone.stderr == f"Error: 404 Not Found: dataset '{dataset_id}' does not exist in this workspace\n"


@embedded
def test_train_options_idempotency_cancel_and_watch(dg, dataset):
    submit = ("train", dataset["id"], "--steps", "100000", "--resolution", "32", "--param", "width=8",
              "--param", "z_dim=16", "--params", '{"batch_size": 8}', "--idempotency-key", "cli-cancel")
    job_id = dg(*submit, "--id-only").stdout.strip()
    assert "cancellation requested" in dg("jobs", "cancel", job_id).stdout  # at once: the worker has other work
    assert job_id.startswith("job_") and dg(*submit, "--id-only").stdout.strip() == job_id
    job = json.loads(dg("jobs", "show", job_id, "--json").stdout)
    assert {k: job["params"][k] for k in ("architecture", "steps", "resolution", "width", "z_dim", "batch_size")} == \
        {"architecture": "cdcgan", "steps": 100000, "resolution": 32, "width": 8, "z_dim": 16, "batch_size": 8}
    assert job_id in dg("jobs", "list", "--kind", "train").stdout

    watched = dg("jobs", "watch", job_id, "--interval", "0.2", "--json", code=1)
    assert json.loads(watched.stdout)["status"] == "cancelled"
    assert watched.stderr.endswith(f"Error: job {job_id} ended cancelled\n")
    assert dg("jobs", "cancel", job_id, code=1).stderr == f"Error: 409 Conflict: job '{job_id}' is already cancelled\n"

    refused = dg("train", dataset["id"], "--steps", "0", code=1)
    assert refused.stderr.startswith("Error: 422 Invalid request: ") and "steps" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert "is not KEY=VALUE" in dg("train", dataset["id"], "--param", "steps", code=2).output
    assert "a JSON object is expected" in dg("train", dataset["id"], "--params", "[1]", code=2).output
    assert "not a list like 0,100,300" in dg("report", dataset["id"], "--synthetic-per-class", "a,b", code=2).output


@embedded
def test_models_and_training_outputs(dg, trained_model, tmp_path):
    model_id, job_id = trained_model["id"], trained_model["job_id"]
    assert model_id in [m["id"] for m in json.loads(dg("models", "list", "--json").stdout)]
    assert json.loads(dg("models", "show", model_id, "--json").stdout)["architecture"] == "cdcgan"
    checkpoint = dg("models", "download", model_id, "--out", str(tmp_path)).stdout.strip()
    assert checkpoint == str(tmp_path / f"{model_id}.safetensors")
    imported = dg("models", "import", checkpoint, "--id-only").stdout.strip()
    assert dg("models", "delete", imported).stdout.strip() == f"deleted {imported}"

    result = json.dumps({"model_id": model_id, "step": 20})
    assert dg("jobs", "watch", job_id).stdout.strip() == f"job {job_id} succeeded: {result}"
    assert dg("jobs", "watch", job_id, "--id-only").stdout.strip() == model_id
    events = json.loads(dg("jobs", "events", job_id, "--json").stdout)
    assert [e["data"]["status"] for e in events if e["type"] == "status"] == ["queued", "running", "succeeded"]
    grids = dg("jobs", "samples", job_id, "--out", str(tmp_path / "grids")).stdout.split()
    assert [g.rsplit("-", 1)[1] for g in grids] == ["10.png", "20.png"]


@embedded
def test_demo_writes_its_download_where_it_says(dg, tmp_path):
    out = tmp_path / "downloads"
    result = dg("demo", "--steps", "4", "--resolution", "32", "--per-class", "2", "--out", str(out))
    lines = result.stdout.splitlines()
    assert [line[:2] for line in lines if line[:1].isdigit()] == ["1.", "2.", "3.", "4."]
    path = lines[-1].split()[0]
    batch_id = lines[-2].split()[-1]
    assert path == str(out / f"{batch_id}.zip") and list(out.iterdir()) == [out / f"{batch_id}.zip"]
    with zipfile.ZipFile(path) as zf:
        assert len([n for n in zf.namelist() if n.endswith(".png")]) == 12
    assert "succeeded" in result.stderr and "step 4/4" in result.stderr  # the progress, away from stdout

    assert batch_id in [b["id"] for b in json.loads(dg("batches", "list", "--json").stdout)]
    assert json.loads(dg("batches", "show", batch_id, "--json").stdout)["count"] == 12
    again = dg("batches", "download", batch_id, "--out", str(tmp_path / "again.zip")).stdout.strip()
    # the zip is streamed, so its entries' timestamps are the download's: compare what it holds
    with zipfile.ZipFile(again) as first, zipfile.ZipFile(path) as second:
        assert {n: first.read(n) for n in first.namelist()} == {n: second.read(n) for n in second.namelist()}
    assert dg("batches", "delete", batch_id).stdout.strip() == f"deleted {batch_id}"


@embedded
def test_sweep_takes_its_candidates_metric_and_halving(dg, dataset):
    job_id = dg("sweep", dataset["id"], "--budget-steps", "100000", "--candidate", "cdcgan", "--candidate", "dcgan",
                "--metric", "uplift", "--no-halving", "--id-only").stdout.strip()
    job = json.loads(dg("jobs", "show", job_id, "--json").stdout)
    params = job["params"]
    assert [c["architecture"] for c in params["candidates"]] == ["cdcgan", "dcgan"] and params["halving"] is False
    assert params["selection"]["metric"] == "uplift" and params["candidates"][0]["train"]["holdout_uplift"]
    dg("jobs", "cancel", job_id)
    watched = dg("jobs", "watch", job_id, "--interval", "0.2", "--json", code=1)
    assert json.loads(watched.stdout)["status"] == "cancelled"
