"""Validate an uploaded image-set archive and normalise its images to PNG files.

Expected layout: `<class>/<image>` (optionally all under one common top-level folder), as a zip, tar or
tar.gz. Nothing is extracted blindly: every member's name and type is checked first, members are read
with a byte cap, and image headers are checked before any pixel is decoded.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from PIL import Image

from core.batches import MASKS_FOLDER
from core.fields import NAME_MAX_LENGTH, NAME_PATTERN


@dataclass(frozen=True)
class IngestLimits:
    max_entries: int = 20000
    max_uncompressed_bytes: int = 2 * 1024**3
    max_image_pixels: int = 4096 * 4096
    min_images_per_class: int = 2
    min_classes: int = 1


@dataclass
class IngestedImage:
    class_name: str
    filename: str  # unique within the class, ends with .png
    path: Path  # the normalised PNG, under workdir
    sha256: str  # of mode, size and decoded pixels: re-encoding does not change it
    width: int
    height: int
    mode: str  # "L" or "RGB"
    source: str  # the member's path in the archive


@dataclass
class IngestResult:
    images: list[IngestedImage]  # sorted by class, then filename
    classes: dict[str, int]  # image count per class, sorted by name
    image_mode: str  # "L" if every image is grayscale, else "RGB"
    min_size: tuple[int, int]  # (smallest width, smallest height)
    max_size: tuple[int, int]  # (largest width, largest height)
    sha256: str  # of the whole set (class names + image hashes), independent of order
    num_duplicates: int  # images whose pixels equal an earlier image's (in any class)


IngestReason = Literal["too_large", "corrupt", "unsupported_media_type", "bad_layout"]


class IngestError(Exception):
    """A rejected archive: why (`reason`), a title and detail, and one {"loc", "msg"} per offending part."""

    def __init__(self, reason: IngestReason, title: str, detail: str, errors: list[dict] | None = None) -> None:
        super().__init__(f"{title}: {detail}")
        self.reason = reason
        self.title = title
        self.detail = detail
        self.errors = errors or []


ARCHIVE_CONTENT_TYPES = frozenset({
    "application/zip", "application/x-zip", "application/x-zip-compressed", "multipart/x-zip",
    "application/x-tar", "application/tar", "application/gzip", "application/x-gzip", "application/x-gtar",
    "application/x-tgz", "application/x-compressed-tar", "application/x-compressed", "application/tar+gzip",
})
_GENERIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
_IGNORED_FILES = frozenset({"thumbs.db", "desktop.ini"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# zipfile inflates bzip2/lzma members without an output bound, so a tiny chunk could expand without limit.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# Each tar member costs a 512-byte header plus up to 511 bytes of padding; PAX/GNU long-name records more.
_TAR_OVERHEAD_PER_ENTRY = 4096
# ValueError: e.g. a zip name that is not UTF-8 though flagged so; NotImplementedError: a newer zip version.
_READ_ERRORS = (
    zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError, NotImplementedError, zlib.error
)


def _file_error(name: str, msg: str) -> dict:
    return {"loc": ["file", name], "msg": msg}


def _archive_error(msg: str) -> dict:
    return {"loc": ["archive"], "msg": msg}


def _too_large(errors: list[dict]) -> IngestError:
    return IngestError("too_large", "Archive too large", errors[0]["msg"], errors)


def _corrupt(msg: str) -> IngestError:
    return IngestError("corrupt", "Invalid archive", msg, [_archive_error(msg)])


@dataclass
class _Entry:
    name: str  # as stored in the archive
    is_dir: bool
    size: int  # declared uncompressed size
    ref: zipfile.ZipInfo | tarfile.TarInfo
    problem: str | None = None  # why a non-directory entry cannot be accepted at all


class _SizeBudget:
    """Adds up declared member sizes while the archive is listed, so a bomb is refused before reading."""

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self.entries = 0
        self.bytes = 0

    def add(self, name: str, size: int) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise _too_large([_archive_error(f"more than max_entries={self.limits.max_entries} entries")])
        self.bytes += size
        if self.bytes > self.limits.max_uncompressed_bytes:
            raise _too_large([_file_error(
                name, f"declared size {size} bytes takes the archive past "
                f"max_uncompressed_bytes={self.limits.max_uncompressed_bytes}")])


class _ZipArchive:
    def __init__(self, path: Path, limits: IngestLimits) -> None:
        self._zf = zipfile.ZipFile(path)
        try:
            budget = _SizeBudget(limits)
            self.entries = []
            for info in sorted(self._zf.infolist(), key=lambda i: i.header_offset):
                entry = self._entry(info)
                budget.add(info.filename, entry.size)
                self.entries.append(entry)
        except BaseException:
            self._zf.close()
            raise

    @staticmethod
    def _entry(info: zipfile.ZipInfo) -> _Entry:
        kind = stat.S_IFMT(info.external_attr >> 16)  # Unix mode bits, 0 when written elsewhere
        if info.is_dir() or kind == stat.S_IFDIR:
            return _Entry(info.filename, True, 0, info)
        problem = None
        if kind == stat.S_IFLNK:
            problem = "symbolic links are not allowed"
        elif kind not in (0, stat.S_IFREG):
            problem = "special files are not allowed"
        elif info.flag_bits & 0x1:
            problem = "encrypted entries are not supported"
        elif info.compress_type not in _ZIP_METHODS:
            problem = f"compression method {info.compress_type} is not supported (use deflate or store)"
        return _Entry(info.filename, False, info.file_size, info, problem)

    def read(self, entry: _Entry, limit: int) -> bytes:
        # zipfile silently stops at the declared size; declare "unbounded" so a member that inflates
        # further is noticed, while read() itself never produces more than `limit` bytes.
        info = copy.copy(entry.ref)
        info.file_size = sys.maxsize
        with self._zf.open(info) as f:
            return f.read(limit)

    def close(self) -> None:
        self._zf.close()


class _CappedStream:
    """Seekable read-only view of a decompressing stream that refuses to go past `cap` bytes."""

    def __init__(self, raw: gzip.GzipFile, cap: int) -> None:
        self._raw = raw
        self._cap = cap

    def _refuse(self) -> IngestError:
        return _too_large([_archive_error(f"the tar stream inflates past {self._cap} bytes")])

    def read(self, size: int = -1) -> bytes:
        room = self._cap - self._raw.tell()
        if 0 <= size <= room:
            return self._raw.read(size)
        data = self._raw.read(room + 1)
        if len(data) > room:
            raise self._refuse()
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR):
            raise io.UnsupportedOperation("seek from end")
        target = offset + (self._raw.tell() if whence == io.SEEK_CUR else 0)
        if target > self._cap:
            raise self._refuse()
        return self._raw.seek(target)

    def tell(self) -> int:
        return self._raw.tell()


class _TarArchive:
    def __init__(self, path: Path, gzipped: bool, limits: IngestLimits) -> None:
        self._file = open(path, "rb")
        try:
            stream = self._file
            if gzipped:
                cap = limits.max_uncompressed_bytes + _TAR_OVERHEAD_PER_ENTRY * (limits.max_entries + 2)
                stream = _CappedStream(gzip.GzipFile(fileobj=self._file), cap)
            self._tf = tarfile.open(fileobj=stream, mode="r:")
            budget = _SizeBudget(limits)
            self.entries = []
            # Check each header before next() skips over (and, for gzip, inflates) the member's data.
            for info in iter(self._tf.next, None):
                entry = self._entry(info)
                budget.add(info.name, entry.size)
                self.entries.append(entry)
            # tarfile stops quietly where a header is missing; a complete archive has its end marker there.
            # (A cut gzip stream fails on its own, and seeking back in it would inflate it all again.)
            if not gzipped:
                self._file.seek(self._tf.offset)
                if len(self._file.read(tarfile.BLOCKSIZE)) < tarfile.BLOCKSIZE:
                    raise tarfile.ReadError("the archive ends without its end-of-archive marker")
        except BaseException:
            self._file.close()
            raise

    @staticmethod
    def _entry(info: tarfile.TarInfo) -> _Entry:
        if info.isdir():
            return _Entry(info.name, True, 0, info)
        problem = None
        if info.issym() or info.islnk():
            problem = "symbolic and hard links are not allowed"
        elif not info.isreg():
            problem = "special files are not allowed"
        return _Entry(info.name, False, info.size if info.isreg() else 0, info, problem)

    def read(self, entry: _Entry, limit: int) -> bytes:
        f = self._tf.extractfile(entry.ref)
        assert f is not None  # regular files only
        return f.read(limit)

    def close(self) -> None:
        self._tf.close()
        self._file.close()


def _open_archive(path: Path, limits: IngestLimits) -> _ZipArchive | _TarArchive:
    with open(path, "rb") as f:
        head = f.read(512)
    try:
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            return _ZipArchive(path, limits)
        if head.startswith(b"\x1f\x8b"):
            return _TarArchive(path, True, limits)
        if head[257:262] == b"ustar":
            return _TarArchive(path, False, limits)
    except _READ_ERRORS as exc:
        raise _corrupt(f"the archive is corrupt or truncated: {exc}") from None
    raise _corrupt("not a zip, tar or tar.gz archive")


def _check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in ARCHIVE_CONTENT_TYPES and media_type not in _GENERIC_CONTENT_TYPES:
        msg = f"content type {media_type!r} is not an archive; upload a zip, tar or tar.gz"
        raise IngestError("unsupported_media_type", "Unsupported media type", msg,
                          [{"loc": ["header", "content-type"], "msg": msg}])


def _split_path(name: str) -> tuple[str, ...] | str:
    """The path's components, or why the path is unsafe."""
    if "\\" in name:
        return "backslashes are not allowed in paths"
    if any(ord(c) < 32 for c in name):
        return "control characters are not allowed in paths"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute paths are not allowed"
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        return "'..' is not allowed in paths"
    return parts


