from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.ingest import IngestError, IngestLimits, IngestReason, IngestResult, ingest_archive
from core.sample_data import NEU_CLASSES, write_sample_archive

Members = dict[str, "bytes | None"]  # archive path -> content; None makes a directory entry


def image_bytes(seed: int, size: tuple[int, int] = (8, 6), mode: str = "L", fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buffer, fmt)
    return buffer.getvalue()


def two_classes(prefix: str = "") -> Members:
    return {f"{prefix}{c}/{c}_{i}.png": image_bytes(10 * k + i) for k, c in enumerate("ab") for i in range(3)}


def make_zip(path: Path, members: Members) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name.rstrip("/") + "/" if data is None else name, data or b"")
    return path


def make_tar(path: Path, members: Members, gz: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            tf.addfile(info, None if data is None else io.BytesIO(data))
    return path


def ingest(path: Path, tmp_path: Path, limits: IngestLimits = IngestLimits(), **kw) -> IngestResult:
    return ingest_archive(path, tmp_path / "work", limits, **kw)


def rejected(path: Path, tmp_path: Path, reason: IngestReason, limits: IngestLimits = IngestLimits(),
             **kw) -> IngestError:
    with pytest.raises(IngestError) as info:
        ingest(path, tmp_path, limits, **kw)
    assert info.value.reason == reason, info.value.errors
    assert info.value.errors and all("loc" in e and "msg" in e for e in info.value.errors)
    return info.value


def locs(error: IngestError) -> list[list[str]]:
    return [e["loc"] for e in error.errors]


# --- valid archives ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_valid_archive_ingests(tmp_path, kind):
    members = {**two_classes(), "b/wide.png": image_bytes(99, size=(12, 4)), "c/": None,
               "c/photo.png": image_bytes(7, mode="RGB"), "c/photo.jpg": image_bytes(8, fmt="JPEG")}
    path = tmp_path / f"set.{kind}"
    make_zip(path, members) if kind == "zip" else make_tar(path, members, gz=kind == "tar.gz")

    result = ingest(path, tmp_path, content_type="application/octet-stream")

    assert result.classes == {"a": 3, "b": 4, "c": 2}
    assert list(result.classes) == ["a", "b", "c"]
    assert result.image_mode == "RGB"
    assert result.min_size == (8, 4) and result.max_size == (12, 6)
    assert result.num_duplicates == 0
    by_source = {i.source: i for i in result.images}
    assert set(by_source) == {n for n, d in members.items() if d is not None}
    assert by_source["c/photo.png"].mode == "RGB" and by_source["c/photo.jpg"].mode == "L"
    assert {i.filename for i in result.images if i.class_name == "c"} == {"photo.png", "photo_2.png"}
    for image in result.images:
        assert image.path.is_file() and image.path.is_relative_to(tmp_path / "work")
        with Image.open(image.path) as png:
            assert png.format == "PNG" and png.mode == image.mode
            assert png.size == (image.width, image.height)
        if image.source.endswith(".png"):  # lossless: the pixels survive normalisation
            with Image.open(io.BytesIO(members[image.source])) as original:
                assert np.array_equal(np.asarray(Image.open(image.path)), np.asarray(original))


def test_hashes_do_not_depend_on_archive_format_or_order(tmp_path):
    members = two_classes()
    zipped = ingest(make_zip(tmp_path / "a.zip", members), tmp_path / "1")
    tarred = ingest(make_tar(tmp_path / "a.tgz", dict(reversed(members.items())), gz=True), tmp_path / "2")
    assert zipped.sha256 == tarred.sha256
    assert [i.sha256 for i in zipped.images] == [i.sha256 for i in tarred.images]
    changed = ingest(make_zip(tmp_path / "b.zip", {**members, "a/a_0.png": image_bytes(1234)}), tmp_path / "3")
    assert changed.sha256 != zipped.sha256


def test_common_top_level_folder_and_junk_are_ignored(tmp_path):
    members = {"NEU-DET/": None, **two_classes("NEU-DET/"), "__MACOSX/NEU-DET/a/._a_0.png": b"junk",
               "NEU-DET/.DS_Store": b"junk", "NEU-DET/a/Thumbs.db": b"junk", "NEU-DET/b/desktop.ini": b"junk",
               "NEU-DET/.git/config": b"junk"}
    result = ingest(make_zip(tmp_path / "set.zip", members), tmp_path)
    assert result.classes == {"a": 3, "b": 3}
    assert {i.source for i in result.images} == {n for n in members if n.endswith(".png") and "__" not in n}


def test_dot_slash_paths_from_tar_are_accepted(tmp_path):
    members = {"./": None, **{f"./{n}": d for n, d in two_classes().items()}}
    assert ingest(make_tar(tmp_path / "set.tar", members), tmp_path).classes == {"a": 3, "b": 3}


def test_equal_channel_rgb_becomes_grayscale(tmp_path):
    gray = np.random.default_rng(0).integers(0, 256, (5, 5), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.stack([gray] * 3, axis=-1), "RGB").save(buffer, "PNG")
    result = ingest(make_zip(tmp_path / "set.zip", {**two_classes(), "a/gray_rgb.png": buffer.getvalue()}), tmp_path)
    image = next(i for i in result.images if i.source == "a/gray_rgb.png")
    assert image.mode == "L" and result.image_mode == "L"
    with Image.open(image.path) as png:
        assert png.mode == "L" and np.array_equal(np.asarray(png), gray)


@pytest.mark.parametrize(("mode", "expected"), [("1", "L"), ("LA", "L"), ("I;16", "L"), ("P", "RGB"),
                                                ("RGBA", "RGB")])
def test_modes_are_normalised_to_l_or_rgb(tmp_path, mode, expected):
    rng = np.random.default_rng(0)
    if mode == "I;16":
        source = Image.fromarray(rng.integers(0, 65536, (6, 6), dtype=np.uint16))
    else:
        source = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), "RGB").convert(mode)
    assert source.mode == mode
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    result = ingest(make_zip(tmp_path / "set.zip", {**two_classes(), "a/odd.png": buffer.getvalue()}), tmp_path)
    image = next(i for i in result.images if i.source == "a/odd.png")
    assert image.mode == expected
    if mode == "I;16":  # 16-bit values are scaled, not clipped
        with Image.open(image.path) as png:
            assert np.array_equal(np.asarray(png), np.asarray(source) >> 8)


def test_duplicates_are_counted_not_dropped(tmp_path):
    members = {**two_classes(), "a/copy.png": image_bytes(0), "b/copy.bmp": image_bytes(0, fmt="BMP")}
    result = ingest(make_zip(tmp_path / "set.zip", members), tmp_path)
    assert result.num_duplicates == 2 and len(result.images) == 8


def test_filenames_are_sanitised_and_unique_within_a_class(tmp_path):
    members = {**two_classes(), "a/img 1.png": image_bytes(50), "a/img 1.jpg": image_bytes(51, fmt="JPEG"),
               "a/Img_1.tif": image_bytes(52, fmt="TIFF"), "a/é!.bmp": image_bytes(53, fmt="BMP"),
               "b/img 1.png": image_bytes(54)}
    result = ingest(make_zip(tmp_path / "set.zip", members), tmp_path)
    names = {(i.class_name, i.source): i.filename for i in result.images}
    assert names[("a", "a/Img_1.tif")] == "Img_1.png"
    assert names[("a", "a/img 1.jpg")] == "img_1_2.png" and names[("a", "a/img 1.png")] == "img_1_3.png"
    assert names[("a", "a/é!.bmp")] == "image.png"
    assert names[("b", "b/img 1.png")] == "img_1.png"
    for class_name in "ab":
        files = [i.filename.lower() for i in result.images if i.class_name == class_name]
        assert len(files) == len(set(files))


