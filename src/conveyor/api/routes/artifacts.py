"""``/artifacts``: upload a file, list a task's, read its metadata, download its bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from conveyor.api.deps import AnyPrincipal, ServicesDep
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.params import Id
from conveyor.api.schemas.common import ID_PATTERN, OPTIONAL_ID_PATTERN
from conveyor.services.artifacts import ArtifactService, Upload
from conveyor.settings import Settings
from conveyor.store.artifacts import Artifact

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/artifacts",
    tags=["artifacts"],
    responses=error_responses(401, 404),
)

UPLOAD_PATH = "/artifacts"
CHUNK_BYTES = 256 * 1024
# Room for the multipart framing around the file: the file's own size is checked
# exactly while it is stored.
MULTIPART_SLACK_BYTES = 64 * 1024


def upload_body_limit(settings: Settings) -> int:
    return settings.artifact_max_bytes + MULTIPART_SLACK_BYTES


class ArtifactOut(BaseModel):
    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    task_id: str | None
    owner_id: str
    created_at: datetime

    @classmethod
    def of(cls, artifact: Artifact) -> ArtifactOut:
        return cls(
            id=artifact.id,
            name=artifact.name,
            content_type=artifact.content_type,
            size=artifact.size,
            sha256=artifact.sha256,
            task_id=artifact.task_id,
            owner_id=artifact.owner_id,
            created_at=artifact.created_at,
        )


def artifact_service(request: Request, services: ServicesDep) -> ArtifactService:
    # Built on first use and kept: the service holds the storage handle.
    service: ArtifactService | None = getattr(request.app.state, "artifacts", None)
    if service is None:
        service = ArtifactService(services.rt)
        request.app.state.artifacts = service
    return service


ArtifactsDep = Annotated[ArtifactService, Depends(artifact_service)]


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await file.read(CHUNK_BYTES):
        yield chunk


def content_disposition(name: str) -> str:
    # An ASCII fallback for old clients plus the exact UTF-8 name (RFC 6266).
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.post("", status_code=201, responses=error_responses(400, 413))
async def upload(
    who: AnyPrincipal,
    service: ArtifactsDep,
    file: Annotated[UploadFile, File()],
    # FastAPI reads an empty form field as absent, so the pattern admits "".
    task_id: Annotated[str | None, Form(pattern=OPTIONAL_ID_PATTERN)] = None,
    # "code": a customer code bundle, checked at upload (domain/bundles.py).
    purpose: Annotated[Literal["code"] | None, Form()] = None,
) -> ArtifactOut:
    """Upload one file (multipart field ``file``), optionally attached to a task.

    ``purpose=code`` marks a code bundle: a ``.py``/``.js`` file or a zip, checked
    (size, zip bombs, unsafe paths, symlinks) and refused with 400 if it breaks a rule.
    """
    meta = Upload(
        name=file.filename or "",
        content_type=file.content_type,
        task_id=task_id,
        purpose=purpose,
    )
    try:
        return ArtifactOut.of(await service.upload(who, meta, _chunks(file)))
    finally:
        await file.close()


class ArtifactList(BaseModel):
    artifacts: list[ArtifactOut]


@router.get("")
async def list_for_task(
    task_id: Annotated[str, Query(pattern=ID_PATTERN, description="the task they belong to")],
    who: AnyPrincipal,
    service: ArtifactsDep,
) -> ArtifactList:
    """The artifacts attached to one task, oldest first."""
    found = await service.for_task(who, task_id)
    return ArtifactList(artifacts=[ArtifactOut.of(a) for a in found])


@router.get("/{artifact_id}")
async def info(artifact_id: Id, who: AnyPrincipal, service: ArtifactsDep) -> ArtifactOut:
    return ArtifactOut.of(await service.get(who, artifact_id))


@router.get("/{artifact_id}/content", response_class=StreamingResponse)
async def content(artifact_id: Id, who: AnyPrincipal, service: ArtifactsDep) -> StreamingResponse:
    artifact, chunks = await service.content(who, artifact_id)
    headers = {
        "Content-Disposition": content_disposition(artifact.name),
        "Content-Length": str(artifact.size),
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{artifact.sha256}"',
    }
    return StreamingResponse(chunks, media_type=artifact.content_type, headers=headers)
