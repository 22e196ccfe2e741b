"""A live defectgen stack for tests: the API and Celery workers as real processes on a free port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Stack:
    env: dict[str, str]
    api_key: str
    logs: Path
    kind: str = "embedded"
    servers: Any = None  # the ProductionServers behind a production stack
    port: int = field(default_factory=free_port)
    api: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}-{time.monotonic_ns()}.log").open("wb")
        # A session of its own, so a test can kill a worker together with its pool processes.
        return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_api(self) -> None:
        self.api = self._spawn("api", "api", "--port", str(self.port))

        def ready() -> bool:
            if self.api.poll() is not None:
                raise RuntimeError(f"the API exited; see {self.logs}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, what="the API to be ready")

    def start_worker(self) -> subprocess.Popen:
        worker = self._spawn("worker", "worker")
        self.workers.append(worker)
        return worker

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal the process's group; one that outlives a SIGTERM by 30 s is killed, never left behind."""
        for signal_, wait in ((sig, 30), (signal.SIGKILL, 30)):
            try:
                os.killpg(process.pid, signal_)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        raise RuntimeError(f"process {process.pid} survived SIGKILL")

    def kill_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                self.kill(worker)
        self.workers.clear()

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                self.kill(worker, signal.SIGTERM)
        self.workers.clear()
        if self.api and self.api.poll() is None:
            self.kill(self.api, signal.SIGTERM)

    def client(self, api_key: str | None = None) -> httpx.Client:
        key = api_key or self.api_key
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout
