"""A private ``redis-server`` on a free port, for tests that take Redis away.

Never the machine's shared Redis: this one is started and killed by the test.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.server import free_port, wait_until


@dataclass
class RedisProcess:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def _answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


@asynccontextmanager
async def private_redis(workdir: Path) -> AsyncIterator[RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = RedisProcess(port, proc)
    try:

        async def up() -> bool:
            return await _answers(redis.url)

        await wait_until(up, 10.0, "the private redis-server")
        yield redis
    finally:
        redis.kill()
