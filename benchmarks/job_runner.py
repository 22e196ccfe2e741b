"""Overhead of the job runner: a cdcgan train job through worker.runner.run_job, against the same networks
trained by a bare PyTorch loop on the same decoded data, in the same process and run.

The runner's time includes everything a real job pays for: claiming the job, decoding the dataset from
the object store, the heartbeat thread writing progress and metric history to the database, the per-step
cancel check, checkpoints every 200 steps, sample grids every 100, and registering the model. The bare
loop gets the decoded dataset for free, so the ratio is an upper bound on the overhead.

cdcgan, width 32, 64x64, batch 16, 1 channel, 6 classes of 20 images. Target: ratio <= 1.10.
Usage: python benchmarks/job_runner.py [--steps 300] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
TARGET = 1.10
PARAMS = {"architecture": "cdcgan", "resolution": 64, "channels": 1, "batch_size": 16, "width": 32, "z_dim": 100,
          "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "seed": 0, "sample_every": 100, "checkpoint_every": 200}


def setup(data_dir: Path) -> tuple[str, str]:
    os.environ["DEFECTGEN_DATA_DIR"] = str(data_dir)
    from core.datasets import save_dataset
    from core.db import get_sessionmaker
    from core.ingest import IngestLimits, ingest_archive
    from core.keys import ensure_workspace
    from core.migrate import upgrade_head
    from core.sample_data import write_sample_archive
    from core.storage import get_store

    upgrade_head()
    archive = data_dir / "set.zip"
    write_sample_archive(archive, per_class=20, size=64)
    with get_sessionmaker()() as session:
        workspace = ensure_workspace(session, "bench").id
        session.commit()
        work = data_dir / "ingest"
        work.mkdir()
        dataset = save_dataset(session, get_store(), workspace, "bench", ingest_archive(archive, work, IngestLimits()))
    return workspace, dataset.id


def run_in_runner(workspace: str, dataset_id: str, steps: int) -> float:
    from core.db import session_scope
    from core.ids import new_id
    from core.kinds import get_kind
    from core.tables import Job
    from worker.handlers.train import handle
    from worker.runner import run_job

    job_id = new_id("job")
    with session_scope() as session:
        session.add(Job(id=job_id, workspace_id=workspace, kind="train", params={
            **PARAMS, "dataset_id": dataset_id, "steps": steps, "base_model_id": None}, progress={}, metrics={}))
    started = time.perf_counter()
    run_job(job_id, handle, get_kind("train").parse)
    elapsed = time.perf_counter() - started
    with session_scope() as session:
        assert session.get(Job, job_id).status == "succeeded"
    return elapsed


def run_bare(dataset_id: str, steps: int) -> float:
    import torch

    from core.db import session_scope
    from core.storage import get_store
    from core.tables import Dataset
    from models.architectures import get_architecture
    from models.config import GanConfig
    from models.data import to_training_range
    from worker.inputs import load_dataset

    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        session.expunge(dataset)
    images, labels = load_dataset(get_store(), dataset, 64, 1)
    classes = [c["name"] for c in dataset.classes]
    options = {k: PARAMS[k] for k in ("resolution", "z_dim", "width", "lr", "beta1", "beta2")}
    config = GanConfig(architecture=PARAMS["architecture"], channels=PARAMS["channels"], class_names=classes,
                       steps=steps, batch_size=PARAMS["batch_size"], seed=PARAMS["seed"], options=options)
    started = time.perf_counter()
    trainer = get_architecture("cdcgan").make_trainer(config)
    rng = torch.Generator().manual_seed(0)
    real = to_training_range(images)
    for _ in range(steps):
        idx = torch.randint(len(real), (config.batch_size,), generator=rng)
        trainer.train_step(real[idx], labels[idx], rng)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workspace, dataset_id = setup(Path(tmp))
        import torch

        run_bare(dataset_id, 20)  # warm-up: allocator and oneDNN caches
        bare, runner = [], []
        for i in range(args.repeats):
            order = [(bare, lambda: run_bare(dataset_id, args.steps)),
                     (runner, lambda: run_in_runner(workspace, dataset_id, args.steps))]
            for times, fn in order if i % 2 == 0 else order[::-1]:
                times.append(fn())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps, best of {args.repeats}")
    print(f"bare PyTorch loop (reference) {args.steps / min(bare):7.2f} steps/s")
    print(f"job runner (run_job)          {args.steps / min(runner):7.2f} steps/s")
    ratio = min(runner) / min(bare)
    print(f"runner/bare time ratio: {ratio:.3f} (target <= {TARGET:.2f}) -> {'OK' if ratio <= TARGET else 'OVER'}")


if __name__ == "__main__":
    main()
