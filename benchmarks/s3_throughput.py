"""Object-store throughput through defectgen's S3 layer against the raw minio SDK, same server, same bytes.

Upload: S3Store.put_stream (a stream of unknown length, multipart) vs Minio.put_object with the length
known. Download: S3Store.iter_chunks vs Minio.get_object().read(). The server is SeaweedFS's S3 gateway on
loopback, standing in for MinIO. Target: ours >= 0.7x the raw SDK, both ways.

Usage: python benchmarks/s3_throughput.py [--mib 256] [--repeats 3]
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core.settings import Settings  # noqa: E402
from core.storage import CHUNK, IterReader, S3Store  # noqa: E402
from tests.servers import S3Server  # noqa: E402

TARGET = 0.7


def best(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    payload = os.urandom(args.mib * 1024 * 1024)
    with tempfile.TemporaryDirectory() as tmp, S3Server(Path(tmp)) as server:
        raw = server.client()
        settings = Settings(data_dir=Path(tmp), s3_endpoint=server.endpoint, s3_access_key=server.access_key,
                            s3_secret_key=SecretStr(server.secret_key), s3_region=server.region)
        ours = S3Store(settings, server.bucket)

        def raw_put() -> None:
            raw.put_object(server.bucket, "raw.bin", io.BytesIO(payload), len(payload), part_size=16 * 1024 * 1024)

        def raw_get() -> None:
            response = raw.get_object(server.bucket, "raw.bin")
            try:
                assert len(response.read()) == len(payload)
            finally:
                response.close()
                response.release_conn()

        def our_put() -> None:
            chunks = (payload[i:i + CHUNK] for i in range(0, len(payload), CHUNK))
            ours.put_stream("ours.bin", IterReader(chunks))

        def our_get() -> None:
            assert sum(len(chunk) for chunk in ours.iter_chunks("ours.bin")) == len(payload)

        results = {}
        for name, raw_fn, our_fn in (("upload", raw_put, our_put), ("download", raw_get, our_get)):
            raw_fn(), our_fn()  # warm-up, and the objects the downloads read
            results[name] = (best(raw_fn, args.repeats), best(our_fn, args.repeats))
    mib = args.mib
    print(f"{mib} MiB object, best of {args.repeats}, SeaweedFS S3 on loopback")
    for name, (raw_s, ours_s) in results.items():
        ratio = raw_s / ours_s
        print(f"{name:8} raw minio SDK (reference) {mib / raw_s:7.1f} MiB/s   "
              f"defectgen S3Store {mib / ours_s:7.1f} MiB/s"
              f"   ratio {ratio:.2f} (target >= {TARGET}) -> {'OK' if ratio >= TARGET else 'UNDER'}")


if __name__ == "__main__":
    main()
