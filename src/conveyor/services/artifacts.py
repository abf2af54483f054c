"""Artifacts: files a user or a node uploads, optionally attached to a task.

Who may see one: its uploader, admins, and whoever may see the task it is attached
to (the task's owner and the node holding it). Anyone else is told it does not exist.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from conveyor.artifacts.storage import ArtifactStorage, LocalArtifactStorage, StoredBlob
from conveyor.domain.access import Principal, can_view_task
from conveyor.domain.bundles import BundleError, BundleLimits, check_bundle
from conveyor.domain.states import Role
from conveyor.domain.tasks import Task
from conveyor.errors import InvalidInput, NotFound, PayloadTooLarge
from conveyor.services.runtime import Runtime
from conveyor.settings import Settings
from conveyor.store import artifacts as artifact_store
from conveyor.store import tasks as task_store
from conveyor.store.artifacts import Artifact

MAX_NAME = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# type/subtype with optional parameters; anything else could smuggle header syntax.
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*$")
# What an upload is for; "code" bundles are checked (domain/bundles.py) before they are kept.
PURPOSES = ("code",)


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    content_type: str | None
    task_id: str | None = None
    purpose: str | None = None


# A node rarely holds more open tasks than this; inputs beyond it are not found.
HELD_SCAN_LIMIT = 1000


def can_view_artifact(who: Principal, artifact: Artifact, task: Task | None) -> bool:
    if who.is_admin or artifact.owner_id == who.id:
        return True
    return task is not None and can_view_task(who, task)


def named_by_held_task(artifact: Artifact, held: list[Task]) -> bool:
    """A node may read an input its owner handed it: an artifact of the task's owner
    that the params of a task the node holds name (e.g. ``{"artifact_id": …}``)."""
    return any(
        t.owner_id == artifact.owner_id and artifact.id in json.dumps(t.params) for t in held
    )


def clean_name(name: str) -> str:
    # Browsers send full paths sometimes; only the last part is a file name.
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())
    if not base or base in {".", ".."}:
        raise InvalidInput(
            "the file needs a name", details=[{"field": "file", "message": "missing filename"}]
        )
    return base[:MAX_NAME]


def clean_content_type(value: str | None) -> str:
    if not value:
        return DEFAULT_CONTENT_TYPE
    value = value.strip()
    if len(value) > MAX_NAME or not _CONTENT_TYPE.match(value):
        raise InvalidInput(
            "invalid content type",
            details=[{"field": "content_type", "message": "expected type/subtype"}],
        )
    return value


def bundle_limits(settings: Settings) -> BundleLimits:
    return BundleLimits(
        max_bytes=min(settings.code_bundle_max_bytes, settings.artifact_max_bytes),
        max_unpacked_bytes=settings.code_bundle_max_unpacked_bytes,
        max_entries=settings.code_bundle_max_entries,
        max_ratio=settings.code_bundle_max_ratio,
    )


def _bad_bundle(message: str) -> InvalidInput:
    return InvalidInput(
        f"invalid code bundle: {message}",
        code="invalid_bundle",
        details=[{"field": "file", "message": message}],
    )


class ArtifactService:
    def __init__(self, rt: Runtime, storage: ArtifactStorage | None = None) -> None:
        self.rt = rt
        self.storage = storage or LocalArtifactStorage(rt.settings.data_dir / "artifacts")

    async def upload(
        self, who: Principal, upload: Upload, data: bytes | AsyncIterable[bytes]
    ) -> Artifact:
        name = clean_name(upload.name)
        content_type = clean_content_type(upload.content_type)
        if upload.purpose is not None and upload.purpose not in PURPOSES:
            raise InvalidInput(
                "unknown purpose",
                details=[{"field": "purpose", "message": f"one of {', '.join(PURPOSES)}"}],
            )
        if upload.task_id is not None:
            async with self.rt.db.read() as conn:
                task = await task_store.get_task(conn, upload.task_id)
            if task is None or not can_view_task(who, task):
                raise NotFound(f"task {upload.task_id} not found")
        artifact_id = str(uuid.uuid4())
        # The bytes are written before the row, outside any transaction, so a slow
        # upload never holds a database write lock; a failed insert removes them.
        blob = await self._store(artifact_id, name, upload.purpose, data)
        artifact = Artifact(
            id=artifact_id,
            owner_id=who.id,
            task_id=upload.task_id,
            name=name,
            content_type=content_type,
            size=blob.size,
            sha256=blob.sha256,
            created_at=self.rt.clock.now(),
        )
        try:
            async with self.rt.db.write() as conn:
                return await artifact_store.insert_artifact(conn, artifact)
        except BaseException:
            await self.storage.delete(artifact_id)
            raise

    async def _store(
        self, artifact_id: str, name: str, purpose: str | None, data: bytes | AsyncIterable[bytes]
    ) -> StoredBlob:
        settings = self.rt.settings
        if purpose != "code":
            return await self.storage.put(artifact_id, data, settings.artifact_max_bytes)
        limits = bundle_limits(settings)
        try:
            blob = await self.storage.put(artifact_id, data, limits.max_bytes)
        except PayloadTooLarge as exc:
            raise _bad_bundle(f"the bundle is larger than {limits.max_bytes} bytes") from exc
        try:
            content = await self.storage.read(artifact_id)
            await asyncio.to_thread(check_bundle, name, content, limits)
        except BundleError as exc:
            await self.storage.delete(artifact_id)
            raise _bad_bundle(str(exc)) from exc
        except BaseException:
            await self.storage.delete(artifact_id)
            raise
        return blob

    async def get(self, who: Principal, artifact_id: str) -> Artifact:
        async with self.rt.db.read() as conn:
            artifact = await artifact_store.get_artifact(conn, artifact_id)
            task = None
            if artifact is not None and artifact.task_id is not None:
                task = await task_store.get_task(conn, artifact.task_id)
            visible = artifact is not None and can_view_artifact(who, artifact, task)
            if artifact is not None and not visible and who.role is Role.NODE:
                held = await task_store.assigned_to(conn, who.id, HELD_SCAN_LIMIT)
                visible = named_by_held_task(artifact, held)
        if artifact is None or not visible:
            raise NotFound(f"artifact {artifact_id} not found")
        return artifact

    async def for_task(self, who: Principal, task_id: str) -> list[Artifact]:
        """The artifacts attached to a task, for whoever may see the task (a task they
        may not see is not found, as everywhere)."""
        async with self.rt.db.read() as conn:
            task = await task_store.get_task(conn, task_id)
            if task is None or not (who.is_admin or can_view_task(who, task)):
                raise NotFound(f"task {task_id} not found")
            return await artifact_store.list_task_artifacts(conn, task_id)

    async def content(
        self, who: Principal, artifact_id: str
    ) -> tuple[Artifact, AsyncIterator[bytes]]:
        artifact = await self.get(who, artifact_id)
        return artifact, self.storage.open(artifact.id)
