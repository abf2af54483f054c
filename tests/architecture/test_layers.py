"""The architecture, checked: each library stays in the layer that owns it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "conveyor"

# library -> folders of the package allowed to import it
OWNERS = {
    "sqlalchemy": {"store"},
    "alembic": {"store"},
    "asyncpg": {"store", "realtime"},
    "fastapi": {"api", "dashboard"},
    "starlette": {"api", "dashboard", "client"},
}
# The SDK (client, worker runtime, handlers, push kit) runs on worker machines: it
# must not pull in the server.
SDK_FOLDERS = ("client", "worker", "handlers", "demo")
SDK_FORBIDDEN = ("conveyor.store", "conveyor.services", "conveyor.api", "conveyor.duties")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_libraries_stay_in_their_layer(library: str) -> None:
    offenders = []
    for path in _modules():
        layer = path.relative_to(PACKAGE).parts[0]
        uses = any(n == library or n.startswith(library + ".") for n in _imports(path))
        if uses and layer not in OWNERS[library]:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert not offenders, f"{library} imported outside {OWNERS[library]}: {offenders}"


def test_domain_is_pure() -> None:
    for path in (PACKAGE / "domain").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith(
                ("conveyor.store", "conveyor.services", "conveyor.api", "httpx", "redis")
            ), f"{path.name} imports {name}"


def test_sdk_does_not_import_the_server() -> None:
    paths = [p for folder in SDK_FOLDERS for p in (PACKAGE / folder).rglob("*.py")]
    assert paths, "the SDK folders exist"
    for path in paths:
        bad = [n for n in _imports(path) if n.startswith(SDK_FORBIDDEN)]
        assert not bad, f"{path.name} imports {bad}"


def test_no_file_grows_past_five_hundred_lines() -> None:
    long = [
        str(p.relative_to(PACKAGE)) for p in _modules() if len(p.read_text().splitlines()) > 500
    ]
    assert not long, f"split these: {long}"
