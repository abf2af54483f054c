"""Customer code bundles: what an uploaded bundle may contain, checked without running it.

A bundle is a single source file (``.py`` or ``.js``) or a zip holding a tree of them.
The same rules run twice: on the server when the bundle is uploaded (so a bad one is
refused with 400 before any job names it) and on the worker before it unpacks one
(a worker trusts no archive it did not check itself).

A zip is refused when it could hurt whoever unpacks it: entries that climb out of
the target (``..``, absolute paths, drive letters, backslashes), symlinks and other
special files, encrypted entries, more entries or more unpacked bytes than allowed,
or an entry that expands far more than real code does (a zip bomb). Sizes are the
ones the archive declares; Python's ``zipfile`` never returns more bytes than an
entry declares, so an unpacker reading through it cannot be fooled past them.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
SOURCE_SUFFIXES = (".py", ".js", ".mjs", ".cjs")
# Entry points looked for in a zip when a task names none.
DEFAULT_ENTRIES = {"python": "main.py", "node": "main.js"}
READ_CHUNK = 64 * 1024
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


class BundleError(ValueError):
    """The bundle breaks a rule; the message says which, for the uploader to fix."""


@dataclass(frozen=True, slots=True)
class BundleLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_unpacked_bytes: int = 100 * 1024 * 1024
    max_entries: int = 2000
    # Source code compresses ~3-10x; deflate tops out near 1000x on pathological input.
    max_ratio: int = 200


@dataclass(frozen=True, slots=True)
class BundleInfo:
    kind: str  # "file" or "zip"
    files: tuple[str, ...]
    unpacked_bytes: int


def check_bundle(name: str, data: bytes, limits: BundleLimits) -> BundleInfo:
    """Check a bundle's bytes; raise ``BundleError`` saying what is wrong."""
    if len(data) > limits.max_bytes:
        raise BundleError(f"the bundle is {len(data)} bytes; at most {limits.max_bytes} allowed")
    if data.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return _check_zip(data, limits)
    return _check_file(name, data)


def _check_file(name: str, data: bytes) -> BundleInfo:
    if not name.endswith(SOURCE_SUFFIXES):
        raise BundleError(
            f"a code bundle is a zip or a single source file named *.py or *.js (got {name!r})"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"the source file is not UTF-8 text: {exc}") from exc
    return BundleInfo("file", (safe_member_name(name.rsplit("/", 1)[-1]),), len(data))


def _check_zip(data: bytes, limits: BundleLimits) -> BundleInfo:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise BundleError(f"the bundle is not a readable zip: {exc}") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise BundleError(f"the zip has {len(infos)} entries; at most {limits.max_entries}")
        files, total, seen = [], 0, set()
        for info in infos:
            member = check_member(info, limits)
            if member in seen:
                raise BundleError(f"the zip holds {member!r} twice")
            seen.add(member)
            total += info.file_size
            if total > limits.max_unpacked_bytes:
                raise BundleError(f"the zip unpacks to more than {limits.max_unpacked_bytes} bytes")
            if not info.is_dir():
                files.append(member)
        _verify_contents(archive, infos)
    if not files:
        raise BundleError("the zip holds no files")
    return BundleInfo("zip", tuple(sorted(files)), total)


def check_member(info: zipfile.ZipInfo, limits: BundleLimits) -> str:
    """The entry's safe relative name; raise if unpacking it could do harm."""
    member = safe_member_name(info.filename)
    mode = info.external_attr >> 16
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "a symlink" if stat.S_ISLNK(mode) else "a special file"
        raise BundleError(f"{member!r} is {kind}; only plain files and folders are allowed")
    if info.flag_bits & 0x1:
        raise BundleError(f"{member!r} is encrypted")
    if info.compress_type not in _METHODS:
        raise BundleError(f"{member!r} uses an unsupported compression method")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > 1024 * 1024 and ratio > limits.max_ratio:
        raise BundleError(
            f"{member!r} expands {ratio:.0f}x (at most {limits.max_ratio}x): a zip bomb?"
        )
    return member


def safe_member_name(raw: str) -> str:
    """A relative POSIX path with no way out of the folder it is unpacked into."""
    if not raw or "\\" in raw or "\x00" in raw or raw.startswith("/") or ":" in raw:
        raise BundleError(f"{raw!r} is not a safe relative path")
    path = PurePosixPath(raw)
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise BundleError(f"{raw!r} is not a safe relative path")
    return "/".join(parts)


def _verify_contents(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    # Reading every entry checks its CRC: a corrupt archive is refused at upload,
    # not on each worker. Bounded by the declared sizes already checked.
    for info in infos:
        if info.is_dir():
            continue
        try:
            with archive.open(info) as member:
                while member.read(READ_CHUNK):
                    pass
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as exc:
            raise BundleError(f"{info.filename!r} cannot be read: {exc}") from exc


def entry_point(info: BundleInfo, runtime: str, entry: str | None) -> str:
    """The file the runtime starts from: the one named, the single file, or the default."""
    if entry is not None:
        name = safe_member_name(entry)
        if name not in info.files:
            raise BundleError(f"the bundle has no entry point {name!r}")
        return name
    if info.kind == "file":
        return info.files[0]
    default = DEFAULT_ENTRIES.get(runtime)
    if default is None or default not in info.files:
        raise BundleError(f"the zip has no {default or 'entry point'}; name one with 'entry'")
    return default
