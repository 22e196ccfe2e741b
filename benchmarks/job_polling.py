"""Status polling under concurrent clients: GET /v1/jobs/{id} while the job trains.

Reference, measured in the same run against the same server: GET /healthz (no key, no database), so the
ratio shows what auth, the database read and serialisation cost on top of the bare HTTP stack.

Usage: python benchmarks/job_polling.py [--clients 50] [--seconds 10] [--stack embedded|production]
Needs wrk (`apt-get install wrk`; `make benchmarks` installs it).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import TEST_KEY, TINY_TRAIN, embedded_env, sample_zip  # noqa: E402
from tests.stack import Stack  # noqa: E402


def hammer(url: str, headers: dict[str, str], clients: int, seconds: float) -> dict[str, float]:
    """Load from wrk (a C load generator): a Python client saturates its own core long before the server."""
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds:.0f}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
        "requests": total,
    }


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def production_env(base: Path, resources: ExitStack) -> dict[str, str]:
    from tests.conftest import ProductionServers
    from tests.servers import PostgresServer, RedisServer, S3Server

    servers = ProductionServers(PostgresServer(base), RedisServer(base), S3Server(base))
    for server in (servers.postgres, servers.redis, servers.s3):
        resources.enter_context(server)
    return servers.env()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--stack", choices=["embedded", "production"], default="embedded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as resources:
        base = Path(tmp)
        env = embedded_env(base / "data")
        if args.stack == "production":
            env.update(production_env(base, resources))
        (base / "logs").mkdir()
        stack = Stack(env=env, api_key=TEST_KEY, logs=base / "logs")
        resources.callback(stack.stop)
        stack.start_api()
        stack.start_worker()
        with stack.client() as client:
            files = {"file": ("set.zip", sample_zip(per_class=8, size=32), "application/zip")}
            dataset = client.post("/v1/datasets", files=files).raise_for_status().json()
            job = client.post("/v1/jobs", json={"kind": "train", "params": {
                "dataset_id": dataset["id"], "steps": 1_000_000, **TINY_TRAIN}}).raise_for_status().json()
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        reference = hammer(f"{stack.url}/healthz", {}, args.clients, args.seconds)
        polling = hammer(f"{stack.url}/v1/jobs/{job['id']}", headers, args.clients, args.seconds)
        with stack.client() as client:
            client.post(f"/v1/jobs/{job['id']}/cancel")
    print(f"stack: {args.stack}, {args.clients} concurrent clients, {args.seconds:.0f} s each, "
          "one training job running")
    for name, result in (("GET /healthz (reference)", reference), ("GET /v1/jobs/{id}", polling)):
        print(f"{name:26} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.1f} ms  "
              f"p99 {result['p99_ms']:7.1f} ms  errors {result['errors']}/{result['requests']}")
    print(f"ratio jobs/healthz: throughput {polling['rps'] / reference['rps']:.2f}x, "
          f"p99 {polling['p99_ms'] / reference['p99_ms']:.2f}x")


if __name__ == "__main__":
    main()
