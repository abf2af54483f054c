"""Unpacking checked bundles into read-only folders the sandbox binds as its code.

Each bundle is unpacked once per worker, checked again here (domain/bundles.py;
the worker trusts no archive it did not check itself), into a fresh folder that is
renamed into place whole. Files are root's and world-readable, folders
world-traversable: the sandbox uid reads them and cannot change them. The least
recently used bundles are removed past ``max_entries``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from conveyor.domain.bundles import (
    BundleError,
    BundleInfo,
    BundleLimits,
    check_bundle,
    check_member,
    entry_point,
)

COPY_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    info: BundleInfo

    def entry(self, runtime: str, entry: str | None) -> str:
        return entry_point(self.info, runtime, entry)


class BundleStore:
    def __init__(self, root: Path, limits: BundleLimits, max_entries: int) -> None:
        self.root = root
        self.limits = limits
        self.max_entries = max_entries
        self._bundles: OrderedDict[str, Bundle] = OrderedDict()
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o711)

    def get(self, key: str) -> Bundle | None:
        bundle = self._bundles.get(key)
        if bundle is not None:
            self._bundles.move_to_end(key)
        return bundle

    def add(self, key: str, name: str, data: bytes) -> Bundle:
        """Check and unpack ``data``; raises ``BundleError`` for a bundle that breaks a rule."""
        info = check_bundle(name, data, self.limits)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".unpack-"))
        try:
            if info.kind == "zip":
                _unpack_zip(data, staging, self.limits)
            else:
                (staging / info.files[0]).write_bytes(data)
            _make_readable(staging)
            final = Path(tempfile.mkdtemp(dir=self.root, prefix="b-"))
            final.rmdir()
            staging.rename(final)
        except OSError as exc:
            # e.g. a file and a folder of the same name
            shutil.rmtree(staging, ignore_errors=True)
            raise BundleError(f"the bundle cannot be unpacked: {exc}") from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        bundle = Bundle(final, info)
        self._bundles[key] = bundle
        self._evict()
        return bundle

    def _evict(self) -> None:
        while len(self._bundles) > self.max_entries:
            _, old = self._bundles.popitem(last=False)
            # A chunk still running from it keeps its bind mount; the folder goes.
            shutil.rmtree(old.path, ignore_errors=True)


def _unpack_zip(data: bytes, target: Path, limits: BundleLimits) -> None:
    budget = limits.max_unpacked_bytes
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            member = check_member(info, limits)
            path = target / member
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, path.open("xb") as out:
                while chunk := source.read(COPY_CHUNK):
                    budget -= len(chunk)
                    if budget < 0:
                        raise BundleError("the zip unpacks to more than allowed")
                    out.write(chunk)


def _make_readable(root: Path) -> None:
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
