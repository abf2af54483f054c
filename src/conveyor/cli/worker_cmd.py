"""``conveyor worker``: run handlers from an importable module as a node."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from conveyor.cli import output
from conveyor.worker.app import Worker
from conveyor.worker.config import WorkerConfig, seed_001_settings
from conveyor.worker.runner import run_worker


def load_worker(spec: str | None, builtin: bool, *, allow_empty: bool = False) -> Worker:
    """``module``, ``module:attribute``: a Worker, or a mapping of task type -> handler."""
    worker = Worker()
    if spec:
        # Like ``python -m``: modules next to where the command runs are importable.
        sys.path.insert(0, os.getcwd())
        module_name, _, attribute = spec.partition(":")
        module = importlib.import_module(module_name)
        target: Any = getattr(module, attribute) if attribute else _find_target(module)
        if isinstance(target, Worker):
            worker = target
        elif isinstance(target, Mapping):
            worker.include(target)
        else:
            raise typer.BadParameter(f"{spec} is neither a Worker nor a mapping of handlers")
    if builtin:
        from conveyor.handlers import build_handlers

        for task_type, handler in build_handlers().items():
            if task_type not in worker.handlers:
                worker.add(task_type, handler)
    if not worker.handlers and not allow_empty:
        raise typer.BadParameter("no handlers: name a module, pass --builtin or --sandbox")
    return worker


def _find_target(module: Any) -> Any:
    for name in ("worker", "HANDLERS", "handlers"):
        if hasattr(module, name):
            return getattr(module, name)
    for value in vars(module).values():
        if isinstance(value, Worker):
            return value
    raise typer.BadParameter(f"{module.__name__} has no Worker (name it `worker`)")


def worker(
    module: Annotated[
        str | None, typer.Argument(help="module[:attribute] holding a Worker or handlers")
    ] = None,
    node_id: Annotated[str | None, typer.Option(envvar="CONVEYOR_NODE_ID")] = None,
    secret: Annotated[
        str | None,
        typer.Option(envvar="CONVEYOR_NODE_SECRET", help="prefer the environment variable"),
    ] = None,
    server: Annotated[str | None, typer.Option(envvar="CONVEYOR_SERVER_URL")] = None,
    builtin: Annotated[bool, typer.Option("--builtin", help="add the built-in handlers")] = False,
    concurrency: Annotated[int | None, typer.Option(help="tasks run at once")] = None,
    prefetch: Annotated[
        int | None, typer.Option(help="most tasks claimed ahead of free slots (default 32)")
    ] = None,
    prefetch_seconds: Annotated[
        float | None,
        typer.Option(help="expected work held ahead per slot, in seconds (default 0.1)"),
    ] = None,
    sync_mode: Annotated[str | None, typer.Option(help="thread or process")] = None,
    grace: Annotated[float | None, typer.Option(help="seconds to finish on SIGTERM")] = None,
    poll_wait: Annotated[float | None, typer.Option(help="long-poll seconds")] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="also run customer code (task type conveyor.sandbox) in the sandbox; "
            "CONVEYOR_SANDBOX_* configure it (docs/sandbox.md)",
        ),
    ] = False,
    marketplace: Annotated[
        bool,
        typer.Option(
            "--marketplace",
            help="run customer code for anyone's jobs as a node of your own (your saved "
            "login, no node secret), and show what it earns; implies --sandbox",
        ),
    ] = False,
) -> None:
    """Run a worker until SIGTERM/SIGINT (then finish running tasks and release the rest).

    Seed 001's WORKER_ID, API_BASE, POLL_INTERVAL and HEARTBEAT_INTERVAL (ms) are
    read where the options and CONVEYOR_* variables do not say."""
    from conveyor.observability.logging import configure_logging

    try:
        seed = seed_001_settings(os.environ)
    except ValueError as exc:
        output.fail(str(exc), output.USAGE, False)
    explicit_server = server or seed.get("server_url")
    overrides: dict[str, Any] = {
        "node_id": node_id,
        "node_secret": secret,
        "server_url": server,
        "concurrency": concurrency,
        "prefetch": prefetch,
        "prefetch_seconds": prefetch_seconds,
        "sync_mode": sync_mode,
        "grace_seconds": grace,
        "poll_wait_seconds": poll_wait,
    }
    try:
        config = WorkerConfig(**{**seed, **{k: v for k, v in overrides.items() if v is not None}})
    except ValidationError as exc:
        # A bad CONVEYOR_* value (CONVEYOR_LOG_JSON=maybe): a usage error, not a traceback.
        output.fail(str(exc), output.USAGE, False)
    configure_logging(config.log_level, config.log_json)
    if marketplace:
        from conveyor.cli.marketplace import marketplace_server

        if module or builtin:
            output.fail(
                "--marketplace runs customer code only: drop the module and --builtin",
                output.USAGE,
                False,
            )
        handlers = load_worker(None, False, allow_empty=True)
        asyncio.run(_run_with_sandbox(handlers, config, marketplace_server(explicit_server)))
        return
    if not config.node_id or config.node_secret is None:
        output.fail(
            "a node id and secret are needed: --node-id and CONVEYOR_NODE_SECRET",
            output.USAGE,
            False,
        )
    handlers = load_worker(module, builtin, allow_empty=sandbox)
    if sandbox:
        asyncio.run(_run_with_sandbox(handlers, config))
    else:
        asyncio.run(run_worker(handlers, config))


async def _advertise(config: WorkerConfig, runtimes: list[str]) -> None:
    """Tell the server which runtimes this node's sandbox runs (its runtime labels)."""
    from conveyor.client.async_client import AsyncClient
    from conveyor.client.errors import ConveyorClientError

    assert config.node_id and config.node_secret is not None
    secret = config.node_secret.get_secret_value()
    async with AsyncClient(config.server_url, node_id=config.node_id, secret=secret) as client:
        try:
            labels = await client.advertise_runtimes(runtimes)
        except ConveyorClientError as exc:
            # An older server, or one unreachable yet: the labels stay as they are.
            text = f"sandbox: runtime labels not advertised: {exc}"
            output.notice(
                config.log_json, text, "runtime labels not advertised", "warning", error=str(exc)
            )
            return
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    text = f"node {config.node_id} labels: {shown}"
    output.notice(config.log_json, text, "node labels", node_id=config.node_id, labels=labels)


