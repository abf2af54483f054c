"""Conveyor's API under granian instead of uvicorn, for ``bench/single.py --server granian``.

The same app, duties and settings as ``conveyor serve``; only the HTTP server
differs. granian is not a dependency of Conveyor: ``pip install "granian[uvloop]"``
into the virtualenv to run this.

    python bench/granian_serve.py --port 8080
"""

from __future__ import annotations

import argparse

from granian import Granian
from granian.constants import Interfaces, Loops

from conveyor.observability.logging import configure_logging
from conveyor.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    Granian(
        "conveyor.api.factory:app_from_env",
        factory=True,
        address="127.0.0.1",
        port=args.port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
