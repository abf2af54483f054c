"""``conveyor demo``: see the whole system work in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.server_deps import require_server


def demo(
    data_dir: Annotated[Path, typer.Option(help="where the demo keeps its data")] = Path(
        "conveyor-data"
    ),
    port: Annotated[int, typer.Option(help="preferred port (a free one if taken)")] = 8080,
    exit_after_summary: Annotated[
        bool, typer.Option("--exit-after-summary", help="stop after the summary (for scripts)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    timeout: Annotated[float, typer.Option(help="give up on the batch after")] = 120.0,
) -> None:
    """Start the server on SQLite, two workers, a mixed batch of tasks; watch it live."""
    require_server("demo")
    from conveyor.demo.scenario import DemoOptions, free_port, run_demo

    options = DemoOptions(data_dir, free_port(port), exit_after_summary, as_json, timeout)
    raise typer.Exit(run_demo(options))
