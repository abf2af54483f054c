"""Artifact metadata rows. The bytes themselves live in ``conveyor.artifacts``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.store.schema import artifacts


@dataclass(frozen=True, slots=True)
class Artifact:
    id: str
    owner_id: str
    task_id: str | None
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


def _artifact(row: RowMapping) -> Artifact:
    return Artifact(
        id=row["id"],
        owner_id=row["owner_id"],
        task_id=row["task_id"],
        name=row["name"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        created_at=row["created_at"],
    )


async def insert_artifact(conn: AsyncConnection, artifact: Artifact) -> Artifact:
    await conn.execute(
        insert(artifacts).values(
            id=artifact.id,
            owner_id=artifact.owner_id,
            task_id=artifact.task_id,
            name=artifact.name,
            content_type=artifact.content_type,
            size=artifact.size,
            sha256=artifact.sha256,
            created_at=artifact.created_at,
        )
    )
    return artifact


async def get_artifact(conn: AsyncConnection, artifact_id: str) -> Artifact | None:
    stmt = select(artifacts).where(artifacts.c.id == artifact_id)
    row = (await conn.execute(stmt)).mappings().first()
    return _artifact(row) if row else None


async def list_task_artifacts(conn: AsyncConnection, task_id: str) -> list[Artifact]:
    stmt = (
        select(artifacts)
        .where(artifacts.c.task_id == task_id)
        .order_by(artifacts.c.created_at, artifacts.c.id)
    )
    return [_artifact(row) for row in (await conn.execute(stmt)).mappings()]


async def delete_artifact(conn: AsyncConnection, artifact_id: str) -> bool:
    result = await conn.execute(delete(artifacts).where(artifacts.c.id == artifact_id))
    return bool(result.rowcount)
