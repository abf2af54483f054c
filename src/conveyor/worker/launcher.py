"""``conveyor workers N``: run N worker processes, restart the ones that die, stop them all.

Each child is ``conveyor worker ...`` with the same arguments, in a session of its
own so that a terminal's Ctrl-C reaches only the launcher, which then sends each
child one SIGTERM (a worker's graceful stop; a second signal would hurry it) and
waits the grace period before killing what is left. Children also get SIGTERM if
the launcher itself dies (``PR_SET_PDEATHSIG``). A child that dies is restarted
after a delay that doubles while it keeps dying young and resets once it has run
``stable_after`` seconds. Every line a child prints is relayed as ``[wN] line``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

PR_SET_PDEATHSIG = 1
# Past the grace period, this long for a worker to flush its last results.
STOP_MARGIN_SECONDS = 10.0


@dataclass
class Slot:
    index: int
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    pids: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"w{self.index}"


@dataclass
class LauncherConfig:
    count: int
    worker_args: Sequence[str] = ()
    grace_seconds: float = 30.0
    min_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    stable_after_seconds: float = 30.0


class Launcher:
    def __init__(
        self,
        config: LauncherConfig,
        out: TextIO | None = None,
        command: Callable[[Slot], list[str]] | None = None,
    ) -> None:
        self.config = config
        self.out = out or sys.stdout
        self.command = command or self._worker_command
        self.slots = [Slot(i + 1) for i in range(config.count)]
        self.stopping = asyncio.Event()

    def _worker_command(self, slot: Slot) -> list[str]:
        args = [*self.config.worker_args, "--grace", str(self.config.grace_seconds)]
        return [sys.executable, "-m", "conveyor.cli.main", "worker", *args]

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self.slots]
        await self.stopping.wait()
        self._say("launcher", f"stopping {self.config.count} workers")
        for slot in self.slots:
            _signal(slot.proc, signal.SIGTERM)
        _, late = await asyncio.wait(
            keepers, timeout=self.config.grace_seconds + STOP_MARGIN_SECONDS
        )
        for slot in self.slots:
            _signal(slot.proc, signal.SIGKILL)
        await asyncio.gather(*keepers, return_exceptions=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        return 1 if late else 0

    async def _keep(self, slot: Slot) -> None:
        failures = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            code = await self._run_once(slot)
            if self.stopping.is_set():
                self._say(slot.name, f"stopped (exit {code})")
                return
            ran = time.monotonic() - started
            failures = 1 if ran >= self.config.stable_after_seconds else failures + 1
            delay = min(
                self.config.max_backoff_seconds,
                self.config.min_backoff_seconds * 2 ** (failures - 1),
            )
            self._say(slot.name, f"exited with {code} after {ran:.1f} s; restarting in {delay:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _run_once(self, slot: Slot) -> int:
        proc = await asyncio.create_subprocess_exec(
            *self.command(slot),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            # Lines are relayed as they come, not when a buffer fills.
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        slot.proc, slot.starts = proc, slot.starts + 1
        slot.pids.append(proc.pid)
        self._say(slot.name, f"started (pid {proc.pid})")
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            self._say(slot.name, line.decode(errors="replace").rstrip("\n"))
        return await proc.wait()

    def _say(self, name: str, text: str) -> None:
        self.out.write(f"[{name}] {text}\n")
        self.out.flush()


def _signal(proc: asyncio.subprocess.Process | None, sig: int) -> None:
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def _load_prctl() -> Callable[..., int] | None:
    # Linux only; elsewhere a killed launcher leaves its workers running.
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


# Looked up here, not in the child: loading a library between fork and exec can
# deadlock on a lock another thread of the launcher held when it forked.
_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
