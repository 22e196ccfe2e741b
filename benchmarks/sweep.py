"""A sweep through the real service (embedded default: one worker, one slot) on the real-photo quality benchmark's
photographs (benchmarks/quality.py: scikit-image's bundled photographs, native-scale patches per class).

Three runs on one uploaded dataset, all scored on the same held-out split in the same auto backbone:
1. the sweep with successive halving at --budget-minutes of training;
2. the sweep without halving, each candidate trained for the full share halving gave its leaders (what training
   every candidate to the end costs): does halving find the same winner, and how much sooner?
3. each candidate alone for --budget-minutes: is the sweep's pick the best of them?

Usage: python benchmarks/sweep.py [--budget-minutes 20] [--candidates cdcgan cfastgan] [--per-class 20] [--runs 1 2 3]
Prints a table per run and a summary; --budget-minutes 0.3 is a smoke run of a few minutes. `--runs 1 2` and
`--runs 3` in two processes run side by side on a two-core machine (one torch thread each), each on its own stack.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import CLASS_SETS, REGIONS, patches, photographs  # noqa: E402
from core.kinds.sweep import share  # noqa: E402
from tests.stack import Stack, wait_until  # noqa: E402  (the service as real processes)

KEY = "dg_benchmark-sweep"


def dataset_zip(classes: list[str], per_class: int, size: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, photo in photographs(classes).items():
            for i, patch in enumerate(patches(photo, REGIONS["train"], per_class, rng, size)):
                png = io.BytesIO()
                Image.fromarray(patch[0].numpy()).save(png, format="PNG")
                zf.writestr(f"{name}/{name}_{i:03d}.png", png.getvalue())
    return buffer.getvalue()


def run_sweep(client, params: dict, timeout: float) -> tuple[dict, float]:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    job = client.post("/v1/jobs", json={"kind": "sweep", "params": params}).raise_for_status().json()

    def done() -> dict | None:
        current = client.get(f"/v1/jobs/{job['id']}").json()
        return current if current["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_until(done, timeout, interval=1.0, what=f"sweep {job['id']}")
    if job["status"] != "succeeded":
        raise SystemExit(f"sweep {job['id']} ended {job['status']}: {job['error']}")
    return job["result"], time.monotonic() - started


def table(title: str, result: dict, seconds: float) -> None:
    metric = result["metric"]
    print(f"\n{title}: {seconds:.0f} s wall, winner {result['winner']['name'] if result['winner'] else None}")
    print(f"  {'candidate':14} {'status':12} {'steps':>7} {metric:>9} {'fid':>8} {'diversity':>9} {'copies':>7}")
    for row in result["leaderboard"]:
        cells = [f"{row[k]:9.4g}" if row.get(k) is not None else f"{'-':>9}" for k in (metric, "fid", "diversity",
                                                                                       "near_copy_fraction")]
        print(f"  {row['name'][:14]:14} {row['status']:12} {row['steps_trained'] or 0:>7} {' '.join(cells)}"
              f"   {row['reason']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-minutes", type=float, default=20.0, help="training minutes of the sweep")
    parser.add_argument("--candidates", nargs="+", default=["cdcgan", "cfastgan"],
                        help="the sweep's default candidates on a CPU at 64 px")
    parser.add_argument("--classes", nargs="+", default=CLASS_SETS["textures"])
    parser.add_argument("--per-class", type=int, default=20, help="patches per class in the dataset")
    parser.add_argument("--size", type=int, default=128, help="patch side (training crops are 64 px)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the worker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", nargs="+", type=int, choices=(1, 2, 3), default=[1, 2, 3])
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="sweep-benchmark-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEFECTGEN_")}
    env.update(DEFECTGEN_DATA_DIR=str(root / "data"), DEFECTGEN_BOOTSTRAP_API_KEY=KEY,
               DEFECTGEN_TORCH_THREADS=str(args.threads), DEFECTGEN_MAX_UPLOAD_BYTES=str(256 * 1024 * 1024))
    (root / "logs").mkdir()
    stack = Stack(env=env, api_key=KEY, logs=root / "logs")
    stack.start_api()
    stack.start_worker()
    try:
        with stack.client() as client:
            data = dataset_zip(args.classes, args.per_class, args.size, args.seed)
            dataset = client.post("/v1/datasets", files={"file": ("photos.zip", data, "application/zip")},
                                  data={"name": "photos"}).raise_for_status().json()
            candidates = [{"architecture": name} for name in args.candidates]
            base = {"dataset_id": dataset["id"], "resolution": 64, "seed": args.seed, "candidates": candidates}
            budget, k = args.budget_minutes, len(candidates)
            timeout = 3600 + 600 * budget * k
            runs: dict[str, tuple[dict, float]] = {}
            if 1 in args.runs:
                runs["halved"] = run_sweep(client, {**base, "budget_minutes": budget}, timeout)
                table(f"1. successive halving, {budget} min", *runs["halved"])
            if 2 in args.runs:
                full_share = share(budget, k, halving=True)  # what halving gives its leader
                runs["full"] = run_sweep(client, {**base, "budget_minutes": full_share * k, "halving": False}, timeout)
                table(f"2. every candidate trained {full_share:.2f} min (no halving)", *runs["full"])
            alone = {}
            if 3 in args.runs:
                for c in candidates:
                    result, seconds = run_sweep(client, {**base, "candidates": [c], "budget_minutes": budget},
                                                timeout)
                    alone[c["architecture"]] = {**result["leaderboard"][0], "metric": result["metric"]}
                    table(f"3. {c['architecture']} alone, {budget} min", result, seconds)
    finally:
        stack.stop()
    print("\nsummary")
    for name, (result, _) in runs.items():
        print(f"  {name}: picks {(result['winner'] or {}).get('architecture')}")
    if "halved" in runs and "full" in runs:
        halved_s, full_s = runs["halved"][1], runs["full"][1]
        print(f"  halving took {halved_s:.0f} s against full training's {full_s:.0f} s ({halved_s / full_s:.2f}x)")
    if alone:
        metric = next(iter(alone.values()))["metric"]
        finished = [row for row in alone.values() if row["status"] == "finished" and row.get(metric) is not None]
        best = min(finished, key=lambda row: row[metric], default=None)
        print(f"  best candidate trained alone for {args.budget_minutes} min: "
              f"{best['architecture'] if best else None} ({metric}: "
              + ", ".join(f"{name} {row.get(metric)}" for name, row in alone.items()) + ")")


if __name__ == "__main__":
    main()
