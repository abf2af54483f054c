"""deploy/nginx.conf, the compose proxy, run by a real nginx in front of two real
``conveyor serve`` replicas: only its upstream and listen address are changed for
loopback. Event streams pass through live, and a replica going away is not seen by
clients."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.events.conftest import open_stream, running_task
from tests.server import Api, ServerProcess, free_port, process_settings, wait_until

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def loopback_conf(prefix: Path, port: int, upstreams: list[str]) -> Path:
    text = CONF.read_text()
    servers = "".join(f"server {u} max_fails=1 fail_timeout=5s;\n        " for u in upstreams)
    text, found = re.subn(r"server api:8080 [^;]*;\n\s*", servers, text)
    assert found == 1, "deploy/nginx.conf has no `server api:8080` upstream"
    text, found = re.subn(r"listen 8080;", f"listen 127.0.0.1:{port};", text)
    assert found == 1, "deploy/nginx.conf does not listen on 8080"
    # Runtime files in the test's directory instead of /var.
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temp, 1)
    text = f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n" + text
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


async def _nginx(*args: str) -> asyncio.subprocess.Process:
    assert NGINX is not None
    return await asyncio.create_subprocess_exec(
        NGINX, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


@pytest.fixture
async def replicas(postgres_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    env = process_settings(postgres_url, tmp_path / "data", CONVEYOR_TRUSTED_PROXIES="127.0.0.1")
    servers = [ServerProcess(env), ServerProcess(env)]
    try:
        await asyncio.gather(*[s.start() for s in servers])
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.mark.postgres
async def test_proxy_streams_events_and_hides_a_lost_replica(
    replicas: list[ServerProcess], tmp_path: Path
) -> None:
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx-light; scripts/setup.sh)")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    conf = loopback_conf(prefix, port, [f"127.0.0.1:{s.port}" for s in replicas])
    check = await _nginx("-t", "-p", str(prefix), "-c", str(conf))
    _, err = await check.communicate()
    assert check.returncode == 0, err.decode()

    nginx = await _nginx("-p", str(prefix), "-c", str(conf), "-g", "daemon off;")
    proxy = Api(f"http://127.0.0.1:{port}")
    try:

        async def ready() -> bool:
            assert nginx.returncode is None, (prefix / "error.log").read_text()
            try:
                return (await proxy.http.get(proxy.base_url + "/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(ready, 15, "nginx to answer")

        # A live event stream through the proxy: progress reported after the stream
        # opened arrives while the stream stays open.
        run = await running_task(proxy)
        async with open_stream(proxy.base_url, f"/tasks/{run.task_id}/events", run.user) as s:
            assert s.status_code == 200
            await run.report(1)
            first = await s.next(timeout=5)
            assert first.event == "progress"
            await run.report(2)
            second = await s.next(timeout=5)
            assert second.event == "progress" and second.id == "2"

        # One replica stops: every request still gets an answer from the other.
        replicas[0].stop()
        statuses = [
            (await proxy.http.get(proxy.base_url + "/readyz")).status_code for _ in range(10)
        ]
        assert statuses == [200] * 10
    finally:
        await proxy.close()
        if nginx.returncode is None:
            nginx.terminate()
            await asyncio.wait_for(nginx.wait(), 15)
