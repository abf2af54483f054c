"""``/redoc``: ReDoc from the bundled assets, with a policy that keeps it offline.

Swagger UI at ``/docs`` comes whole from fastapi-offline. Its ReDoc page would
still fetch ReDoc's logo from cdn.redoc.ly; this page is the same ReDoc, and its
``Content-Security-Policy`` lets it load nothing from anywhere but this server.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from starlette.responses import HTMLResponse

ASSETS_URL = "/docs-assets"
# ReDoc styles itself at run time (inline styles) and parses the spec in a worker.
REDOC_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; font-src 'self' data:"
)


def add_redoc(app: FastAPI, path: str = "/redoc") -> None:
    @app.get(path, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = REDOC_POLICY
        return page
