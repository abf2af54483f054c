"""The nine hostile payloads against the sandbox API, in both runtimes and both modes.

Each must be contained: the expected error (or a result showing it got nowhere),
no process of it left behind, and the same sandbox serving a good chunk next.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conveyor.worker.sandbox import Chunk, Sandbox, SandboxError
from tests.sandbox.conftest import assert_no_sandbox_processes, sandbox_processes
from tests.sandbox.payloads import (
    CPU_SPIN,
    FILE_NAMES,
    FORK_BOMB,
    GOOD,
    GOOD_RESULT,
    HUGE_FILE,
    INFINITE_LOOP,
    KILL_PARENT,
    MEMORY_HOG,
    NETWORK,
    SNOOP,
    WRITE_OUTSIDE,
    Payload,
)
from tests.server import wait_until

RUNTIMES = ["python", "node"]
FAILING = [FORK_BOMB, MEMORY_HOG, INFINITE_LOOP, CPU_SPIN, HUGE_FILE]
FAKE_TOKEN = "cvy_fake_token_7f3a9c1e"


async def run(sandbox: Sandbox, payload: Payload, runtime: str, items: list[Any]) -> Any:
    source = payload.sources[runtime].encode()
    bundle = sandbox.bundles.add(f"{payload.name}-{runtime}", FILE_NAMES[runtime], source)
    return await sandbox.run(Chunk(runtime, bundle, None, items))


async def still_serves(sandbox: Sandbox, runtime: str) -> None:
    await assert_no_sandbox_processes()
    assert await run(sandbox, GOOD, runtime, GOOD.items) == GOOD_RESULT


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("payload", FAILING, ids=lambda p: p.name)
async def test_failing_payload_is_contained(
    sandbox: Sandbox, payload: Payload, runtime: str, mode: str
) -> None:
    if payload is INFINITE_LOOP and mode == "rlimit":
        pytest.skip("the wall clock is the same code in both modes; once is enough")
    with pytest.raises(SandboxError) as caught:
        await run(sandbox, payload, runtime, payload.items)
    assert payload.codes is not None
    assert caught.value.code in payload.codes, (caught.value.code, str(caught.value))
    await still_serves(sandbox, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_network_is_unreachable(bwrap_sandbox: Sandbox, runtime: str) -> None:
    accepted: list[object] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        got = await run(bwrap_sandbox, NETWORK, runtime, [port])
        # The same connection from outside the sandbox works: the server is up.
        await asyncio.open_connection("127.0.0.1", port)
    assert got["connected"] is False, got
    assert len(accepted) == 1, "only our own probe connection arrived"
    await still_serves(bwrap_sandbox, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_worker_secrets_are_out_of_reach(
    sandbox: Sandbox, runtime: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_NODE_SECRET", FAKE_TOKEN)
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"token": FAKE_TOKEN}))
    credentials.chmod(0o600)
    got = await run(sandbox, SNOOP, runtime, [str(credentials), os.getpid()])
    assert FAKE_TOKEN not in json.dumps(got)
    assert not any(key.startswith("CONVEYOR_") for key in got["env"])
    assert got["credentials"].startswith("error:")
    assert got["worker_environ"].startswith("error:")
    assert got["uid"] != 0 and got["euid"] != 0
    await still_serves(sandbox, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_writes_land_only_in_the_private_tmpfs(
    bwrap_sandbox: Sandbox, runtime: str, tmp_path: Path
) -> None:
    tmp_path.chmod(0o777)  # writable by anyone: only the mount namespace hides it
    wrote = await run(bwrap_sandbox, WRITE_OUTSIDE, runtime, [str(tmp_path)])
    assert set(wrote) == {"/tmp/planted"}, wrote
    assert not (tmp_path / "planted").exists()
    assert not any(bwrap_sandbox.work_dir.rglob("planted"))
    await still_serves(bwrap_sandbox, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_killing_its_parent_hurts_only_itself(sandbox: Sandbox, runtime: str) -> None:
    try:
        got = await run(sandbox, KILL_PARENT, runtime, [os.getpid()])
    except SandboxError as exc:
        # kill(-1) may take the code itself down with the rest of its namespace
        assert exc.code == "sandbox_crashed", str(exc)
    else:
        assert got["worker"] != "sent", got
    await still_serves(sandbox, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_good_bundle_results_and_progress(sandbox: Sandbox, runtime: str) -> None:
    reports: list[dict[str, Any]] = []

    async def progress(data: dict[str, Any]) -> None:
        reports.append(data)

    bundle = sandbox.bundles.add(
        f"good-{runtime}", FILE_NAMES[runtime], GOOD.sources[runtime].encode()
    )
    assert await sandbox.run(Chunk(runtime, bundle, None, GOOD.items), progress) == GOOD_RESULT
    assert reports, "progress lines were relayed"
    assert reports[-1] == {"percent": 100, "message": "5 done"}


async def test_child_runs_as_an_unprivileged_uid(sandbox: Sandbox) -> None:
    source = b"import time\ndef process(items):\n    time.sleep(1.0)\n    return 1\n"
    bundle = sandbox.bundles.add("sleepy", "main.py", source)
    job = asyncio.create_task(sandbox.run(Chunk("python", bundle, None, [])))

    async def seen() -> list[int]:
        return [p.uids().real for p in sandbox_processes()]

    uids = await wait_until(seen, 5, "the child running")
    assert all(uid != 0 for uid in uids)
    assert await job == 1
