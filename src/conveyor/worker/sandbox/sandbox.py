"""``Sandbox``: run one chunk of customer code in a fresh, confined child process.

    sandbox = await Sandbox.open(SandboxConfig())  # probes; raises SandboxUnavailable
    bundle = sandbox.bundles.add(key, "main.py", code_bytes)
    result = await sandbox.run(Chunk("python", bundle, None, items), on_progress)

Every run is a new process (no state survives from one chunk to the next), under
its own uid from the pool, with the limits of ``SandboxConfig``. Whatever the code
does, ``run`` returns its result or raises ``SandboxError``; the worker goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from conveyor.domain.bundles import BundleError, BundleLimits
from conveyor.worker.sandbox import command, streams, verdict
from conveyor.worker.sandbox.bundles import Bundle, BundleStore
from conveyor.worker.sandbox.config import SandboxConfig
from conveyor.worker.sandbox.errors import SandboxError
from conveyor.worker.sandbox.streams import LogTail, ProgressRelay, ProgressSink
from conveyor.worker.sandbox.uids import UidPool

RUNTIMES = ("python", "node")
GUEST_FILES = ("run.py", "conveyor_sandbox.py", "node/run.js", "node/conveyor.js")
PROBE_CODE = b"def process(items):\n    return [item * 2 for item in items]\n"


class SandboxUnavailable(RuntimeError):
    """This machine cannot run customer code in the configured mode; the message says why."""


@dataclass(frozen=True, slots=True)
class Chunk:
    runtime: str
    bundle: Bundle
    entry: str | None
    items: Any


class Sandbox:
    def __init__(self, config: SandboxConfig, work_dir: Path, owns_work_dir: bool) -> None:
        self.config = config
        self.work_dir = work_dir
        self._owns_work_dir = owns_work_dir
        self.guest_dir = _install_guest(work_dir / "guest")
        self.bundles = BundleStore(
            work_dir / "bundles", BundleLimits(), config.bundle_cache_entries
        )
        self._chunks_dir = work_dir / "chunks"
        self._chunks_dir.mkdir(exist_ok=True)
        self._chunks_dir.chmod(0o711)
        self._uids = UidPool(config.uid_base, config.uid_count)
        self.runtimes: dict[str, str | None] = {}

    @classmethod
    async def open(cls, config: SandboxConfig | None = None) -> Sandbox:
        """A ready sandbox, its runtimes probed; ``SandboxUnavailable`` if none works."""
        config = config or SandboxConfig()
        if config.mode == "bwrap" and shutil.which(config.bwrap) is None:
            raise SandboxUnavailable(_unusable(f"{config.bwrap!r} is not installed"))
        owns = config.work_dir is None
        work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="conveyor-sandbox-"))
        work_dir.mkdir(parents=True, exist_ok=True)
        work_dir.chmod(0o711)
        sandbox = cls(config, work_dir, owns)
        try:
            await sandbox.probe()
        except BaseException:
            sandbox.close()
            raise
        return sandbox

    async def probe(self) -> dict[str, str | None]:
        """Run a tiny bundle in each runtime: ``runtimes[name]`` is None if it works,
        else why not. Raises ``SandboxUnavailable`` when no runtime works."""
        bundle = self.bundles.get("probe") or self.bundles.add("probe", "probe.py", PROBE_CODE)
        node_bundle = self.bundles.get("probe-js") or self.bundles.add(
            "probe-js", "probe.js", b"exports.process = (items) => items.map((i) => i * 2);\n"
        )
        for runtime, probe in (("python", bundle), ("node", node_bundle)):
            self.runtimes[runtime] = await self._probe_one(Chunk(runtime, probe, None, [1, 2]))
        if all(self.runtimes.values()):
            reasons = "; ".join(f"{k}: {v}" for k, v in self.runtimes.items())
            raise SandboxUnavailable(_unusable(reasons) if self.config.mode == "bwrap" else reasons)
        return self.runtimes

    async def _probe_one(self, chunk: Chunk) -> str | None:
        binary = self.config.python if chunk.runtime == "python" else self.config.node
        if shutil.which(binary) is None:
            return f"{binary} not found"
        try:
            result = await self.run(chunk)
        except SandboxError as exc:
            return f"the probe failed: {exc}"[:2000]
        return None if result == [2, 4] else f"the probe answered {result!r}"

    @property
    def available(self) -> list[str]:
        return [name for name, why in self.runtimes.items() if why is None]

    def close(self) -> None:
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    async def run(self, chunk: Chunk, on_progress: ProgressSink | None = None) -> Any:
        if chunk.runtime not in RUNTIMES:
            raise SandboxError("sandbox_unavailable", f"unknown runtime {chunk.runtime!r}")
        try:
            entry = chunk.bundle.entry(chunk.runtime, chunk.entry)
        except BundleError as exc:
            raise SandboxError("sandbox_bad_bundle", str(exc)) from exc
        payload = _encode_items(chunk.items, self.config.max_input_bytes)
        async with self._uids.lease() as uid, self._launch(chunk, entry, uid) as launch:
            return await self._execute(launch, uid, payload, on_progress)

    @contextlib.asynccontextmanager
    async def _launch(self, chunk: Chunk, entry: str, uid: int) -> AsyncIterator[command.Launch]:
        if self.config.mode == "bwrap":
            yield command.bwrap_launch(
                self.config, chunk.runtime, chunk.bundle.path, self.guest_dir, entry
            )
            return
        # No mount namespace: the chunk gets a private copy of its code and a home
        # of its own, both its uid's alone, removed (with its processes) afterwards.
        place = await asyncio.to_thread(_private_place, chunk.bundle.path, self._chunks_dir, uid)
        code, home = place / "code", place / "home"
        try:
            yield command.rlimit_launch(
                self.config, chunk.runtime, code, self.guest_dir, entry, home
            )
        finally:
            await _kill_all_of(uid, self.config.python)
            await asyncio.to_thread(shutil.rmtree, place, ignore_errors=True)

    async def _execute(
        self, launch: command.Launch, uid: int, payload: bytes, on_progress: ProgressSink | None
    ) -> Any:
        proc = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=launch.env,
            cwd=launch.cwd,
            preexec_fn=launch.preexec,
            start_new_session=True,
            user=uid,
            group=uid,
            extra_groups=[],
        )
        assert proc.stdin and proc.stdout and proc.stderr
        log = LogTail(self.config.log_tail_bytes)
        relay = ProgressRelay(on_progress, self.config.progress_interval_seconds)
        try:
            async with asyncio.timeout(self.config.wall_seconds):
                answer, _, _ = await asyncio.gather(
                    streams.read_bounded(proc.stdout, self.config.max_output_bytes, proc.kill),
                    streams.feed(proc.stdin, payload),
                    streams.read_stderr(proc.stderr, log, relay),
                )
                returncode = await proc.wait()
        except TimeoutError:
            raise SandboxError(
                "sandbox_timeout",
                f"the chunk ran past its {self.config.wall_seconds:g} s wall-clock limit",
                log_tail=log.text(),
            ) from None
        finally:
            _kill(proc)
            await proc.wait()
            await relay.close()
        if answer is None:
            raise SandboxError(
                "sandbox_output_too_large",
                f"the result is larger than {self.config.max_output_bytes} bytes",
                log_tail=log.text(),
            )
        return verdict.interpret(returncode, answer, log.text(), self.config.mode == "bwrap")


def _encode_items(items: Any, limit: int) -> bytes:
    payload = json.dumps(items, separators=(",", ":")).encode()
    if len(payload) > limit:
        raise SandboxError(
            "sandbox_input_too_large",
            f"the chunk's items are {len(payload)} bytes; at most {limit}",
        )
    return payload


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    # Under bwrap, killing bwrap kills the namespace's init (--die-with-parent) and
    # with it every process inside; without bwrap the session's group goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def _kill_all_of(uid: int, python: str) -> None:
    """SIGKILL every process of ``uid``: what a chunk left behind (setsid'd daemons
    included) before its uid serves another. ``kill(-1)`` as that uid reaches exactly
    its processes."""
    code = "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
    proc = await asyncio.create_subprocess_exec(
        python, "-I", "-S", "-c", code, user=uid, group=uid, extra_groups=[], env={}, cwd="/"
    )
    await proc.wait()


def _private_place(bundle: Path, parent: Path, uid: int) -> Path:
    place = Path(tempfile.mkdtemp(dir=parent))
    shutil.copytree(bundle, place / "code")
    (place / "home").mkdir(mode=0o700)
    _chown_tree(place, uid)
    place.chmod(0o700)
    return place


def _chown_tree(root: Path, uid: int) -> None:
    for folder, _dirs, files in os.walk(root):
        os.chown(folder, uid, uid)
        for name in files:
            os.chown(os.path.join(folder, name), uid, uid)


def _install_guest(target: Path) -> Path:
    source = resources.files("conveyor.worker.sandbox.guest")
    (target / "node").mkdir(parents=True, exist_ok=True)
    for name in GUEST_FILES:
        path = target / name
        path.write_bytes(source.joinpath(name).read_bytes())
        path.chmod(0o644)
    for folder in (target, target / "node"):
        folder.chmod(0o755)
    return target


def _unusable(why: str) -> str:
    return (
        f"customer code cannot run in a bubblewrap sandbox here: {why}. Install bubblewrap "
        "(apt-get install bubblewrap) and allow unprivileged user namespaces, or set "
        "CONVEYOR_SANDBOX_MODE=rlimit to run it with rlimits and a uid drop only "
        "(no network or filesystem isolation; see docs/sandbox.md)"
    )
