"""``conveyor db``: schema migrations."""

from __future__ import annotations

import asyncio

import typer

from conveyor.cli.server_deps import require_server
from conveyor.settings import Settings

app = typer.Typer(help="Database schema commands.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    require_server("db upgrade")
    from conveyor.store.database import Database
    from conveyor.store.migrate import current_revision
    from conveyor.store.migrate import upgrade as run_upgrade

    async def run() -> str | None:
        db = Database(Settings().database_url)
        try:
            await run_upgrade(db, revision)
            return await current_revision(db)
        finally:
            await db.dispose()

    typer.echo(f"database at revision {asyncio.run(run())}")


@app.command("current")
def current() -> None:
    """Print the schema revision the database is at."""
    require_server("db current")
    from conveyor.store.database import Database
    from conveyor.store.migrate import current_revision

    async def run() -> str | None:
        db = Database(Settings().database_url)
        try:
            return await current_revision(db)
        finally:
            await db.dispose()

    typer.echo(asyncio.run(run()) or "empty")
