"""The install shapes, checked: ``pip install conveyor`` (SDK, worker, CLI) must work
without the ``conveyor[server]`` extra, so those parts never import its libraries."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "conveyor"

# Import names of the packages only the `server` extra installs (pyproject.toml).
SERVER_ONLY = (
    "fastapi",
    "fastapi_offline",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "jwt",
    "argon2",
    "redis",
    "sse_starlette",
    "prometheus_client",
    "multipart",
    "python_multipart",
    "psutil",
    "ijson",
)
# What a worker machine runs. The CLI's server commands import the server lazily.
SDK_FOLDERS = ("client", "worker", "handlers")
SDK_ENTRY_POINTS = (
    "conveyor.client",
    "conveyor.client.pushkit",
    "conveyor.worker",
    "conveyor.handlers",
    "conveyor.cli.main",
)


# Starlette (the push kit) imports python-multipart if it is installed, and does
# without it: loaded here, where the server is installed too, it is no dependency.
OPTIONAL_FOR_STARLETTE = ("multipart", "python_multipart")


def _is_server_only(name: str, libraries: tuple[str, ...] = SERVER_ONLY) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in libraries)


def _all_imports(path: Path) -> set[str]:
    """Every absolute import in the file, those inside functions too."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_sdk_and_worker_never_name_a_server_library() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(n for n in _all_imports(path) if _is_server_only(n))
        for folder in SDK_FOLDERS
        for path in (PACKAGE / folder).rglob("*.py")
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert not offenders, f"server-only libraries in the SDK: {offenders}"


def test_importing_the_sdk_and_the_cli_loads_no_server_library() -> None:
    # A fresh interpreter: this one has loaded the server already (conftest).
    probe = (
        "import importlib, json, sys\n"
        f"for name in {SDK_ENTRY_POINTS!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    required = tuple(lib for lib in SERVER_ONLY if lib not in OPTIONAL_FOR_STARLETTE)
    loaded = [name for name in json.loads(result.stdout) if _is_server_only(name, required)]
    assert not loaded, f"importing {SDK_ENTRY_POINTS} loaded {sorted(loaded)}"
