"""The FID Inception-v3 weights: imported once by an operator, kept in the object store, never downloaded.

FID is defined on the TF-ported 2015-12-05 weights that pytorch-fid and torch-fidelity load; their file
names end in the first hex digits of the file's sha256, which is checked here.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from core.settings import Settings
from core.storage import ObjectNotFound, ObjectStore

OFFICIAL_SHA256_PREFIX = "6726825d"  # pt_inception-2015-12-05-6726825d.pth
WEIGHTS_KEY = "weights/inception-fid/weights.pth"
META_KEY = "weights/inception-fid/meta.json"
IMPORT_HINT = ("the Inception weights for FID, KID and IS are not installed: download pt_inception-2015-12-05-"
               "6726825d.pth (the file pytorch-fid and torch-fidelity use) and run `defectgen weights import PATH`, "
               "or set DEFECTGEN_INCEPTION_WEIGHTS_PATH")


class WeightsError(ValueError):
    pass


def import_inception(store: ObjectStore, path: Path, *, force: bool = False) -> dict[str, object]:
    """Validate the file (it must build the network), check its sha256, and store it with its metadata."""
    from models.metrics.backbones import load_inception
    from models.metrics.errors import MetricsError

    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    official = sha256.startswith(OFFICIAL_SHA256_PREFIX)
    if not official and not force:
        raise WeightsError(f"{path} has sha256 {sha256}, not the 2015-12-05 FID weights ({OFFICIAL_SHA256_PREFIX}…);"
                           " scores from other weights are not comparable with published FIDs. Use --force to "
                           "import it anyway.")
    try:
        backbone = load_inception(data)
    except MetricsError as exc:
        raise WeightsError(f"{path} is not an Inception-v3 FID weights file: {exc}") from None
    meta = {"sha256": sha256, "official": official, "fingerprint": backbone.fingerprint,
            "size_bytes": len(data), "imported_at": datetime.now(UTC).isoformat()}
    store.put_bytes(WEIGHTS_KEY, data)
    store.put_bytes(META_KEY, json.dumps(meta).encode())
    return meta


def inception_available(settings: Settings, store: ObjectStore) -> bool:
    if settings.inception_weights_path:
        return settings.inception_weights_path.is_file()
    return store.exists(META_KEY)


def inception_weights(settings: Settings, store: ObjectStore) -> bytes:
    """The weights bytes, checked against the sha256 recorded at import."""
    if settings.inception_weights_path:
        return settings.inception_weights_path.read_bytes()
    try:
        meta = json.loads(store.get_bytes(META_KEY))
        data = store.get_bytes(WEIGHTS_KEY)
    except ObjectNotFound:
        raise WeightsError(IMPORT_HINT) from None
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise WeightsError("the stored Inception weights do not match the sha256 recorded when they were imported")
    return data