def _is_ignored(parts: tuple[str, ...]) -> bool:
    if parts == ("manifest.csv",):  # a generated batch's manifest: batches upload again as datasets
        return True
    if len(parts) == 3 and parts[0] == MASKS_FOLDER:  # a translate batch's masks/<class>/<file>
        return True
    return "__MACOSX" in parts or any(p.startswith(".") for p in parts) or parts[-1].lower() in _IGNORED_FILES


@dataclass
class _Planned:
    entry: _Entry
    class_name: str
    basename: str
    image_format: str


def _plan(entries: Iterable[_Entry]) -> dict[str, list[_Planned]]:
    """Map class name -> its images, or raise a "bad_layout" IngestError listing every entry that breaks the
    layout rules."""
    errors: list[dict] = []
    kept: list[tuple[_Entry, tuple[str, ...]]] = []
    seen: set[tuple[str, ...]] = set()
    for entry in entries:
        parts = _split_path(entry.name)
        if isinstance(parts, str):
            errors.append(_file_error(entry.name, parts))
        elif not parts or _is_ignored(parts):
            continue
        elif entry.problem:
            errors.append(_file_error(entry.name, entry.problem))
        elif not entry.is_dir and parts in seen:
            errors.append(_file_error(entry.name, "the archive holds this path more than once"))
        else:
            seen.add(parts)
            kept.append((entry, parts))

    # A single wrapper folder (e.g. "NEU-DET/<class>/<file>") is stripped, but not a lone class folder.
    if len({parts[0] for _, parts in kept}) == 1 and any(
        not entry.is_dir and len(parts) > 2 for entry, parts in kept
    ):
        kept = [(entry, parts[1:]) for entry, parts in kept if len(parts) > 1]

    classes: dict[str, list[_Planned]] = {}
    for entry, parts in kept:
        if entry.is_dir:
            if len(parts) == 1:
                classes.setdefault(parts[0], [])
            else:
                errors.append(_file_error(entry.name, "folders nest deeper than <class>/<file>"))
        elif len(parts) == 1:
            errors.append(_file_error(entry.name, "file is not inside a class folder"))
        elif len(parts) > 2:
            errors.append(_file_error(entry.name, "file nests deeper than <class>/<file>"))
        elif (fmt := _FORMATS.get(PurePosixPath(parts[1]).suffix.lower())) is None:
            expected = ", ".join(_FORMATS)
            errors.append(_file_error(entry.name, f"unsupported file type; expected one of {expected}"))
        else:
            classes.setdefault(parts[0], []).append(_Planned(entry, parts[0], parts[1], fmt))
    if errors:
        detail = f"{len(errors)} entries break the layout rules"
        raise IngestError("bad_layout", "Invalid archive layout", detail, errors)
    return classes


