"""`defectgen demo`: the whole user journey against a running server, printing each step."""
from __future__ import annotations

import io
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from core.sample_data import write_sample_archive


def wait_for(client: httpx.Client, job_id: str, echo: Callable[[str], None]) -> dict:
    shown = None
    while True:
        job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        progress = job["progress"]
        line = f"  {job['status']:9} {progress.get('fraction', 0):6.1%}  step {progress.get('step', 0)}"
        if job["metrics"]:
            line += "  " + "  ".join(f"{k}={v:.3f}" for k, v in sorted(job["metrics"].items()))
        if line != shown:
            echo(line)
            shown = line
        if job["status"] in ("succeeded", "failed", "cancelled"):
            if job["status"] != "succeeded":
                raise SystemExit(f"job {job_id} ended {job['status']}: {job['error']}")
            return job
        time.sleep(1.0)


def run_demo(url: str, api_key: str, *, steps: int, resolution: int, per_class: int,
             echo: Callable[[str], None]) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client, tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "neu-sample.zip"
        write_sample_archive(archive, per_class=30, size=64, seed=0)
        echo(f"1. uploading {archive.name} ({archive.stat().st_size // 1024} KiB)")
        with archive.open("rb") as fh:
            response = client.post("/v1/datasets", files={"file": (archive.name, fh, "application/zip")},
                                   data={"name": "neu-sample"})
        dataset = response.raise_for_status().json()
        echo(f"   dataset {dataset['id']}: {dataset['num_images']} images, "
             + ", ".join(f"{c['name']}={c['count']}" for c in dataset["classes"]))

        echo(f"2. training a conditional DCGAN for {steps} steps at {resolution}px")
        params = {"dataset_id": dataset["id"], "architecture": "cdcgan", "steps": steps, "resolution": resolution,
                  "width": 32, "sample_every": max(steps // 4, 1), "checkpoint_every": max(steps // 4, 1)}
        job = client.post("/v1/jobs", json={"kind": "train", "params": params}).raise_for_status().json()
        model_id = wait_for(client, job["id"], echo)["result"]["model_id"]
        echo(f"   model {model_id}")

        echo(f"3. generating {per_class} images per class")
        job = client.post("/v1/jobs", json={"kind": "generate",
                                            "params": {"model_id": model_id, "count_per_class": per_class}})
        batch_id = wait_for(client, job.raise_for_status().json()["id"], echo)["result"]["batch_id"]

        echo(f"4. downloading batch {batch_id}")
        data = client.get(f"/v1/batches/{batch_id}/download").raise_for_status().content
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            counts = Counter(name.split("/")[0] for name in zf.namelist() if name.endswith(".png"))
        out = Path(f"{batch_id}.zip")
        out.write_bytes(data)
        echo(f"   {out} ({len(data) // 1024} KiB): " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
