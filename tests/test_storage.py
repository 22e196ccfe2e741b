"""The object-store interface on both backends: a local folder and a real S3 server."""
from __future__ import annotations

import io
import os

import pytest
from pydantic import SecretStr

from core.settings import Settings, get_settings
from core.storage import IterReader, LocalStore, ObjectNotFound, S3Store, get_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):  # type: ignore[no-untyped-def]
    if request.param == "local":
        return LocalStore(tmp_path / "objects")
    s3 = request.getfixturevalue("s3_server")
    settings = Settings(data_dir=tmp_path, s3_endpoint=s3.endpoint, s3_access_key=s3.access_key,
                        s3_secret_key=SecretStr(s3.secret_key), s3_region=s3.region)
    store = S3Store(settings, s3.bucket)
    store.delete_prefix(f"t/{request.node.name}/")
    return store


def test_put_get_list_delete(store, request):
    root = f"t/{request.node.name}/"
    store.put_bytes(root + "a/1.bin", b"one")
    store.put_bytes(root + "a/2.bin", b"two")
    store.put_bytes(root + "b/3.bin", b"three")
    assert store.get_bytes(root + "a/1.bin") == b"one"
    assert b"".join(store.iter_chunks(root + "b/3.bin")) == b"three"
    assert store.size(root + "a/2.bin") == 3 and store.exists(root + "a/2.bin")
    assert sorted(store.list_keys(root)) == [root + "a/1.bin", root + "a/2.bin", root + "b/3.bin"]
    assert sorted(store.list_children(root)) == ["a", "b"]
    store.delete_prefix(root + "a/")
    assert list(store.list_keys(root)) == [root + "b/3.bin"]
    store.delete(root + "b/3.bin")
    assert not store.exists(root + "b/3.bin")
    with pytest.raises(ObjectNotFound):
        store.get_bytes(root + "b/3.bin")
    with pytest.raises(ObjectNotFound):
        list(store.iter_chunks(root + "nope"))


def test_stream_of_unknown_length(store, request):
    key = f"t/{request.node.name}/big.bin"
    payload = bytes(range(256)) * (24 * 1024 * 1024 // 256 + 7)  # over one 16 MiB part
    chunks = (payload[i:i + 1_000_003] for i in range(0, len(payload), 1_000_003))
    assert store.put_stream(key, IterReader(chunks)) == len(payload)
    assert store.size(key) == len(payload)
    assert store.get_bytes(key) == payload


def test_overwrite_is_atomic_for_readers(store, request):
    key = f"t/{request.node.name}/ckpt"
    store.put_bytes(key, b"A" * 1000)

    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            raise OSError("the writer died half-way")

    with pytest.raises(OSError):
        store.put_stream(key, Failing())
    assert store.get_bytes(key) == b"A" * 1000


@pytest.fixture
def shared_s3_store(s3_server, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    for name, value in {"DATA_DIR": str(tmp_path), "STORAGE_URL": f"s3://{s3_server.bucket}",
                        "S3_ENDPOINT": s3_server.endpoint, "S3_ACCESS_KEY": s3_server.access_key,
                        "S3_SECRET_KEY": s3_server.secret_key, "S3_REGION": s3_server.region}.items():
        monkeypatch.setenv(f"DEFECTGEN_{name}", value)
    get_settings.cache_clear()
    get_store.cache_clear()
    yield get_store()
    get_settings.cache_clear()
    get_store.cache_clear()


def test_a_forked_child_opens_its_own_connections(shared_s3_store):
    objects = {f"t/fork/{i}.bin": os.urandom(2000 + i) for i in range(8)}
    for key, data in objects.items():
        shared_s3_store.put_bytes(key, data)  # the parent's pool now holds an open connection
    pid = os.fork()
    if pid == 0:  # the child: a Celery pool process, forked from a main process that used the store
        try:
            fresh = get_store() is not shared_s3_store
            same = all(get_store().get_bytes(key) == data for _ in range(10) for key, data in objects.items())
            os._exit(0 if fresh and same else 1)
        finally:
            os._exit(2)
    parent_reads = all(shared_s3_store.get_bytes(key) == data for _ in range(10) for key, data in objects.items())
    _, status = os.waitpid(pid, 0)
    assert parent_reads and os.waitstatus_to_exitcode(status) == 0


def test_local_keys_cannot_escape(tmp_path):
    store = LocalStore(tmp_path / "objects")
    with pytest.raises(ValueError):
        store.put_bytes("../outside", b"x")
