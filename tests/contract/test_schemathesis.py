"""The OpenAPI document against a real server: schemathesis with ``--checks all``.

One ``conveyor serve`` process on SQLite (PostgreSQL: see ``contract_database``);
every operation its ``/openapi.json`` lists (found there, so routes added later are
covered without a change here) is
run through schemathesis' coverage, fuzzing and stateful phases three times, with
a real node's, a real user's and a real admin's access token, in that order (the
admin run may rotate or delete the node). Any failure of any check fails the
test, which prints schemathesis' report: each failure with its curl reproduction.

No check is excluded. The server is configured only for speed: long polls end
after 0.2 s and argon2 hashes cheaply, so a few hundred examples per operation
fit in minutes; event streams are read for half a second (they never end on
their own) instead of the default ten.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conveyor.settings import normalise_database_url
from tests.server import Api, ServerProcess, process_settings

# Per operation and phase; 50 keeps the three runs near three minutes on two cores.
EXAMPLES = int(os.environ.get("CONVEYOR_CONTRACT_EXAMPLES", "50"))
ROLES = ("node", "user", "admin")
BACKEND = os.environ.get("CONVEYOR_CONTRACT_BACKEND", "sqlite")
REPO = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
STREAM_SECONDS = 0.5
FAST_SERVER = {
    "CONVEYOR_MAX_WAIT_SECONDS": "0.2",
    "CONVEYOR_ARGON2_MEMORY_KIB": "1024",
    "CONVEYOR_ARGON2_TIME_COST": "1",
    "CONVEYOR_SSE_KEEPALIVE_SECONDS": "0.2",
}


@dataclass
class ContractServer:
    server: ServerProcess
    tokens: dict[str, str]
    config: Path


@pytest.fixture(scope="module")
async def contract_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """SQLite by default; ``CONVEYOR_CONTRACT_BACKEND=postgres`` for a PostgreSQL one."""
    if BACKEND != "postgres":
        yield f"sqlite:///{tmp_path_factory.mktemp('contract-db')}/conveyor.db"
        return
    factory = request.getfixturevalue("postgres_factory")
    url: str = await factory.new()
    try:
        yield url
    finally:
        await factory.drop(url)


@pytest.fixture(scope="module")
async def contract_server(
    contract_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    data = tmp_path_factory.mktemp("contract")
    url = normalise_database_url(contract_database)
    server = ServerProcess(process_settings(url, data, **FAST_SERVER), log_path=data / "server.log")
    await server.start()
    api = Api(server.url)
    try:
        admin = await api.admin_headers()
        user = await api.user_headers("contract-user")
        await api.submit(user, task_type="contract")
        _, node = await api.new_node(admin, node_id="contract-node", task_types=["contract"])
        headers = {"admin": admin, "user": user, "node": node}
        document = (await api.http.get(server.url + "/openapi.json")).json()
        config = data / "schemathesis.toml"
        config.write_text(schemathesis_config(document))
        tokens = {role: h["Authorization"] for role, h in headers.items()}
        yield ContractServer(server, tokens, config)
    finally:
        await api.close()
        server.stop()


def event_stream_operations(document: dict[str, Any]) -> list[str]:
    """``METHOD /path`` of every operation answering with an event stream."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation.get("responses", {}).values()
            if any("text/event-stream" in r.get("content", {}) for r in responses):
                found.append(f"{method.upper()} {path}")
    return found