def _check_classes(classes: dict[str, list[_Planned]], limits: IngestLimits) -> None:
    errors: list[dict] = []
    if len(classes) < max(1, limits.min_classes):
        found = ", ".join(sorted(classes)) or "none"
        errors.append(_archive_error(f"found {len(classes)} class folder(s) ({found}); "
                                     f"at least min_classes={limits.min_classes} needed"))
    for name, items in sorted(classes.items()):
        if len(name) > NAME_MAX_LENGTH or not re.fullmatch(NAME_PATTERN, name):
            errors.append({"loc": ["class", name], "msg": f"a class name has at most {NAME_MAX_LENGTH} characters "
                                                          "and no control characters"})
        elif not items:
            errors.append({"loc": ["class", name], "msg": "class folder holds no images"})
        elif len(items) < limits.min_images_per_class:
            errors.append({"loc": ["class", name], "msg": f"{len(items)} image(s); at least "
                           f"min_images_per_class={limits.min_images_per_class} needed"})
    if errors:
        raise IngestError("bad_layout", "Invalid dataset", errors[0]["msg"], errors)


def _safe_stem(name: str) -> str:
    return _UNSAFE_CHARS.sub("_", name).strip("._-")[:100] or "image"


class _UniqueNames:
    """Hands out names unique ignoring case (case-insensitive file systems): x, x_2, x_3, ..."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = {name.lower() for name in taken}
        self._next: dict[str, int] = {}

    def __call__(self, stem: str) -> str:
        n = self._next.get(stem.lower(), 1)
        while (name := stem if n == 1 else f"{stem}_{n}").lower() in self._taken:
            n += 1
        self._next[stem.lower()] = n + 1
        self._taken.add(name.lower())
        return name


class _BadImage(Exception):
    def __init__(self, reason: IngestReason, msg: str) -> None:
        super().__init__(msg)
        self.reason = reason


@dataclass
class _Decoded:
    width: int
    height: int
    mode: str
    sha256: str


def _to_l_or_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "L":
        return im
    if im.mode in ("1", "LA", "La"):
        return im.convert("L")
    if im.mode.startswith("I"):  # 16/32-bit integer grayscale: keep the top 8 bits of a 16-bit range
        return Image.fromarray((np.clip(np.asarray(im), 0, 65535) >> 8).astype(np.uint8), "L")
    if im.mode == "F":
        return Image.fromarray(np.clip(np.asarray(im), 0, 255).astype(np.uint8), "L")
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    red, green, blue = rgb.split()
    red_bytes = red.tobytes()
    return red if red_bytes == green.tobytes() == blue.tobytes() else rgb


def _normalise(data: bytes, image_format: str, max_pixels: int, out: Path) -> _Decoded:
    try:
        # Image.open only parses the header: check the pixel count before anything is decoded.
        with Image.open(io.BytesIO(data), formats=(image_format,)) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise _BadImage("too_large", f"{width}x{height} pixels exceeds max_image_pixels={max_pixels}")
            if width * height == 0:
                raise _BadImage("corrupt", "image has no pixels")
            im.verify()
        decoded = Image.open(io.BytesIO(data), formats=(image_format,))
        decoded.load()
        im = _to_l_or_rgb(decoded)
    except _BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _BadImage("too_large", str(exc)) from None
    except Image.UnidentifiedImageError:
        raise _BadImage("corrupt", f"not a {image_format} image, as its extension claims") from None
    except Exception as exc:  # Pillow signals malformed input with many exception types
        raise _BadImage("corrupt", f"not a valid {image_format} image ({type(exc).__name__}: {exc})") from None
    digest = hashlib.sha256(f"{im.mode} {width}x{height}\n".encode())
    digest.update(im.tobytes())
    plain = _plain_png(data, im.mode) if im is decoded and image_format == "PNG" else None
    if plain is not None:
        out.write_bytes(plain)
    else:
        # Level 1 with the RLE strategy: the filtered rows of camera textures are noise that LZ77 matching
        # rarely shortens, so this is about 2x faster than the default (level 6) for about the same size.
        im.save(out, "PNG", compress_level=1, compress_type=zlib.Z_RLE)
    return _Decoded(width, height, im.mode, digest.hexdigest())


def _plain_png(data: bytes, mode: str) -> bytes | None:
    """The PNG cut down to IHDR, IDAT and IEND, if its pixels are already 8-bit L/RGB, not interlaced.

    Such a file is already normal apart from metadata chunks; keeping its compressed pixel stream
    (just decoded and CRC-checked) avoids re-encoding, which costs about twice the decode.
    """
    if data[12:16] != b"IHDR":
        return None
    depth, color_type, interlace = data[24], data[25], data[28]
    if depth != 8 or interlace != 0 or color_type != {"L": 0, "RGB": 2}[mode]:
        return None
    chunks, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        kind, end = data[pos + 4:pos + 8], pos + 12 + int.from_bytes(data[pos:pos + 4], "big")
        if kind == b"acTL":  # animated: the decoded frame need not be the IDAT image
            return None
        if kind in (b"IHDR", b"IDAT", b"IEND"):
            chunks.append(data[pos:end])
        if kind == b"IEND":
            return b"".join(chunks)
        pos = end
    return None


def _align_pillow_limit(max_pixels: int) -> None:
    # Image.open raises DecompressionBombError past 2 * MAX_IMAGE_PIXELS before our own check can run;
    # keep Pillow's limit at least ours so ours decides (its error is still "too_large", as a backstop).
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _decode_all(
    archive: _ZipArchive | _TarArchive,
    classes: dict[str, list[_Planned]],
    workdir: Path,
    limits: IngestLimits,
) -> list[IngestedImage]:
    workdir.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    try:
        return _decode_into(archive, classes, workdir, limits, created)
    except BaseException:
        for class_dir in created:
            shutil.rmtree(class_dir, ignore_errors=True)
        raise


def _decode_into(
    archive: _ZipArchive | _TarArchive,
    classes: dict[str, list[_Planned]],
    workdir: Path,
    limits: IngestLimits,
    created: list[Path],
) -> list[IngestedImage]:
    dir_names = _UniqueNames(p.name for p in workdir.iterdir())
    targets: dict[int, tuple[_Planned, str, Path]] = {}
    for class_name, items in sorted(classes.items()):
        class_dir = workdir / dir_names(_safe_stem(class_name))
        class_dir.mkdir()
        created.append(class_dir)
        file_names = _UniqueNames()
        for item in sorted(items, key=lambda i: i.basename):
            filename = file_names(_safe_stem(PurePosixPath(item.basename).stem)) + ".png"
            targets[id(item.entry)] = (item, filename, class_dir / filename)

    errors: list[tuple[IngestReason, dict]] = []
    images: list[IngestedImage] = []
    pending: dict[Future[_Decoded], tuple[_Planned, str, Path]] = {}

    def collect(futures: Iterable[Future[_Decoded]]) -> None:
        for future in futures:
            item, filename, out = pending.pop(future)
            try:
                d = future.result()
            except _BadImage as exc:
                errors.append((exc.reason, _file_error(item.entry.name, str(exc))))
                continue
            images.append(IngestedImage(
                class_name=item.class_name, filename=filename, path=out, sha256=d.sha256, width=d.width,
                height=d.height, mode=d.mode, source=item.entry.name))

    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for entry in archive.entries:  # archive order: sequential reads
            if id(entry) not in targets:
                continue
            item, filename, out = targets[id(entry)]
            try:
                # One byte past the declared size is enough to catch a lying header. Declared sizes add up
                # to at most max_uncompressed_bytes, so the bytes actually read stay within it too.
                data = archive.read(entry, entry.size + 1)
            except _READ_ERRORS as exc:
                errors.append(("corrupt", _file_error(entry.name, f"cannot be read from the archive: {exc}")))
                continue
            if len(data) > entry.size:
                pool.shutdown(cancel_futures=True)
                msg = f"inflates past its declared size of {entry.size} bytes (a decompression bomb?)"
                raise _too_large([_file_error(entry.name, msg)])
            if len(data) < entry.size:
                errors.append(("corrupt", _file_error(entry.name, f"truncated: {len(data)} of {entry.size} bytes")))
                continue
            future = pool.submit(_normalise, data, item.image_format, limits.max_image_pixels, out)
            pending[future] = (item, filename, out)
            if len(pending) >= 4 * workers:  # bounds the memory held by read but undecoded members
                collect(wait(pending, return_when=FIRST_COMPLETED).done)
        collect(list(pending))
    if errors:
        too_large = any(reason == "too_large" for reason, _ in errors)  # outranks "corrupt"
        reason: IngestReason = "too_large" if too_large else "corrupt"
        title = "Image too large" if too_large else "Invalid image"
        errors.sort(key=lambda e: e[1]["loc"][1])
        raise IngestError(reason, title, f"{len(errors)} file(s) rejected", [e for _, e in errors])
    return images


def _summarise(images: list[IngestedImage]) -> IngestResult:
    images.sort(key=lambda i: (i.class_name, i.filename))
    classes: dict[str, int] = {}
    for image in images:
        classes[image.class_name] = classes.get(image.class_name, 0) + 1
    set_hash = hashlib.sha256("\n".join(sorted(f"{i.class_name}\0{i.sha256}" for i in images)).encode())
    return IngestResult(
        images=images,
        classes=classes,
        image_mode="L" if all(i.mode == "L" for i in images) else "RGB",
        min_size=(min(i.width for i in images), min(i.height for i in images)),
        max_size=(max(i.width for i in images), max(i.height for i in images)),
        sha256=set_hash.hexdigest(),
        num_duplicates=len(images) - len({i.sha256 for i in images}),
    )


def ingest_archive(
    path: Path, workdir: Path, limits: IngestLimits, content_type: str | None = None
) -> IngestResult:
    """Validate the archive at `path` and write its images as normalised PNGs under `workdir`.

    Raises IngestError with reason "unsupported_media_type": wrong content type; "corrupt": not an archive,
    corrupt, or an undecodable image; "too_large": too many entries or bytes, or an image over
    max_image_pixels; "bad_layout": unsafe or misplaced entries and class folders that are empty, too few or
    too small.
    """
    _check_content_type(content_type)
    _align_pillow_limit(limits.max_image_pixels)
    archive = _open_archive(Path(path), limits)
    try:
        classes = _plan(archive.entries)
        _check_classes(classes, limits)
        images = _decode_all(archive, classes, Path(workdir), limits)
    finally:
        archive.close()
    return _summarise(images)
