"""Zip archives built for the bundle tests, hostile ones included."""

from __future__ import annotations

import io
import stat
import zipfile


def make_zip(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def zip_bomb(unpacked_mib: int) -> bytes:
    """One entry of zeros: deflate shrinks it about a thousandfold."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("main.py", b"def process(items):\n    return items\n")
        with archive.open("zeros.bin", "w", force_zip64=True) as out:
            block = b"\0" * (1024 * 1024)
            for _ in range(unpacked_mib):
                out.write(block)
    return buffer.getvalue()