def test_workdir_may_already_hold_the_upload(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    archive = make_zip(work / "a", two_classes())  # same name as a class folder
    result = ingest_archive(archive, work, IngestLimits())
    assert archive.is_file() and result.classes == {"a": 3, "b": 3}
    assert all(i.path.is_file() and i.path.parent != archive for i in result.images)


def test_sample_archives_ingest_cleanly(tmp_path):
    path = tmp_path / "neu.zip"
    write_sample_archive(path, per_class=3, size=32)
    result = ingest(path, tmp_path, content_type="application/zip")
    assert result.classes == {c: 3 for c in sorted(NEU_CLASSES)}
    assert result.image_mode == "L" and result.min_size == result.max_size == (32, 32)
    assert result.num_duplicates == 0


def test_pillow_limit_does_not_preempt_ours(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # far below the images' 48 pixels
    assert ingest(make_zip(tmp_path / "set.zip", two_classes()), tmp_path).classes == {"a": 3, "b": 3}


# --- rejected archives --------------------------------------------------------------------------------------


def test_random_bytes_are_not_an_archive(tmp_path):
    path = tmp_path / "junk.zip"
    path.write_bytes(os.urandom(4096))
    assert locs(rejected(path, tmp_path, "corrupt")) == [["archive"]]


def test_empty_file_is_not_an_archive(tmp_path):
    path = tmp_path / "empty.zip"
    path.write_bytes(b"")
    assert locs(rejected(path, tmp_path, "corrupt")) == [["archive"]]


def test_truncated_zip(tmp_path):
    path = make_zip(tmp_path / "set.zip", two_classes())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert locs(rejected(path, tmp_path, "corrupt")) == [["archive"]]


@pytest.mark.parametrize("cut", ["in_data", "at_header"])
def test_truncated_tar(tmp_path, cut):
    path = make_tar(tmp_path / "set.tar", two_classes())
    with tarfile.open(path) as tf:
        last = tf.getmembers()[-1]
    path.write_bytes(path.read_bytes()[: last.offset_data + 10 if cut == "in_data" else last.offset])
    assert locs(rejected(path, tmp_path, "corrupt")) == [["archive"]]


def test_truncated_tar_gz(tmp_path):
    path = make_tar(tmp_path / "set.tgz", two_classes(), gz=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    assert locs(rejected(path, tmp_path, "corrupt")) == [["archive"]]


def test_gzip_that_is_not_a_tar(tmp_path):
    import gzip

    path = tmp_path / "set.tar.gz"
    path.write_bytes(gzip.compress(b"not a tar" * 100))
    assert locs(rejected(path, tmp_path, "corrupt")) == [["archive"]]


@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "/abs/evil.png", "C:/evil.png",
                                  "a\\..\\..\\evil.png", "a/ev\x01il.png"])
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_unsafe_paths(tmp_path, name, kind):
    members = {**two_classes(), name: image_bytes(1)}
    path = make_zip(tmp_path / "s.zip", members) if kind == "zip" else make_tar(tmp_path / "s.tar", members)
    assert locs(rejected(path, tmp_path, "bad_layout")) == [["file", name]]


def test_symlink_in_zip(tmp_path):
    path = make_zip(tmp_path / "set.zip", two_classes())
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("a/link.png")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    error = rejected(path, tmp_path, "bad_layout")
    assert locs(error) == [["file", "a/link.png"]] and "link" in error.errors[0]["msg"]


@pytest.mark.parametrize("link_type", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_links_and_devices_in_tar(tmp_path, link_type):
    path = make_tar(tmp_path / "set.tar", two_classes())
    with tarfile.open(path, "a") as tf:
        info = tarfile.TarInfo("b/special.png")
        info.type = link_type
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    assert locs(rejected(path, tmp_path, "bad_layout")) == [["file", "b/special.png"]]


def test_every_bad_entry_is_reported(tmp_path):
    members = {**two_classes(), "../evil.png": b"x", "stray.png": image_bytes(1), "a/notes.txt": b"x",
               "a/deep/x.png": image_bytes(2)}
    error = rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "bad_layout")
    assert sorted(locs(error)) == sorted(["file", n] for n in ("../evil.png", "stray.png", "a/notes.txt",
                                                               "a/deep/x.png"))


def test_file_outside_any_class_folder(tmp_path):
    members = {**two_classes(), "stray.png": image_bytes(1)}
    error = rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "bad_layout")
    assert locs(error) == [["file", "stray.png"]]


def test_file_nested_too_deep(tmp_path):
    members = {**two_classes(), "a/sub/x.png": image_bytes(1)}
    assert locs(rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "bad_layout")) == [["file", "a/sub/x.png"]]


