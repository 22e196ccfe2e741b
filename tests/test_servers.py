"""Smoke tests of the test harness's real servers (tests/servers.py)."""
from __future__ import annotations

import io
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import PostgresServer, RedisServer, S3Server, ServerError, missing_prerequisites

MiB = 1024 * 1024


@pytest.fixture(scope="module", autouse=True)
def _prerequisites() -> None:
    missing = missing_prerequisites()
    if missing:
        pytest.fail("cannot start the test servers:\n" + "\n".join(missing), pytrace=False)


@pytest.fixture(scope="module")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="module")
def postgres(servers_dir: Path) -> Iterator[PostgresServer]:
    with PostgresServer(servers_dir) as server:
        yield server


@pytest.fixture(scope="module")
def redis_server(servers_dir: Path) -> Iterator[RedisServer]:
    with RedisServer(servers_dir) as server:
        yield server


@pytest.fixture(scope="module")
def s3(servers_dir: Path) -> Iterator[S3Server]:
    with S3Server(servers_dir) as server:
        yield server


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- PostgreSQL ------------------------------------------------------------------------------------


def test_postgres_serves_sqlalchemy(postgres: PostgresServer) -> None:
    from sqlalchemy import create_engine, text

    assert postgres.url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = create_engine(postgres.url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
            assert connection.execute(text("SELECT current_database()")).scalar() == "defectgen"
            assert connection.execute(text("SHOW listen_addresses")).scalar() == "127.0.0.1"
    finally:
        engine.dispose()


def test_postgres_restart_keeps_data(postgres: PostgresServer) -> None:
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (value text)")
        connection.execute("INSERT INTO kept VALUES ('before restart')")
    port = postgres.port
    postgres.restart()
    assert postgres.port == port
    with psycopg.connect(postgres.dsn) as connection:
        assert connection.execute("SELECT value FROM kept").fetchall() == [("before restart",)]


# -- Redis -----------------------------------------------------------------------------------------


def test_redis_keeps_queued_messages_across_restart_and_crash(redis_server: RedisServer) -> None:
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        assert client.ping()
        client.rpush("queue", "message-1", "message-2")
    redis_server.restart()
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.lrange("queue", 0, -1) == [b"message-1", b"message-2"]
        client.rpush("queue", "message-3")
    redis_server.kill()
    redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.lrange("queue", 0, -1) == [b"message-1", b"message-2", b"message-3"]


def test_redis_stop_is_idempotent_and_frees_the_port(servers_dir: Path) -> None:
    server = RedisServer(servers_dir)
    server.start()
    assert _listening(server.port)
    server.stop()
    server.stop()
    assert not server.running and not _listening(server.port)


def test_failed_start_reports_the_log(servers_dir: Path) -> None:
    server = RedisServer(servers_dir)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        with pytest.raises(ServerError, match="(?s)exited with code 1 while starting.*Address already in use"):
            server.start()
    assert not server.running


# -- S3 --------------------------------------------------------------------------------------------


def test_s3_calls_we_use(s3: S3Server) -> None:
    from minio.deleteobjects import DeleteObject

    client = s3.client()
    data = os.urandom(11 * MiB + 17)  # three parts of an unknown-length upload
    client.put_object(s3.bucket, "a/big.bin", io.BytesIO(data), length=-1, part_size=5 * MiB)
    client.put_object(s3.bucket, "a/small.txt", io.BytesIO(b"small"), length=5)

    assert client.stat_object(s3.bucket, "a/big.bin").size == len(data)
    response = client.get_object(s3.bucket, "a/big.bin")
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()
    assert sorted(o.object_name for o in client.list_objects(s3.bucket, prefix="a/", recursive=True)) == [
        "a/big.bin", "a/small.txt"]
    assert httpx.get(client.presigned_get_object(s3.bucket, "a/small.txt")).content == b"small"

    errors = list(client.remove_objects(s3.bucket, [DeleteObject("a/big.bin"), DeleteObject("a/small.txt")]))
    assert errors == []
    assert list(client.list_objects(s3.bucket, prefix="a/", recursive=True)) == []


def test_s3_rejects_a_wrong_secret(s3: S3Server) -> None:
    from minio import Minio
    from minio.error import S3Error

    intruder = Minio(s3.endpoint, access_key=s3.access_key, secret_key="wrong", secure=False, region=s3.region)
    with pytest.raises(S3Error, match="SignatureDoesNotMatch"):
        intruder.put_object(s3.bucket, "x", io.BytesIO(b"x"), length=1)


def test_s3_stop_and_start_keeps_objects(s3: S3Server) -> None:
    import urllib3

    client = s3.client(http_client=urllib3.PoolManager(timeout=2, retries=False))
    client.put_object(s3.bucket, "kept.txt", io.BytesIO(b"kept"), length=4)
    s3.stop()
    with pytest.raises(urllib3.exceptions.HTTPError):
        client.stat_object(s3.bucket, "kept.txt")
    s3.start()
    response = client.get_object(s3.bucket, "kept.txt")
    try:
        assert response.read() == b"kept"
    finally:
        response.close()
        response.release_conn()


def _listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(hex address, port) of every listening TCP socket the process holds, from /proc."""
    inodes = {os.readlink(fd)[8:-1] for fd in Path(f"/proc/{pid}/fd").iterdir()
              if os.readlink(fd).startswith("socket:[")}
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.add((address, int(port, 16)))
    return found


@pytest.mark.parametrize("fixture", ["postgres", "redis_server", "s3"])
def test_listens_on_loopback_only(fixture: str, request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue(fixture)
    addresses = _listening_addresses(server.pid)
    assert server.port in {port for _, port in addresses}
    assert {address for address, _ in addresses} == {"0100007F"}  # 127.0.0.1, little-endian
