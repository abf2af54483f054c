"""Where artifact bytes live. Metadata is in the database; this holds only blobs by key.

Keys are server-generated uuids, never names a client chose, so a key can never
walk out of the storage root.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from conveyor.errors import NotFound, PayloadTooLarge

CHUNK_BYTES = 64 * 1024
_KEY = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f-]{36}$")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    size: int
    sha256: str


class ArtifactStorage(Protocol):
    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], max_bytes: int | None = None
    ) -> StoredBlob:
        """Store the bytes under ``key``; refuse (and keep nothing) past ``max_bytes``."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The stored bytes, chunk by chunk."""
        ...

    async def read(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


async def _chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(data, bytes):
        for start in range(0, len(data), CHUNK_BYTES):
            yield data[start : start + CHUNK_BYTES]
        return
    async for chunk in data:
        yield chunk


class LocalArtifactStorage:
    """Blobs as files under ``root``; each write lands whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a storage key: {key!r}")
        # Two levels of fan-out keep any one directory small.
        return self.root / key[:2] / key

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], max_bytes: int | None = None
    ) -> StoredBlob:
        final = self._path(key)
        await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
        temp = final.parent / f".{key}.{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            with temp.open("wb") as out:
                async for chunk in _chunks(data):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PayloadTooLarge(f"the artifact is over {max_bytes} bytes")
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(os.fsync, out.fileno())
            # A rename is atomic: readers see the old state or the whole new file.
            await asyncio.to_thread(os.replace, temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return StoredBlob(size=size, sha256=digest.hexdigest())

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise NotFound("artifact content is missing") from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def read(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.open(key)])

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)
