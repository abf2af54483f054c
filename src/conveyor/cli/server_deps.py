"""The server's libraries are the ``conveyor[server]`` extra: a plain ``pip install
conveyor`` (the SDK and the worker) lacks them, and the commands that run the server
or touch its database say so instead of failing with an ImportError."""

from __future__ import annotations

import importlib.util

from conveyor.cli import output

# Import names of the extra's packages that those commands load first.
SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "argon2")
INSTALL_HINT = "pip install 'conveyor[server]'"


def missing_server_modules() -> list[str]:
    return [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]


def require_server(command: str) -> None:
    """Exit with a usage error naming the extra when the server is not installed."""
    missing = missing_server_modules()
    if missing:
        # Not escaped here: fail() shows its message as written ("[server]" included).
        output.fail(
            f"`conveyor {command}` needs the server, which is not installed here; "
            f"install conveyor[server]: {INSTALL_HINT} (missing: {', '.join(missing)})",
            output.USAGE,
            False,
            "server_not_installed",
        )
