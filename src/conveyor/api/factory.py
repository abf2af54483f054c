"""Import-string factory for uvicorn's multi-process mode (``--workers N``)."""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.api.allocator import fix_mmap_threshold
from conveyor.api.app import create_app
from conveyor.settings import Settings


def app_from_env() -> FastAPI:
    fix_mmap_threshold()  # in each worker process, which uvicorn starts afresh
    return create_app(Settings())
