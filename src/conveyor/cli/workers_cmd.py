"""``conveyor workers N [worker options]``: N ``conveyor worker`` processes, kept running."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from conveyor.worker.launcher import Launcher, LauncherConfig

SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def workers(
    ctx: typer.Context,
    count: Annotated[int, typer.Argument(min=1, max=256, help="worker processes to run")],
    grace: Annotated[
        float, typer.Option(help="seconds each worker gets to finish on SIGTERM")
    ] = 30.0,
    max_backoff: Annotated[
        float, typer.Option(help="longest wait before restarting a dying worker")
    ] = 30.0,
) -> None:
    """Start N workers (every other option goes to each `conveyor worker`), prefix their
    output with \\[wN], restart those that die, stop all on Ctrl-C/SIGTERM.

    The workers share the node credentials (CONVEYOR_NODE_ID/_SECRET): they are
    processes of one node, whose max_concurrency bounds them together. With
    --marketplace they enroll one after another as your own node and share it.
    """
    config = LauncherConfig(
        count=count,
        worker_args=list(ctx.args),
        grace_seconds=grace,
        max_backoff_seconds=max_backoff,
    )
    raise typer.Exit(asyncio.run(Launcher(config).run()))
