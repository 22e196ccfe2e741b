"""Dataset upload through the live API: the happy path and the bad-input matrix (nothing stored)."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import sample_zip, upload


def _png(size: tuple[int, int] = (16, 16), value: int = 128) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, value).save(out, format="PNG")
    return out.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


def _good_entries() -> dict[str, bytes]:
    return {f"{cls}/{i}.png": _png(value=i * 20) for cls in ("a", "b") for i in range(3)}


def _bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/0.png", _png())
        with zf.open("a/bomb.png", "w", force_zip64=True) as member:
            for _ in range(8):
                member.write(b"\0" * (16 * 1024 * 1024))  # 128 MiB inflated, far over the test limit
        for cls in ("a", "b"):
            for i in range(1, 3):
                zf.writestr(f"{cls}/{i}.png", _png(value=i))
        zf.writestr("b/0.png", _png())
    return out.getvalue()


def _symlink_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in _good_entries().items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("a/link.png")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    return out.getvalue()


def _tar_with_dotdot() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, data in {**_good_entries(), "../evil.png": _png()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


BAD_UPLOADS = {
    "not an archive": (os.urandom(4096), "application/zip", 400, None),
    "truncated zip": (sample_zip()[:3000], "application/zip", 400, None),
    "zip slip": (_zip({**_good_entries(), "../../evil.png": _png()}), "application/zip", 422, "../../evil.png"),
    "absolute path": (_zip({**_good_entries(), "/tmp/evil.png": _png()}), "application/zip", 422, "/tmp/evil.png"),
    "dot-dot in tar.gz": (_tar_with_dotdot(), "application/gzip", 422, "../evil.png"),
    "symlink": (_symlink_zip(), "application/zip", 422, "a/link.png"),
    "decompression bomb": (_bomb(), "application/zip", 413, None),
    "non-image as png": (_zip({**_good_entries(), "a/fake.png": b"this is not a png" * 10}), "application/zip",
                         400, "a/fake.png"),
    "too many pixels": (_zip({**_good_entries(), "a/huge.png": _png((1024, 1024))}), "application/zip", 413,
                        "a/huge.png"),
    "empty class": (_zip({**_good_entries(), "c/": b""}), "application/zip", 422, None),
    "class under minimum": (_zip({**_good_entries(), "c/0.png": _png()}), "application/zip", 422, None),
    "file outside a class": (_zip({**_good_entries(), "loose.png": _png()}), "application/zip", 422, "loose.png"),
    "wrong content type": (sample_zip(), "image/png", 415, None),
}


def _stored_state(stack) -> tuple[int, int, list[str]]:  # type: ignore[no-untyped-def]
    from core.db import session_scope
    from core.storage import get_store
    from core.tables import Dataset
    from core.tables import Image as ImageRow

    with session_scope() as session:
        datasets = session.scalar(select(func.count()).select_from(Dataset))
        images = session.scalar(select(func.count()).select_from(ImageRow))
    return datasets, images, sorted(get_store().list_keys("datasets"))


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_is_refused_and_stores_nothing(client, stack, case):
    data, content_type, status, bad_file = BAD_UPLOADS[case]
    before = _stored_state(stack)
    response = upload(client, data, content_type=content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem) and problem["status"] == status
    if bad_file:
        assert any(bad_file in [str(part) for part in error["loc"]] for error in problem["errors"]), problem
    assert _stored_state(stack) == before


def test_upload_over_the_size_limit_is_413(client, stack):
    before = _stored_state(stack)
    response = upload(client, os.urandom(9 * 1024 * 1024))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert _stored_state(stack) == before


def test_upload_list_get_preview_delete(client):
    response = upload(client, sample_zip(per_class=4, size=24, classes=("inclusion", "patches", "scratches")),
                      filename="three.zip")
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["num_images"] == 12 and dataset["image_mode"] == "L"
    assert dataset["min_size"] == dataset["max_size"] == [24, 24]
    assert [c["name"] for c in dataset["classes"]] == ["inclusion", "patches", "scratches"]
    assert len(dataset["sha256"]) == 64

    # other content than the session's `dataset`, which would make this upload a duplicate of it
    named = upload(client, sample_zip(per_class=5), filename="x.zip", content_type="application/octet-stream",
                   name="neu-steel")
    assert named.status_code == 201 and named.json()["name"] == "neu-steel"

    listed = client.get("/v1/datasets", params={"limit": 1}).json()
    assert listed["items"][0]["id"] == named.json()["id"] and listed["next_cursor"]
    following = client.get("/v1/datasets", params={"limit": 1, "cursor": listed["next_cursor"]}).json()
    assert following["items"][0]["id"] == dataset["id"]

    preview = client.get(f"/v1/datasets/{dataset['id']}/preview.png")
    assert preview.status_code == 200
    grid = Image.open(io.BytesIO(preview.content))
    labels = grid.width - 8 * 64  # the class names, left of up to 8 tiles of 64 px per row, a row per class
    assert labels > 0 and grid.height == 3 * 64
    rows = [grid.crop((labels, 64 * r, labels + 24, 64 * r + 24)).getextrema() for r in range(3)]
    assert all(high > low for low, high in rows)
    assert all(grid.crop((0, 64 * r, labels, 64 * r + 64)).getbbox() for r in range(3))

    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 404
    assert client.delete(f"/v1/datasets/{named.json()['id']}").status_code == 204


def test_tar_and_tar_gz_uploads(client):
    for mode, content_type in (("w", "application/x-tar"), ("w:gz", "application/gzip")):
        out = io.BytesIO()
        # not the session `dataset`'s images, which would make a later upload of it a duplicate
        with tarfile.open(fileobj=out, mode=mode) as tf, zipfile.ZipFile(io.BytesIO(sample_zip(per_class=4))) as zf:
            for name in zf.namelist():
                info = tarfile.TarInfo(f"neu/{name}")
                info.size = zf.getinfo(name).file_size
                tf.addfile(info, io.BytesIO(zf.read(name)))
        response = client.post("/v1/datasets", params={"allow_duplicate": "true"},  # the same images each time
                               files={"file": ("set.tar", out.getvalue(), content_type)})
        assert response.status_code == 201, response.text
        assert [c["count"] for c in response.json()["classes"]] == [4, 4]


def test_dataset_in_use_cannot_be_deleted(client, dataset):
    from tests.conftest import TINY_TRAIN, submit, wait_job

    job = submit(client, "train", {"dataset_id": dataset["id"], "steps": 100_000, **TINY_TRAIN}).json()
    response = client.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 409 and job["id"] in response.json()["detail"]
    client.post(f"/v1/jobs/{job['id']}/cancel")
    wait_job(client, job["id"], timeout=60)
