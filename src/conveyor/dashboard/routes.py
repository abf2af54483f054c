"""``GET /`` and ``/dashboard/static/…``: the dashboard page and its assets.

The page holds no server-side state: it is static files that call ``/api/v1`` with
the signed-in user's bearer token, so it needs nothing the API does not already
check. Only the files found under ``static/`` (subfolders such as ``views/``
included) at start are served, by their exact path relative to it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from conveyor.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/dashboard/static"

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Read once: a path is served only if it is one of these files, so no path a client
# sends (``..``, encoded slashes, symlinks added later) can reach anything else on disk.
ASSETS: dict[str, str] = {
    path.relative_to(STATIC_DIR).as_posix(): MEDIA_TYPES[path.suffix]
    for path in sorted(STATIC_DIR.rglob("*"))
    if path.is_file() and path.suffix in MEDIA_TYPES
}

# ``default-src 'self'`` forbids inline scripts and styles, so a string that slips
# into the page as markup still cannot run. The rest closes what ``default-src``
# does not cover: plugins, ``<base>`` hijacking, framing (clickjacking), form targets.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Task ids in the page must not leak to other sites through the Referer header.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/")
async def dashboard_page() -> FileResponse:
    # no-cache: after an upgrade the page must match the assets the server now has.
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=headers
    )


@router.get(STATIC_PREFIX + "/{name:path}")
async def dashboard_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no dashboard asset named {name}")
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=headers)
