"""Seed-compatible API profiles (docs/compat.md), each enabled by a setting.

``CONVEYOR_COMPAT_PROFILES=000,001,002,003,004`` mounts the profiles named: 000 and
002 at their seeds' own paths, 001 under ``CONVEYOR_COMPAT_001_PREFIX`` (empty by
default: its paths are free), 003 and 004 under ``CONVEYOR_COMPAT_003_PREFIX`` and
``CONVEYOR_COMPAT_004_PREFIX`` (both seeds own ``/api/v1/tasks``, as we do).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware

from conveyor.api.compat import node_import, seed000, seed001, seed002, seed003, seed004
from conveyor.settings import Settings

KNOWN = ("000", "001", "002", "003", "004")


def _routers(settings: Settings) -> dict[str, tuple[APIRouter, str]]:
    return {
        "000": (seed000.router, ""),
        "001": (seed001.router, settings.compat_001_prefix.rstrip("/")),
        "002": (seed002.router, ""),
        "003": (seed003.router, settings.compat_003_prefix.rstrip("/")),
        "004": (seed004.router, settings.compat_004_prefix.rstrip("/") + "/api/v1/tasks"),
    }


def include_profiles(app: FastAPI, settings: Settings, api_prefix: str) -> None:
    """The native node import, and every profile the settings enable."""
    app.include_router(node_import.router, prefix=api_prefix)
    enabled = settings.compat_profile_set()
    unknown = enabled - set(KNOWN)
    if unknown:
        raise ValueError(f"unknown compat profiles {sorted(unknown)}; known: {', '.join(KNOWN)}")
    if "004" in enabled and settings.compat_004_api_key is None:
        raise ValueError("the 004 profile needs CONVEYOR_COMPAT_004_API_KEY (the seed has no auth)")
    for name, (router, prefix) in _routers(settings).items():
        if name in enabled:
            app.include_router(router, prefix=prefix)


def add_cors(app: FastAPI, settings: Settings) -> None:
    """CORS for the configured browser origins only (none by default)."""
    origins = settings.cors_origin_list()
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Retry-After", "RateLimit", "RateLimit-Policy"],
        )
