"""Object storage: one interface, a local-folder backend and an S3 backend (MinIO's API).

Keys are '/'-separated paths such as 'datasets/ds_…/images/crazing/001.png'. Every write is atomic: a
reader sees the old object or the whole new one, never a partial one.
"""
from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

import urllib3

from core.settings import Settings, get_settings

CHUNK = 1024 * 1024


class ObjectNotFound(KeyError):
    pass


class ObjectStore(Protocol):
    parallel_writes: int  # how many puts at once pay off: latency-bound stores want several

    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_stream(self, key: str, stream: BinaryIO) -> int: ...
    def get_bytes(self, key: str) -> bytes: ...
    def iter_chunks(self, key: str) -> Iterator[bytes]: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> Iterator[str]: ...
    def list_children(self, prefix: str) -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def presigned_url(self, key: str, expires_seconds: int) -> str | None: ...
    def ping(self) -> None: ...


class LocalStore:
    parallel_writes = 1  # file writes are CPU-bound here; threads only fought over the GIL (3x slower)

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Checked lexically: resolving every key on disk cost more than writing a small image.
        parts = key.split("/")
        if key.startswith("/") or "\\" in key or any(part in ("..", ".") for part in parts):
            raise ValueError(f"key escapes the store: {key!r}")
        return self.root.joinpath(*parts)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.put_stream(key, io.BytesIO(data))

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            # Rename makes the write atomic; no fsync: a dead process loses nothing (the page cache outlives
            # it), and an fsync per image tripled the time of a 1,800-image upload. Power loss is the
            # production stack's business (S3), as for SQLite's synchronous=NORMAL beside it.
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
                written = out.tell()
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return written

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            yield prefix
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def list_children(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix)
        if base.is_dir():
            yield from sorted(path.name for path in base.iterdir() if not path.name.startswith(".tmp-"))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        return None

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"object store folder {self.root} is not writable")


class S3Store:
    parallel_writes = 8

    def __init__(self, settings: Settings, bucket: str) -> None:
        from minio import Minio

        if not settings.s3_endpoint:
            raise ValueError("DEFECTGEN_S3_ENDPOINT is required for an s3:// storage URL")
        self.bucket = bucket
        credentials = dict(
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
        self.client = Minio(settings.s3_endpoint, http_client=_http_client(), **credentials)
        # URLs handed to clients are signed for the endpoint they can reach, which may differ from ours.
        public = settings.s3_public_endpoint or settings.s3_endpoint
        parsed = urlparse(public if "://" in public else f"//{public}")
        secure = parsed.scheme == "https" if parsed.scheme else settings.s3_secure
        self.signer = Minio(parsed.netloc, **{**credentials, "secure": secure})

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        counter = _CountingReader(stream)
        # Unknown length: the SDK uploads in parts of part_size, so memory stays bounded.
        self.client.put_object(self.bucket, key, counter, length=-1, part_size=16 * 1024 * 1024)
        return counter.count

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.iter_chunks(key))

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        from minio.error import S3Error

        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFound(key) from None
            raise
        try:
            yield from response.stream(CHUNK)
        finally:
            response.close()
            response.release_conn()

    def size(self, key: str) -> int:
        from minio.error import S3Error

        try:
            return self.client.stat_object(self.bucket, key).size or 0
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFound(key) from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def list_keys(self, prefix: str) -> Iterator[str]:
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            yield obj.object_name

    def list_children(self, prefix: str) -> Iterator[str]:
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=False):
            yield obj.object_name[len(prefix):].rstrip("/")

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> None:
        from minio.deleteobjects import DeleteObject

        pending = (DeleteObject(key) for key in self.list_keys(prefix))
        errors = list(self.client.remove_objects(self.bucket, pending))
        if errors:
            raise OSError(f"could not delete {len(errors)} objects under {prefix}: {errors[0]}")

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        return self.signer.presigned_get_object(self.bucket, key, expires=timedelta(seconds=expires_seconds))

    def ping(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            raise OSError(f"bucket {self.bucket} does not exist")


def _http_client() -> urllib3.PoolManager:
    """Retries with capped exponential backoff ride out a store that restarts: about 25 s of waiting in all.
    Every S3 call we make may be repeated safely, so retries apply to all verbs, POST included."""
    retries = urllib3.Retry(total=10, connect=10, read=3, backoff_factor=0.2, backoff_max=5,
                            status_forcelist=[500, 502, 503, 504], allowed_methods=None)
    return urllib3.PoolManager(timeout=urllib3.Timeout(connect=10, read=300), maxsize=16, retries=retries)


class _CountingReader(io.RawIOBase):
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.count += len(data)
        return data


class IterReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks, for uploads of unknown length."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buffer = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        size = len(self.buffer) if size < 0 else size
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out


def open_store(settings: Settings) -> ObjectStore:
    url = urlparse(settings.storage_url)
    if url.scheme == "file":
        return LocalStore(Path(url.path))
    if url.scheme == "s3":
        return S3Store(settings, url.netloc)
    raise ValueError(f"unsupported DEFECTGEN_STORAGE_URL scheme: {settings.storage_url!r}")


@lru_cache
def get_store() -> ObjectStore:
    return open_store(get_settings())


# A forked child (Celery's pool workers fork from a main process whose janitor uses the store) must not share the
# parent's pooled S3 connections: two processes reading one socket get each other's responses.
os.register_at_fork(after_in_child=get_store.cache_clear)
