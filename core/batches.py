"""A generated batch in the upload format: a folder per class plus manifest.csv, zipped as a stream."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from zipstream import ZIP_STORED, ZipStream

from core.storage import ObjectStore
from core.storage_keys import batch_file_key, batch_manifest_key

MANIFEST_FIELDS = ("file", "class", "seed")
# A translate batch's masks: masks/<class>/<file>, named in the manifest's "mask" column; uploads skip them.
MASKS_FOLDER = "masks"


def manifest_csv(rows: Iterable[dict[str, object]], extra_fields: tuple[str, ...] = ()) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*MANIFEST_FIELDS, *extra_fields], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def manifest_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def batch_zip(store: ObjectStore, batch_id: str) -> ZipStream:
    """Files are read from the store one at a time, as the zip is consumed; PNGs are already compressed,
    so they are stored, not deflated."""
    manifest = store.get_bytes(batch_manifest_key(batch_id))
    stream = ZipStream(compress_type=ZIP_STORED)
    for row in manifest_rows(manifest):
        for file in (row["file"], row.get("mask")):
            if file:
                stream.add(store.iter_chunks(batch_file_key(batch_id, file)), file)
    stream.add(manifest, "manifest.csv")
    return stream
