from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.inprocess import local_api
from tests.servers import PostgresServer, RedisServer, S3Server, missing_prerequisites
from tests.stack import Stack, wait_until

TEST_KEY = "dg_test-default-workspace-key"
FINAL = ("succeeded", "failed", "cancelled")


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEFECTGEN_")}
    env.update(
        DEFECTGEN_DATA_DIR=str(data_dir),
        DEFECTGEN_BOOTSTRAP_API_KEY=TEST_KEY,
        DEFECTGEN_JOB_LEASE_SECONDS="4",
        DEFECTGEN_MAX_JOB_ATTEMPTS="4",
        DEFECTGEN_PROGRESS_INTERVAL_SECONDS="0.3",
        DEFECTGEN_MAX_UPLOAD_BYTES=str(8 * 1024 * 1024),
        DEFECTGEN_MAX_IMAGE_PIXELS=str(512 * 512),
        DEFECTGEN_MAX_UNCOMPRESSED_BYTES=str(64 * 1024 * 1024),
        DEFECTGEN_MIN_IMAGES_PER_CLASS="3",
        DEFECTGEN_TORCH_THREADS="1",
        DEFECTGEN_STORE_SWEEP_INTERVAL_SECONDS="2",
        # Webhook tests post to a receiver on loopback, and wait for retries and timeouts in seconds, not hours.
        DEFECTGEN_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        DEFECTGEN_WEBHOOK_RETRY_BASE_SECONDS="0.2",
        DEFECTGEN_WEBHOOK_TIMEOUT_SECONDS="2",
        DEFECTGEN_WEBHOOK_POLL_SECONDS="0.2",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class ProductionServers:
    postgres: PostgresServer
    redis: RedisServer
    s3: S3Server

    def env(self) -> dict[str, str]:
        return dict(
            DEFECTGEN_DATABASE_URL=self.postgres.url,
            DEFECTGEN_BROKER_URL=self.redis.url,
            DEFECTGEN_STORAGE_URL=f"s3://{self.s3.bucket}",
            DEFECTGEN_S3_ENDPOINT=self.s3.endpoint,
            DEFECTGEN_S3_ACCESS_KEY=self.s3.access_key,
            DEFECTGEN_S3_SECRET_KEY=self.s3.secret_key,
            DEFECTGEN_S3_REGION=self.s3.region,
        )


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionServers]:
    """PostgreSQL, Redis and an S3 server (standing in for MinIO), started once for the session."""
    missing = missing_prerequisites()
    if missing:
        pytest.fail("the production-stack tests need: " + ", ".join(missing) + " (`make test` installs them)")
    base = tmp_path_factory.mktemp("servers")
    started = ProductionServers(PostgresServer(base), RedisServer(base), S3Server(base))
    for server in (started.postgres, started.redis, started.s3):
        server.start()
    yield started
    for server in (started.postgres, started.redis, started.s3):
        server.stop()


@pytest.fixture(scope="session")
def s3_server(servers: ProductionServers) -> S3Server:
    return servers.s3


@pytest.fixture(scope="session", params=["embedded", "production"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The service as real processes, on the embedded default and on PostgreSQL + Redis + S3."""
    root = tmp_path_factory.mktemp(request.param)
    logs = root / "logs"
    logs.mkdir()
    env = embedded_env(root / "data")
    production = request.getfixturevalue("servers") if request.param == "production" else None
    if production:
        env.update(production.env())
    service = Stack(env=env, api_key=TEST_KEY, logs=logs, kind=request.param, servers=production)
    service.start_api()
    service.start_worker()
    _point_this_process_at(env)
    yield service
    service.stop()


def _point_this_process_at(env: dict[str, str]) -> None:
    """Let tests read the stack's database and object store directly, to check what was stored."""
    from core.db import get_engine, get_sessionmaker
    from core.settings import get_settings
    from core.storage import get_store

    for key in [k for k in os.environ if k.startswith("DEFECTGEN_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("DEFECTGEN_")})
    for cached in (get_settings, get_engine, get_sessionmaker, get_store):
        cached.cache_clear()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as c:
        yield c


@pytest.fixture(scope="session")
def other_client(stack: Stack) -> Iterator[httpx.Client]:
    key = stack.cli("keys", "create", "--workspace", "other").strip()
    with stack.client(key) as c:
        yield c


def sample_zip(per_class: int = 6, size: int = 32, classes: tuple[str, ...] = ("crazing", "scratches")) -> bytes:
    from core.sample_data import write_sample_archive

    buffer = io.BytesIO()
    write_sample_archive(buffer, per_class=per_class, size=size, seed=1, classes=classes)
    return buffer.getvalue()


def upload(client: httpx.Client, data: bytes, filename: str = "set.zip", content_type: str = "application/zip",
           **form: str) -> httpx.Response:
    return client.post("/v1/datasets", files={"file": (filename, data, content_type)}, data=form)


@pytest.fixture(scope="session")
def dataset(stack: Stack) -> dict:
    with stack.client() as c:
        response = upload(c, sample_zip(), filename="two-class.zip")
        assert response.status_code == 201, response.text
        return response.json()


TINY_TRAIN = {"architecture": "cdcgan", "resolution": 32, "width": 8, "z_dim": 16, "batch_size": 8}


def submit(client: httpx.Client, kind: str, params: dict, **headers: str) -> httpx.Response:
    return client.post("/v1/jobs", json={"kind": kind, "params": params}, headers=headers)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 180, until=FINAL) -> dict:  # type: ignore[no-untyped-def]
    def done() -> dict | None:
        job = client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in until else None

    return wait_until(done, timeout, interval=0.3, what=f"job {job_id} to reach {until}")


@pytest.fixture(scope="session")
def trained_model(stack: Stack, dataset: dict) -> dict:
    with stack.client() as c:
        job = submit(c, "train", {"dataset_id": dataset["id"], "steps": 20, "sample_every": 10,
                                  "checkpoint_every": 10, **TINY_TRAIN}).json()
        job = wait_job(c, job["id"])
        assert job["status"] == "succeeded", job
        return c.get(f"/v1/models/{job['result']['model_id']}").json()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API in this process with no worker (tests/inprocess.py), fresh for each test module."""
    with local_api(tmp_path_factory.mktemp("inprocess")) as client:
        yield client


def zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.namelist()


# tryfirst: xdist's own hook of the same name turns the mark into the group, so the mark must be there before it runs.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `pytest -n 2 --dist loadgroup` (make test), each stack's tests run in one process, so that its
    session-scoped servers and service start once; tests of no stack go to whichever process is free."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("stack") if callspec else None
        if kind is None and ("servers" in getattr(item, "fixturenames", ())
                             or (callspec and callspec.params.get("store") == "s3")):
            kind = "production"
        if kind is not None:
            item.add_marker(pytest.mark.xdist_group(kind))
