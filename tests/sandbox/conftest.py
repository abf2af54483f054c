"""A sandbox per mode with small limits, so hostile payloads end within seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psutil
import pytest

from conveyor.worker.sandbox import Sandbox, SandboxConfig
from tests.server import wait_until

UID_BASE = 2_100_000_000
UID_COUNT = 16


def small_config(mode: str) -> SandboxConfig:
    return SandboxConfig(
        mode=mode,  # type: ignore[arg-type]
        cpu_seconds=1,
        wall_seconds=3,
        memory_mb=96,
        file_size_mb=4,
        tmpfs_mb=16,
        max_processes=24,
        max_open_files=64,
        max_output_bytes=64 * 1024,
        uid_base=UID_BASE,
        uid_count=UID_COUNT,
        progress_interval_seconds=0,
    )


@pytest.fixture(scope="session")
async def bwrap_sandbox() -> AsyncIterator[Sandbox]:
    box = await Sandbox.open(small_config("bwrap"))
    yield box
    box.close()


@pytest.fixture(scope="session")
async def rlimit_sandbox() -> AsyncIterator[Sandbox]:
    box = await Sandbox.open(small_config("rlimit"))
    yield box
    box.close()


@pytest.fixture(params=["bwrap", "rlimit"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


@pytest.fixture
def sandbox(mode: str, request: pytest.FixtureRequest) -> Sandbox:
    return request.getfixturevalue(f"{mode}_sandbox")  # type: ignore[no-any-return]


def sandbox_processes() -> list[psutil.Process]:
    """Live processes of the sandbox uids. Zombies are left out: bwrap's namespace
    init is reaped by the machine's init, which in this VM does so lazily; a zombie
    runs nothing and holds no memory."""
    found = []
    for proc in psutil.process_iter(["uids", "status"]):
        uids = proc.info["uids"]
        if proc.info["status"] == psutil.STATUS_ZOMBIE or uids is None:
            continue
        if UID_BASE <= uids.real < UID_BASE + UID_COUNT:
            found.append(proc)
    return found


async def assert_no_sandbox_processes() -> None:
    async def gone() -> bool:
        return not sandbox_processes()

    await wait_until(gone, 10, "every sandbox process gone")
