"""Upload and download artifacts from worker code or scripts.

Takes an already-authenticated ``httpx.AsyncClient`` whose base URL ends in
``/api/v1``; this module never logs in and never sees a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class ArtifactError(Exception):
    """The server refused an artifact call; ``code`` is the API's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    id: str
    name: str
    content_type: str
    size: int
    sha256: str


def _ref(body: dict[str, Any]) -> ArtifactRef:
    return ArtifactRef(
        id=str(body["id"]),
        name=str(body["name"]),
        content_type=str(body["content_type"]),
        size=int(body["size"]),
        sha256=str(body["sha256"]),
    )


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    code, message = "http_error", response.reason_phrase
    try:
        error = response.json().get("error", {})
        code = str(error.get("code", code))
        message = str(error.get("message", message))
    except (ValueError, AttributeError):
        pass
    raise ArtifactError(response.status_code, code, message)


class AsyncArtifactClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def upload(
        self, name: str, data: bytes, content_type: str, task_id: str | None = None
    ) -> ArtifactRef:
        form = {"task_id": task_id} if task_id is not None else None
        response = await self.http.post(
            "artifacts", files={"file": (name, data, content_type)}, data=form
        )
        _raise_for(response)
        return _ref(response.json())

    async def info(self, artifact_id: str) -> ArtifactRef:
        response = await self.http.get(f"artifacts/{artifact_id}")
        _raise_for(response)
        return _ref(response.json())

    async def download(self, artifact_id: str) -> bytes:
        response = await self.http.get(f"artifacts/{artifact_id}/content")
        _raise_for(response)
        return response.content
