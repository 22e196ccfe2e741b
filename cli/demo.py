"""`defectgen demo`: the whole user journey against a running server through the Python client, printing each
step."""
from __future__ import annotations

import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from cli.jobs import watch_job
from core.sample_data import write_sample_archive
from defectgen.client import Client

# The README tour's `defectgen sample-data neu.zip --per-class 20 --size 64`: after the tour, the upload is a
# duplicate and its features for diversity are already known.
SAMPLE_PER_CLASS, SAMPLE_SIZE = 20, 64


def run_demo(client: Client, *, steps: int, resolution: int, per_class: int, out: Path,
             echo: Callable[[str], None]) -> Path:
    """Returns the path of the downloaded batch; each job's progress goes to stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "neu-sample.zip"
        write_sample_archive(archive, per_class=SAMPLE_PER_CLASS, size=SAMPLE_SIZE, seed=0)
        echo(f"1. uploading {archive.name} ({archive.stat().st_size // 1024} KiB)")
        dataset = client.upload_dataset(archive, "neu-sample")
    echo(f"   dataset {dataset.id}: {dataset.num_images} images, "
         + ", ".join(f"{c.name}={c.count}" for c in dataset.classes))

    echo(f"2. training a conditional DCGAN for {steps} steps at {resolution}px")
    every = max(steps // 4, 1)
    job = client.train(dataset, architecture="cdcgan", steps=steps, resolution=resolution, width=32,
                       sample_every=every, checkpoint_every=every)
    model_id = watch_job(client, job).result["model_id"]  # type: ignore[index]
    echo(f"   model {model_id}")

    echo(f"3. generating {per_class} images per class")
    batch_id = watch_job(client, client.generate(model_id, count_per_class=per_class)).result["batch_id"]  # type: ignore[index]

    echo(f"4. downloading batch {batch_id}")
    out.mkdir(parents=True, exist_ok=True)
    path = client.download_batch(batch_id, out)
    with zipfile.ZipFile(path) as zf:
        counts = Counter(name.split("/")[0] for name in zf.namelist() if name.endswith(".png"))
    echo(f"   {path} ({path.stat().st_size // 1024} KiB): " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return path
