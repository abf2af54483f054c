"""``conveyor worker --marketplace``: the user's own node, on the user's saved login.

The login is the one ``conveyor login`` saved (or ``CONVEYOR_TOKEN``). Processes
of one machine share it, and a refresh token works once (reusing a spent one
revokes the session), so every call made with it holds a lock on a file next to
it: load the tokens, call, save what the client ended with.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import SecretStr

from conveyor.cli import output
from conveyor.cli.session import Session, session_path
from conveyor.client.async_client import AsyncClient
from conveyor.client.errors import AuthenticationError, ConveyorClientError
from conveyor.worker.app import Worker
from conveyor.worker.config import WorkerConfig
from conveyor.worker.earnings import Earnings, MarketplaceRunner
from conveyor.worker.marketplace import (
    MarketplaceError,
    SecretFile,
    UserCall,
    default_node_id,
    enroll,
    file_lock,
)

T = TypeVar("T")


def session_call(server: str) -> UserCall[Any]:
    async def call(fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        async with file_lock(session_path().with_suffix(".lock")):
            session = Session.load(server)
            if not (session.access_token or os.environ.get("CONVEYOR_TOKEN")):
                raise MarketplaceError(
                    f"not logged in to {server}: run `conveyor login --server {server}` first"
                )
            async with session.client() as client:
                try:
                    return await fn(client)
                finally:
                    session.remember(client)

    return call


def marketplace_server(explicit: str | None) -> str:
    """The server named on the command line or in the environment, else the login's."""
    return explicit or Session.load(None).server_url


async def run_marketplace(
    handlers: Worker, config: WorkerConfig, server: str, runtime_labels: dict[str, str]
) -> None:
    call = session_call(server)
    node_id = config.node_id or default_node_id()
    secrets = SecretFile(session_path().parent / "marketplace-nodes.json")
    try:
        creds = await enroll(call, server, node_id, runtime_labels, secrets)
    except AuthenticationError:
        output.fail(
            f"the saved login for {server} is no longer valid: log in again", output.AUTH, False
        )
    except (MarketplaceError, ConveyorClientError) as exc:
        output.fail(str(exc), output.ERROR, False)
    labels = ", ".join(f"{k}={v}" for k, v in runtime_labels.items())
    text = f"marketplace node {creds.node_id} on {server} takes chunks of: {labels}"
    output.notice(
        config.log_json,
        text,
        "marketplace node ready",
        node_id=creds.node_id,
        server=server,
        labels=runtime_labels,
    )
    config = config.model_copy(
        update={
            "node_id": creds.node_id,
            "node_secret": SecretStr(creds.secret),
            "server_url": server,
        }
    )
    async with AsyncClient(server, node_id=creds.node_id, secret=creds.secret) as client:
        earnings = Earnings(call, as_log=config.log_json)
        runner = MarketplaceRunner(handlers, client, config, earnings=earnings)
        runner.install_signal_handlers()
        await runner.run()
