"""The VM install's systemd units, run: their ExecStartPre/ExecStart lines (install
paths mapped into a temporary directory, port 8080 to a free one) bring up a server
on PostgreSQL and Redis and a worker that runs a task; each stops on its KillSignal
within its TimeoutStopSec. ``systemd-analyze verify`` checks the files."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.units import UnitRun, read_environment_file
from tests.deploy.variables import read_by
from tests.server import Api, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
CONVEYOR = Path(sys.executable).parent / "conveyor"


def _layout(tmp_path: Path, port: int) -> dict[str, str]:
    mapped = {
        "/opt/conveyor/bin/conveyor": str(CONVEYOR),
        "/etc/conveyor": str(tmp_path / "etc"),
        "/var/lib/conveyor-worker": str(tmp_path / "worker-state"),
        "/var/lib/conveyor": str(tmp_path / "state"),
        "8080": str(port),
    }
    for folder in ("etc", "worker-state", "state"):  # StateDirectory= creates these
        (tmp_path / folder).mkdir()
    return mapped


def _write_env(example: str, target: Path, **changes: str) -> dict[str, str]:
    values = read_environment_file(UNITS / example)
    assert set(changes) <= set(values), f"{example} lacks {set(changes) - set(values)}"
    values.update(changes)
    target.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return values


def _base_env(home: Path) -> dict[str, str]:
    # What systemd hands a service: no inherited shell environment.
    return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(home)}


async def _run_pre(unit: UnitRun, env: dict[str, str]) -> None:
    for argv in unit.argv("ExecStartPre", env):
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=unit.one("WorkingDirectory"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, f"{argv}: {err.decode()[-2000:]}"
        if argv[1:3] == ["db", "upgrade"]:
            assert out.startswith(b"database at revision "), out


async def _start(unit: UnitRun, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    (argv,) = unit.argv("ExecStart", env)
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=unit.one("WorkingDirectory"), stdout=out, stderr=out
        )


async def _stop(unit: UnitRun, proc: asyncio.subprocess.Process, log: Path) -> None:
    proc.send_signal(getattr(signal, unit.one("KillSignal")))
    timeout = float(unit.one("TimeoutStopSec"))
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"not stopped within TimeoutStopSec={timeout:g}") from None
    # uvicorn re-raises the SIGTERM it handled; the worker exits 0.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


async def _task(api: Api, headers: dict[str, str], task_id: str) -> Any:
    response = await api.http.get(f"/tasks/{task_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.postgres
@pytest.mark.redis
async def test_units_start_a_server_and_a_worker(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    paths = _layout(tmp_path, port)
    server_values = _write_env(
        "server.env.example",
        tmp_path / "etc" / "server.env",
        CONVEYOR_DATABASE_URL=postgres_url,
        CONVEYOR_REDIS_URL=redis_url,
    )
    server = UnitRun(UNITS / "conveyor-server.service", paths)
    server_env = server.environment(_base_env(tmp_path / "state"))
    await _run_pre(server, server_env)  # conveyor db upgrade
    server_log = tmp_path / "server.log"
    server_proc = await _start(server, server_env, server_log)
    api = Api(f"http://127.0.0.1:{port}")
    worker_proc = None
    try:

        async def ready() -> bool:
            assert server_proc.returncode is None, server_log.read_text()[-3000:]
            try:
                return (await api.http.get(api.base_url + "/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ready, 60, "the server unit to answer /readyz")
        body = (await api.http.get(api.base_url + "/readyz")).json()
        assert body["rate_limits"] == "shared", body  # CONVEYOR_REDIS_URL was read

        admin = await api.login(
            server_values["CONVEYOR_ADMIN_USERNAME"], server_values["CONVEYOR_ADMIN_PASSWORD"]
        )
        headers = {"Authorization": f"Bearer {admin['access_token']}"}
        node_id = read_environment_file(UNITS / "worker.env.example")["CONVEYOR_NODE_ID"]
        _, secret = await api.create_node(headers, node_id=node_id, task_types=["noop"])
        _write_env(
            "worker.env.example", tmp_path / "etc" / "worker.env", CONVEYOR_NODE_SECRET=secret
        )
        worker = UnitRun(UNITS / "conveyor-worker@.service", paths, instance="1")
        worker_env = worker.environment(_base_env(tmp_path / "worker-state"))
        assert worker.argv("ExecStart", worker_env)[0][1:] == ["worker", "--builtin"]
        worker_log = tmp_path / "worker.log"
        worker_proc = await _start(worker, worker_env, worker_log)

        task = await api.submit(headers, task_type="noop", params={})
        seen: list[Any] = []

        async def done() -> bool:
            assert worker_proc is not None and worker_proc.returncode is None, (
                worker_log.read_text()[-3000:]
            )
            seen.append(await _task(api, headers, task["task_id"]))
            return bool(seen[-1]["status"] == "completed")

        try:
            await wait_until(done, 60, "the worker unit to run the task")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the task: {seen[-1:]}") from None
        await _stop(worker, worker_proc, worker_log)
        await _stop(server, server_proc, server_log)
    finally:
        await api.close()
        for proc in (worker_proc, server_proc):
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()


def test_environment_examples_name_real_settings() -> None:
    for example, command in (("server.env.example", "serve"), ("worker.env.example", "worker")):
        names = {k for k in read_environment_file(UNITS / example) if k.startswith("CONVEYOR_")}
        unknown = names - read_by(command)
        assert names and not unknown, f"{example}: `conveyor {command}` does not read {unknown}"


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # verify checks that ExecStart's program exists: point it at this venv's conveyor.
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/conveyor/bin/conveyor", str(CONVEYOR))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", "conveyor-server.service", "conveyor-worker@1.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # It exits 0 on settings it ignores; those are reported on stderr.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
