"""``cleanup_temp`` on a real directory tree: old files go, nothing outside the root does."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor.handlers import HandlerSettings, build_handlers
from conveyor.worker.context import HandlerError
from tests.handlers.conftest import make_run

DAY = 24 * 3600


def _file(path: Path, size: int, age_seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    _file(root / "old.tmp", 100, 3 * DAY)
    _file(root / "new.tmp", 10, 60)
    _file(root / "sub" / "old.log", 50, 3 * DAY)
    _file(root / "sub" / "deep" / "old.tmp", 7, 3 * DAY)
    _file(outside / "precious.tmp", 5, 30 * DAY)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "escape-file.tmp").symlink_to(outside / "precious.tmp")
    return root, outside


async def _run(root: Path, **params: Any) -> dict[str, Any]:
    handler = build_handlers(HandlerSettings(cleanup_root=root))["cleanup_temp"]
    return await handler(params, make_run("cleanup_temp").ctx)


async def test_deletes_only_old_files(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    result = await _run(root, older_than_seconds=DAY)
    assert result["deleted"] == 3 and result["bytes"] == 157
    assert sorted(p.name for p in root.rglob("*") if p.is_file() and not p.is_symlink()) == [
        "new.tmp"
    ]
    assert (outside / "precious.tmp").exists()
    assert (root / "escape-file.tmp").is_symlink()
    # new.tmp, the two links: seen and left alone.
    assert result["skipped"] == 3


async def test_pattern_subpath_and_dry_run(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    dry = await _run(root, path="sub", older_than_seconds=DAY, pattern="*.tmp", dry_run=True)
    assert dry["deleted"] == 1 and dry["bytes"] == 7 and dry["dry_run"]
    assert (root / "sub" / "deep" / "old.tmp").exists()
    real = await _run(root, path=str(root / "sub"), older_than_seconds=DAY, pattern="*.tmp")
    assert real["deleted"] == 1
    assert not (root / "sub" / "deep" / "old.tmp").exists()
    assert (root / "sub" / "old.log").exists()


@pytest.mark.parametrize("path", ["..", "../outside", "escape", "escape/precious.tmp", "/etc"])
async def test_refuses_paths_outside_the_root(tree: tuple[Path, Path], path: str) -> None:
    root, outside = tree
    with pytest.raises(HandlerError) as caught:
        await _run(root, path=path, older_than_seconds=0)
    assert caught.value.code == "path_not_allowed" and not caught.value.retryable
    assert (outside / "precious.tmp").exists()


async def test_bad_params() -> None:
    with pytest.raises(HandlerError) as caught:
        await _run(Path("."), older_than_seconds=-1, bogus=True)
    assert caught.value.code == "invalid_params"
    assert "older_than_seconds" in caught.value.message and "bogus" in caught.value.message
