"""Import-string factory for uvicorn's multi-process mode (``--workers N``)."""

from __future__ import annotations

from fastapi import FastAPI

from conveyor.api.app import create_app
from conveyor.settings import Settings


def app_from_env() -> FastAPI:
    return create_app(Settings())
