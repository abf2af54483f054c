"""``alembic upgrade head`` must build exactly what the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from conveyor.settings import normalise_database_url
from conveyor.store.database import Database
from conveyor.store.migrate import current_revision
from conveyor.store.schema import metadata

# Indexes on an expression (``priority DESC``) cannot be compared by autogenerate
# (it can only guess their signature); their presence is checked by name instead.
EXPRESSION_INDEXES = {"ix_tasks_claimable", "ix_tasks_pending_order", "ix_tasks_job_pending"}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def _diff(connection: Any) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": _include}
    )
    return list(compare_metadata(context, metadata))


def _task_indexes(connection: Any) -> set[str]:
    return {ix["name"] for ix in inspect(connection).get_indexes("tasks")}


async def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(normalise_database_url(database_url))
    try:
        assert await current_revision(db) is not None
        async with db.read() as conn:
            differences = await conn.run_sync(_diff)
            indexes = await conn.run_sync(_task_indexes)
    finally:
        await db.dispose()
    assert differences == []
    assert indexes >= EXPRESSION_INDEXES
