"""The dashboard's page and assets over plain HTTP: headers, and no inline code.

No browser needed, so these run wherever the server does.
"""

from __future__ import annotations

import re

from conveyor.dashboard.routes import STATIC_DIR
from tests.server import Api

# Ways a script turns a string into markup or code; the dashboard uses none.
MARKUP_SINKS = re.compile(
    r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function"
)
# The session's storage: its keys, and the Web Storage objects themselves.
STORAGE = re.compile(
    r"conveyor\.(access_token|refresh_token|role|username)|sessionStorage|localStorage"
)


async def test_the_page_has_security_headers_and_no_inline_code(server: Api) -> None:
    r = await server.http.get(server.base_url + "/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    html = r.text
    assert re.findall(r"<script\b[^>]*>", html) == [
        '<script type="module" src="/dashboard/static/app.js">'
    ]
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handlers"
    # Every module, views and later additions included, is served and checked.
    modules = [p.relative_to(STATIC_DIR).as_posix() for p in sorted(STATIC_DIR.rglob("*.js"))]
    assert {"app.js", "router.js", "views/tasks.js", "views/ops.js", "chart.js"} <= set(modules)
    for module in modules:
        asset = await server.http.get(server.base_url + "/dashboard/static/" + module)
        assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert not MARKUP_SINKS.search(asset.text), module
    for missing in (
        "routes.py",
        "..%2Froutes.py",
        "../routes.py",
        "views/../../routes.py",
        "views/%2e%2e/%2e%2e/routes.py",
        "index.html.bak",
        "views/",
        "views/nope.js",
        "/etc/passwd",
    ):
        gone = await server.http.get(server.base_url + "/dashboard/static/" + missing)
        assert gone.status_code == 404, missing


def test_only_the_session_module_touches_token_storage() -> None:
    """session.js owns the tokens: every other module calls it (api, apiFetch,
    apiBlob), so refresh on 401 and the error shape are handled in one place."""
    session = STATIC_DIR / "session.js"
    assert STORAGE.search(session.read_text(encoding="utf-8"))
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.suffix not in {".js", ".html"} or path == session:
            continue
        found = STORAGE.search(path.read_text(encoding="utf-8"))
        assert not found, f"{path.relative_to(STATIC_DIR)} reads {found.group(0)} itself"
