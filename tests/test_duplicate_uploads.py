"""An upload whose content equals a dataset of the workspace answers with that dataset (200 and
X-Defectgen-Duplicate: true) and stores nothing, unless ?allow_duplicate=true (in-process)."""
from __future__ import annotations

import io
import tarfile
import zipfile

from sqlalchemy import func, select

from core.tables import Dataset
from tests.conftest import sample_zip, upload


def _stored() -> tuple[int, int]:
    """Dataset rows and dataset objects."""
    from core.db import session_scope
    from core.storage import get_store

    with session_scope() as session:
        rows = session.scalar(select(func.count()).select_from(Dataset))
    return rows, len(list(get_store().list_keys("datasets/")))


def _as_tar(zip_bytes: bytes) -> bytes:
    """The same images in another container: the content, not the archive's bytes, makes a duplicate."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf, tarfile.open(fileobj=out, mode="w") as tf:
        for info in zf.infolist():
            if not info.is_dir():
                data = zf.read(info)
                member = tarfile.TarInfo(info.filename)
                member.size = len(data)
                tf.addfile(member, io.BytesIO(data))
    return out.getvalue()


def test_duplicate_upload_answers_the_existing_dataset(api):
    archive = sample_zip(per_class=3, classes=("crazing", "scratches"))
    first = upload(api, archive, name="first")
    assert first.status_code == 201, first.text
    assert "x-defectgen-duplicate" not in first.headers
    before = _stored()

    for data, filename, content_type in ((archive, "again.zip", "application/zip"),
                                         (_as_tar(archive), "again.tar", "application/x-tar")):
        again = upload(api, data, filename=filename, content_type=content_type, name="second")
        assert again.status_code == 200, again.text
        assert again.headers["x-defectgen-duplicate"] == "true"
        assert again.json() == first.json()
        assert _stored() == before

    forced = api.post("/v1/datasets", params={"allow_duplicate": "true"},
                      files={"file": ("again.zip", archive, "application/zip")})
    assert forced.status_code == 201, forced.text
    assert forced.json()["id"] != first.json()["id"]
    assert forced.json()["sha256"] == first.json()["sha256"]
    assert "x-defectgen-duplicate" not in forced.headers
    assert _stored()[0] == before[0] + 1


def test_other_content_is_no_duplicate(api):
    first = upload(api, sample_zip(per_class=3, classes=("inclusion", "patches")))
    other = upload(api, sample_zip(per_class=4, classes=("inclusion", "patches")))
    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json()["id"] != first.json()["id"]


def test_openapi_documents_the_duplicate_answer(api):
    operation = api.get("/openapi.json").json()["paths"]["/v1/datasets"]["post"]
    assert "X-Defectgen-Duplicate" in operation["responses"]["200"]["headers"]
    assert {"201", "413"} <= set(operation["responses"])
    assert any(p["name"] == "allow_duplicate" and p["in"] == "query" for p in operation["parameters"])