def test_unsupported_extension(tmp_path):
    members = {**two_classes(), "a/x.gif": image_bytes(1, fmt="GIF")}
    assert locs(rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "bad_layout")) == [["file", "a/x.gif"]]


def test_unsupported_zip_compression(tmp_path):
    path = make_zip(tmp_path / "set.zip", two_classes())
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("a/packed.png", image_bytes(1), compress_type=zipfile.ZIP_BZIP2)
    assert locs(rejected(path, tmp_path, "bad_layout")) == [["file", "a/packed.png"]]


def test_duplicate_member_name(tmp_path):
    path = make_zip(tmp_path / "set.zip", two_classes())
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("a/a_0.png", image_bytes(77))
    assert locs(rejected(path, tmp_path, "bad_layout")) == [["file", "a/a_0.png"]]


@pytest.fixture(scope="module")
def bomb_zip(tmp_path_factory) -> Path:
    """Two valid classes plus a.../bomb.png: 200 MB of zeros that deflate to ~200 KB, written in chunks."""
    path = make_zip(tmp_path_factory.mktemp("bomb") / "bomb.zip", two_classes())
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, zf.open("a/bomb.png", "w") as f:
        chunk = bytes(1024 * 1024)
        for _ in range(200):
            f.write(chunk)
    return path


def test_zip_bomb_is_refused_by_its_declared_size(tmp_path, bomb_zip):
    limits = IngestLimits(max_uncompressed_bytes=64 * 1024 * 1024)
    error = rejected(bomb_zip, tmp_path, "too_large", limits)
    assert locs(error) == [["file", "a/bomb.png"]]


def _declare_size(path: Path, name: str, size: int) -> None:
    """Rewrite a member's uncompressed size in its local and central headers, as a crafted bomb would."""
    with zipfile.ZipFile(path) as zf:
        info, pos = zf.getinfo(name), zf.start_dir
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, info.header_offset + 22, size)
    while raw[pos:pos + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", raw, pos + 28)
        if raw[pos + 46:pos + 46 + name_len] == name.encode():
            struct.pack_into("<I", raw, pos + 24, size)
        pos += 46 + name_len + extra_len + comment_len
    path.write_bytes(raw)


def test_zip_bomb_with_lying_header_is_stopped_while_reading(tmp_path, bomb_zip):
    path = tmp_path / "liar.zip"
    path.write_bytes(bomb_zip.read_bytes())
    _declare_size(path, "a/bomb.png", 1000)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("a/bomb.png").file_size == 1000
    error = rejected(path, tmp_path, "too_large")  # default limits: 2 GB would allow the 200 MB
    assert locs(error) == [["file", "a/bomb.png"]] and "declared size" in error.errors[0]["msg"]
    assert not list((tmp_path / "work").iterdir())  # images already written were removed


def test_tar_gz_over_the_byte_limit(tmp_path):
    members = {**two_classes(), "b/big.png": bytes(2 * 1024 * 1024)}
    path = make_tar(tmp_path / "set.tgz", members, gz=True)
    error = rejected(path, tmp_path, "too_large", IngestLimits(max_uncompressed_bytes=1024 * 1024))
    assert locs(error) == [["file", "b/big.png"]]


def test_tar_gz_whose_headers_inflate_past_the_cap(tmp_path):
    # Member sizes are small, but a PAX header carries 3 MB: the gzip stream itself must be capped.
    path = tmp_path / "set.tgz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("a/x.png")
        info.pax_headers = {"comment": "x" * 3 * 1024 * 1024}
        tf.addfile(info, io.BytesIO(b""))
    error = rejected(path, tmp_path, "too_large", IngestLimits(max_uncompressed_bytes=1024 * 1024, max_entries=10))
    assert locs(error) == [["archive"]] and "inflates past" in error.errors[0]["msg"]


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_corrupted_archives_only_ever_raise_ingest_errors(tmp_path, kind):
    members = {**two_classes(), "c/x.jpg": image_bytes(1, fmt="JPEG"), "c/y.bmp": image_bytes(2, fmt="BMP")}
    path = tmp_path / "set"
    make_zip(path, members) if kind == "zip" else make_tar(path, members, gz=kind == "tar.gz")
    original, rng = path.read_bytes(), np.random.default_rng(0)
    for trial in range(40):
        raw = bytearray(original)
        for i in rng.integers(0, len(raw), 4):
            raw[i] = int(rng.integers(0, 256))
        path.write_bytes(raw[: len(raw) if trial % 2 else int(rng.integers(0, len(raw)))])
        try:
            ingest_archive(path, tmp_path / f"work{trial}", IngestLimits())
        except IngestError as error:
            assert error.reason in ("corrupt", "too_large", "bad_layout") and error.errors


def test_non_image_disguised_as_png(tmp_path):
    members = {**two_classes(), "a/fake.png": b"MZ this is an executable, honest" * 10}
    error = rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "corrupt")
    assert locs(error) == [["file", "a/fake.png"]]
    assert not list((tmp_path / "work").iterdir())


