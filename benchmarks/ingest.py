"""Ingest speed on a NEU-sized archive (1800 x 200x200 grayscale PNG) against plain unzip + decode.

Two figures: ingest_archive alone (validation, decode, normalisation), and the whole upload as a client
sees it, POST /v1/datasets on a live embedded server (also storing the images and committing the rows).
Run: .venv/bin/python benchmarks/ingest.py   (target: upload / baseline <= 2.0)
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.ingest import IngestLimits, ingest_archive  # noqa: E402
from core.sample_data import write_sample_archive  # noqa: E402
from tests.conftest import TEST_KEY, embedded_env  # noqa: E402
from tests.stack import Stack  # noqa: E402

REPEATS = 3


def baseline(archive: Path) -> int:
    """Open the zip, read every member and fully decode it: the least any ingest must do."""
    count = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if not info.is_dir():
                with Image.open(io.BytesIO(zf.read(info))) as im:
                    im.load()
                count += 1
    return count


def best_of(fn: Callable[[int], object]) -> float:
    times = []
    for i in range(REPEATS):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "neu.zip"
        start = time.perf_counter()
        write_sample_archive(archive, per_class=300, size=200)
        print(f"sample archive: 1800 images, {archive.stat().st_size / 1e6:.1f} MB, "
              f"written in {time.perf_counter() - start:.2f} s")

        assert baseline(archive) == 1800
        base = best_of(lambda i: baseline(archive))

        def ingest(i: int) -> None:
            result = ingest_archive(archive, root / f"work{i}", IngestLimits())
            assert len(result.images) == 1800 and len(result.classes) == 6

        ingested = best_of(ingest)
        uploaded = upload_time(root, archive)
    print(f"baseline (unzip + decode), the reference: {base:.3f} s")
    print(f"ingest_archive:                           {ingested:.3f} s   ratio {ingested / base:.2f}")
    ratio = uploaded / base
    print(f"POST /v1/datasets, embedded server:       {uploaded:.3f} s   ratio {ratio:.2f} "
          f"(target <= 2.0) {'OK' if ratio <= 2.0 else 'OVER'}")


def upload_time(root: Path, archive: Path) -> float:
    env = embedded_env(root / "service")
    env.update(DEFECTGEN_MAX_UPLOAD_BYTES=str(1 << 30), DEFECTGEN_MAX_UNCOMPRESSED_BYTES=str(1 << 30))
    (root / "logs").mkdir()
    stack = Stack(env=env, api_key=TEST_KEY, logs=root / "logs")
    stack.start_api()
    try:
        with stack.client() as client:

            def upload(i: int) -> None:
                with archive.open("rb") as fh:
                    response = client.post("/v1/datasets", files={"file": ("neu.zip", fh, "application/zip")})
                assert response.status_code == 201, response.text

            return best_of(upload)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
