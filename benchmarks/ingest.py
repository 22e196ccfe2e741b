"""Ingest speed on a NEU-sized archive (1800 x 200x200 grayscale PNG) against plain unzip + decode.

Run: .venv/bin/python benchmarks/ingest.py   (target: ingest / baseline <= 2.0)
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
    ratio = ingested / base
    print(f"baseline (unzip + decode): {base:.3f} s")
    print(f"ingest_archive:            {ingested:.3f} s")
    print(f"ratio ingest/baseline:     {ratio:.2f} (target <= 2.0) {'OK' if ratio <= 2.0 else 'OVER'}")


if __name__ == "__main__":
    main()