def test_image_whose_content_does_not_match_its_extension(tmp_path):
    members = {**two_classes(), "a/photo.png": image_bytes(1, fmt="JPEG")}
    assert locs(rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "corrupt")) == [["file", "a/photo.png"]]


def test_truncated_image(tmp_path):
    data = image_bytes(1, size=(64, 64))
    members = {**two_classes(), "b/cut.png": data[: len(data) // 2]}
    assert locs(rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "corrupt")) == [["file", "b/cut.png"]]


def test_image_over_max_image_pixels(tmp_path):
    members = {**two_classes(), "b/huge.png": image_bytes(1, size=(20, 20))}
    error = rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "too_large", IngestLimits(max_image_pixels=100))
    assert locs(error) == [["file", "b/huge.png"]] and "max_image_pixels" in error.errors[0]["msg"]


def test_pillow_decompression_bomb_error_maps_to_413(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # raised to our 100, and 400 > 2 * 100
    members = {**two_classes(), "b/huge.png": image_bytes(1, size=(20, 20))}
    error = rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "too_large", IngestLimits(max_image_pixels=100))
    assert locs(error) == [["file", "b/huge.png"]]


def test_a_single_class_is_a_dataset_unless_min_classes_says_otherwise(tmp_path):
    members = {f"a/{i}.png": image_bytes(i) for i in range(3)}
    archive = make_zip(tmp_path / "set.zip", members)
    assert list(ingest(archive, tmp_path / "one").classes) == ["a"]
    error = rejected(archive, tmp_path / "two", "bad_layout", IngestLimits(min_classes=2))
    assert locs(error) == [["archive"]] and "min_classes" in error.errors[0]["msg"]


def test_empty_class(tmp_path):
    error = rejected(make_zip(tmp_path / "set.zip", {**two_classes(), "c/": None}), tmp_path, "bad_layout")
    assert locs(error) == [["class", "c"]]


def test_class_under_the_minimum(tmp_path):
    members = {**two_classes(), "c/only.png": image_bytes(1)}
    error = rejected(make_zip(tmp_path / "set.zip", members), tmp_path, "bad_layout")
    assert locs(error) == [["class", "c"]] and "min_images_per_class" in error.errors[0]["msg"]


@pytest.mark.parametrize("content_type", ["image/png", "text/plain; charset=utf-8", "multipart/form-data"])
def test_wrong_content_type(tmp_path, content_type):
    path = make_zip(tmp_path / "set.zip", two_classes())
    error = rejected(path, tmp_path, "unsupported_media_type", content_type=content_type)
    assert locs(error) == [["header", "content-type"]]


@pytest.mark.parametrize("content_type", [None, "", "application/zip", "Application/X-Zip-Compressed",
                                          "application/gzip", "application/x-tar; foo=bar"])
def test_archive_and_generic_content_types_are_accepted(tmp_path, content_type):
    path = make_zip(tmp_path / "set.zip", two_classes())
    assert ingest(path, tmp_path, content_type=content_type).classes == {"a": 3, "b": 3}


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_too_many_entries(tmp_path, kind):
    members = two_classes()
    path = make_zip(tmp_path / "s.zip", members) if kind == "zip" else make_tar(tmp_path / "s.tgz", members, True)
    error = rejected(path, tmp_path, "too_large", IngestLimits(max_entries=5))
    assert locs(error) == [["archive"]] and "max_entries" in error.errors[0]["msg"]
