"""``conveyor serve``: the API server (uvicorn) with its periodic duties."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli.server_deps import require_server
from conveyor.settings import Settings


def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    no_duties: Annotated[
        bool, typer.Option("--no-duties", help="do not run periodic duties here")
    ] = False,
) -> None:
    """Start the API server. Configuration comes from CONVEYOR_* environment variables."""
    require_server("serve")
    import uvicorn

    from conveyor.api.allocator import fix_mmap_threshold
    from conveyor.api.app import create_app
    from conveyor.observability.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if workers > 1:
        # Each uvicorn worker imports the factory and builds its own app.
        uvicorn.run(
            "conveyor.api.factory:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            proxy_headers=False,
        )
        return
    fix_mmap_threshold()
    app = create_app(settings, run_duties=not no_duties)
    # uvicorn's own X-Forwarded-For handling (on for 127.0.0.1 by default) would
    # rewrite the client address before CONVEYOR_TRUSTED_PROXIES is consulted.
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False)
