"""The object-store interface on both backends: a local folder and a real S3 server."""
from __future__ import annotations

import io

import pytest
from pydantic import SecretStr

from core.settings import Settings
from core.storage import IterReader, LocalStore, ObjectNotFound, S3Store


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


def test_local_keys_cannot_escape(tmp_path):
    store = LocalStore(tmp_path / "objects")
    with pytest.raises(ValueError):
        store.put_bytes("../outside", b"x")