def multipart_operations(document: dict[str, Any]) -> list[str]:
    """``METHOD /path`` of every operation taking a multipart form."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}):
                found.append(f"{method.upper()} {path}")
    return found


def payment_operations(document: dict[str, Any]) -> list[str]:
    """``METHOD /path`` of every operation documenting ``402 Payment Required``."""
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "402" in operation.get("responses", {}):
                found.append(f"{method.upper()} {path}")
    return found


# Operations with rules across fields that JSON Schema cannot state without making
# the document unreadable, so a schema-valid body may rightly get 400. Each says why.
CROSS_FIELD_RULES = {
    "POST /api/v1/jobs": "exactly one of items and dataset_artifact_id; code_artifact_id "
    "with runtime and without another task_type; chunks x price_per_chunk within 64 bits",
}


# Schemathesis' defaults for its two data checks, each with 413 added (see below).
NEGATIVE_STATUSES = (
    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"),
    "5xx",
)
POSITIVE_STATUSES = ("2xx", "3xx", "401", "403", "404", "409", "413", "429")


def statuses(base: tuple[str, ...], *extra: str) -> str:
    """A TOML list of ``base`` and ``extra`` status codes, in order."""
    return "[" + ", ".join(f'"{code}"' for code in sorted({*base, *extra})) + "]"


def schemathesis_config(document: dict[str, Any]) -> str:
    lines = ["[generation]", 'database = "none"', ""]
    # Every operation sits behind the edge layer's body limit (api/edge.py), which no
    # schema states: a generated body over it (the fuzzer builds multi-megabyte
    # ones) rightly gets 413, valid or not. Schemathesis' own lists plus that one.
    lines += ["[checks.negative_data_rejection]"]
    lines += [f"expected-statuses = {statuses(NEGATIVE_STATUSES)}", ""]
    lines += ["[checks.positive_data_acceptance]"]
    lines += [f"expected-statuses = {statuses(POSITIVE_STATUSES)}", ""]
    for name in event_stream_operations(document):
        lines += ["[[operations]]", f'include-name = "{name}"']
        lines += [f"request-timeout = {STREAM_SECONDS}", ""]
    # The one documented false positive: a multipart file part is bytes, so the
    # "negative" file schemathesis makes by changing its type (an object, a number)
    # goes out as the bytes "{}" or "0", a perfectly good file, which the server
    # rightly stores. Every other check still runs on these operations.
    # And the converse: a file's content has rules no schema states (a code bundle
    # must be a sound zip or source file, domain/bundles.py), so a schema-valid
    # upload may rightly get 400 invalid_bundle.
    for name in multipart_operations(document):
        lines += ["[[operations]]", f'include-name = "{name}"']
        lines += ["[operations.checks.negative_data_rejection]", "enabled = false"]
        lines += ["[operations.checks.positive_data_acceptance]"]
        lines += [f"expected-statuses = {statuses(POSITIVE_STATUSES, '400')}"]
        lines += [""]
    # A schema-valid request can still find the balance short: a documented 402,
    # like the 409 schemathesis already expects of a valid request meeting state.
    for name in payment_operations(document):
        if name in CROSS_FIELD_RULES:
            continue  # allowed below, 402 included
        lines += ["[[operations]]", f'include-name = "{name}"']
        lines += ["[operations.checks.positive_data_acceptance]"]
        lines += [f"expected-statuses = {statuses(POSITIVE_STATUSES, '402')}"]
        lines += [""]
    for name in CROSS_FIELD_RULES:
        lines += ["[[operations]]", f'include-name = "{name}"']
        lines += ["[operations.checks.positive_data_acceptance]"]
        lines += [f"expected-statuses = {statuses(POSITIVE_STATUSES, '400', '402')}", ""]
    return "\n".join(lines)


def run_schemathesis(contract: ContractServer, role: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        str(SCHEMATHESIS),
        "--config-file",
        str(contract.config),
        "--no-color",
        "run",
        f"{contract.server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "2",
        "--header",
        f"Authorization: {contract.tokens[role]}",
        "--output-truncate",
        "false",
        # A generator health check, not a check of the server: building negative
        # cases for bodies holding ``JsonValue`` (recursive, every JSON type
        # allowed) throws many drafts away, and hypothesis calls that too slow.
        # Every check still runs on every case that is sent.
        "--suppress-health-check",
        "filter_too_much",
    ]
    # Run where its crash files (``.schemathesis/``) land beside the server's data.
    cwd = contract.config.parent
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("role", ROLES)
async def test_every_operation_keeps_its_contract(contract_server: Any, role: str) -> None:
    contract: ContractServer = contract_server
    started = asyncio.get_running_loop().time()
    result = await asyncio.to_thread(run_schemathesis, contract, role)
    elapsed = asyncio.get_running_loop().time() - started
    report = result.stdout + result.stderr
    print(f"schemathesis as {role}: exit {result.returncode} in {elapsed:.0f} s")
    print(report[-6000:])
    async with httpx.AsyncClient() as client:
        alive = (await client.get(contract.server.url + "/healthz")).status_code == 200
    assert alive, f"the server died: {contract.server.stderr_tail()}"
    assert result.returncode == 0, (
        f"schemathesis as {role} found failures (reproductions below):\n{report}\n"
        f"server log:\n{contract.server.stderr_tail(4000)}"
    )
    assert " passed" in report and "failures" not in report.splitlines()[-1], report[-2000:]
