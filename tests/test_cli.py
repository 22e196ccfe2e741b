"""`defectgen serve` (what `make run` runs) starts the API and a worker, prints URL and key, stops cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile

import httpx

from tests.conftest import embedded_env
from tests.stack import ROOT, free_port, wait_until


def test_serve_prints_url_and_key_and_stops_on_ctrl_c(tmp_path):
    env = embedded_env(tmp_path / "data")
    del env["DEFECTGEN_BOOTSTRAP_API_KEY"]
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT,
                                 env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        key = wait_until(lambda: _key(log.read_text()), 90, what="serve to print its key")
        assert f"http://127.0.0.1:{port}" in log.read_text()
        wait_until(lambda: _ready(port), 90, what="the API")
        response = httpx.get(f"http://127.0.0.1:{port}/v1/datasets", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
        wait_until(lambda: "defectgen@" in log.read_text() and " ready." in log.read_text(), 60, what="the worker")
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        assert serve.wait(timeout=60) == 0, log.read_text()[-3000:]
    # the same key is kept for the next start
    assert (tmp_path / "data" / "bootstrap-api-key").read_text().strip() == key


def _key(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("API key"):
            return line.rsplit(" ", 1)[-1]
    return None


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_sample_data_and_keys(tmp_path):
    env = embedded_env(tmp_path / "data")
    out = tmp_path / "neu.zip"
    subprocess.run([sys.executable, "-m", "cli.main", "sample-data", str(out), "--per-class", "3", "--size", "40"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    with zipfile.ZipFile(out) as zf:
        classes = {name.split("/")[0] for name in zf.namelist()}
    assert classes == {"crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"}
    keys = [subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "--workspace", "qa"], cwd=ROOT,
                           env=env, check=True, capture_output=True, text=True).stdout.strip() for _ in range(2)]
    assert keys[0] != keys[1] and all(k.startswith("dg_") for k in keys)