async def _run_with_sandbox(
    handlers: Worker, config: WorkerConfig, marketplace_server: str | None = None
) -> None:
    """Probe the sandbox, then run; as the user's marketplace node if a server is given."""
    from conveyor.worker.sandbox import Sandbox, SandboxConfig, SandboxUnavailable
    from conveyor.worker.sandbox.handler import install, runtime_labels

    try:
        box = await Sandbox.open(SandboxConfig())
    except SandboxUnavailable as exc:
        output.fail(str(exc), output.USAGE, False)
    try:
        install(handlers, box)
        available = runtime_labels(box.available)
        labels = ", ".join(f"{k}={v}" for k, v in available.items())
        text = f"sandbox ({box.config.mode}) runs: {labels}"
        output.notice(
            config.log_json, text, "sandbox ready", mode=box.config.mode, labels=available
        )
        for runtime, why in box.runtimes.items():
            if why is not None:
                text = f"sandbox: {runtime} unavailable: {why}"
                output.notice(
                    config.log_json, text, "sandbox runtime unavailable", runtime=runtime, why=why
                )
        if marketplace_server is None:
            await _advertise(config, box.available)
            await run_worker(handlers, config)
        else:
            from conveyor.cli.marketplace import run_marketplace

            await run_marketplace(
                handlers, config, marketplace_server, runtime_labels(box.available)
            )
    finally:
        box.close()
