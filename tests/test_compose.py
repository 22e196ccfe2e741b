"""docker-compose.yml is valid and complete; Debian's docker-compose checks it without an engine."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.stack import ROOT

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")


def test_compose_config_is_valid(tmp_path):
    for name in ("docker-compose.yml", ".env.example", "Dockerfile", "Dockerfile.gpu"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    done = subprocess.run(["docker-compose", "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert {"api", "worker-gpu", "worker-cpu", "postgres", "redis", "minio", "minio-init"} <= set(services)
    for name, service in services.items():
        if name != "minio-init":
            assert "healthcheck" in service, name
    assert services["worker-gpu"]["build"]["dockerfile"] == "Dockerfile.gpu"
    assert services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    gpu_command = services["worker-gpu"]["command"]
    assert gpu_command[gpu_command.index("--queues") + 1] == "gpu"
    assert gpu_command[gpu_command.index("--concurrency") + 1] == "1"
    assert set(config["volumes"]) == {"postgres-data", "redis-data", "minio-data"}


def test_env_example_lists_every_setting():
    from core.settings import Settings

    listed = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
              if line.startswith("DEFECTGEN_")}
    derived = {"DATABASE_URL", "BROKER_URL", "RESULT_BACKEND", "STORAGE_URL", "S3_ENDPOINT", "S3_ACCESS_KEY",
               "S3_SECRET_KEY", "S3_PUBLIC_ENDPOINT", "DATA_DIR"}  # set by docker-compose.yml from the others
    compose = (ROOT / "docker-compose.yml").read_text()
    for field in Settings.model_fields:
        name = field.upper()
        assert f"DEFECTGEN_{name}" in listed or (name in derived and f"DEFECTGEN_{name}:" in compose), name
