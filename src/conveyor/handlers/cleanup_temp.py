"""``cleanup_temp``: delete old files under the configured root, and nowhere else.

The walk uses directory file descriptors and never follows a symlink, so a link (or
a directory swapped for one mid-walk) cannot lead a deletion outside the root.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from conveyor.handlers.base import Handler, parse_params, resolve
from conveyor.handlers.config import HandlerSettings
from conveyor.worker.context import HandlerError, TaskContext


class CleanupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(default=".", min_length=1, max_length=4096)
    older_than_seconds: int = Field(ge=0)
    pattern: str = Field(default="*", min_length=1, max_length=255)
    dry_run: bool = False


@dataclass
class Tally:
    deleted: int = 0
    bytes: int = 0
    skipped: int = 0
    errors: int = 0


def confine(root: Path, path: str) -> Path:
    """The real path of ``path`` (relative to root or absolute), if it lies inside root."""
    real_root = root.resolve()
    candidate = Path(path)
    target = (candidate if candidate.is_absolute() else real_root / candidate).resolve()
    if target != real_root and not target.is_relative_to(real_root):
        raise HandlerError(
            f"{path!r} is outside the cleanup root", retryable=False, code="path_not_allowed"
        )
    return target


def _consider(name: str, dir_fd: int, p: CleanupParams, cutoff: float, tally: Tally) -> None:
    if not fnmatch.fnmatch(name, p.pattern):
        return
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        # Symlinks, sockets, fifos: not ours to judge by age; leave them.
        tally.skipped += 1
        return
    if info.st_mtime > cutoff:
        tally.skipped += 1
        return
    if not p.dry_run:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return
        except OSError:
            tally.errors += 1
            return
    tally.deleted += 1
    tally.bytes += info.st_size


def sweep(target: Path, p: CleanupParams, now: float) -> Tally:
    tally = Tally()
    cutoff = now - p.older_than_seconds
    if not target.exists():
        return tally
    if not target.is_dir():
        parent_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _consider(target.name, parent_fd, p, cutoff, tally)
        finally:
            os.close(parent_fd)
        return tally
    for _dirpath, dirnames, filenames, dir_fd in os.fwalk(target, follow_symlinks=False):
        # fwalk lists symlinks to directories under dirnames but does not enter them.
        names = filenames + [d for d in dirnames if _is_link(d, dir_fd)]
        for name in names:
            _consider(name, dir_fd, p, cutoff, tally)
    return tally


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def make_cleanup_temp(settings: HandlerSettings | None = None) -> Handler:
    async def cleanup_temp(params: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        p = parse_params(CleanupParams, params)
        cfg = resolve(settings)
        target = confine(cfg.cleanup_root, p.path)
        await ctx.progress({"stage": "scanning", "path": str(target)})
        tally = await asyncio.to_thread(sweep, target, p, time.time())
        await ctx.progress({"stage": "done", "percent": 100})
        return {
            "deleted": tally.deleted,
            "bytes": tally.bytes,
            "skipped": tally.skipped,
            "errors": tally.errors,
            "dry_run": p.dry_run,
        }

    return cleanup_temp
