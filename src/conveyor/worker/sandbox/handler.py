"""The ``conveyor.sandbox`` task type: one chunk of customer code over its items.

A task's params (what the jobs service produces for each chunk)::

    {"code_artifact_id": "...", "runtime": "python" | "node", "entry": "main.py" | null,
     "items": [...]}            # or "items_artifact_id": a JSON array or JSONL file

Such tasks require the label ``runtime:<name>`` (``runtime_labels``), so they only
go to nodes that can run them. The bundle and an items file are downloaded through
the task's context (the node may read artifacts its held tasks name), checked and
unpacked once per worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conveyor.domain.bundles import BundleError
from conveyor.domain.jobs import RUNTIME_LABEL_VALUE, SANDBOX_TASK_TYPE, runtime_label
from conveyor.worker.app import Worker
from conveyor.worker.context import HandlerError, TaskContext
from conveyor.worker.sandbox.bundles import Bundle
from conveyor.worker.sandbox.errors import SandboxError
from conveyor.worker.sandbox.sandbox import RUNTIMES, Chunk, Sandbox

TASK_TYPE = SANDBOX_TASK_TYPE
LABEL_VALUE = RUNTIME_LABEL_VALUE


def runtime_labels(runtimes: Iterable[str]) -> dict[str, str]:
    """The node labels saying which runtimes a worker can run (a chunk requires its one)."""
    return {runtime_label(name): LABEL_VALUE for name in runtimes}


@dataclass(frozen=True, slots=True)
class ChunkParams:
    code_artifact_id: str
    runtime: str
    entry: str | None
    items: list[Any] | None
    items_artifact_id: str | None

    @classmethod
    def parse(cls, params: dict[str, Any]) -> ChunkParams:
        code, runtime = params.get("code_artifact_id"), params.get("runtime")
        entry, items = params.get("entry"), params.get("items")
        items_artifact = params.get("items_artifact_id")
        if not isinstance(code, str) or not code:
            raise _bad_params("code_artifact_id must be an artifact id")
        if runtime not in RUNTIMES:
            raise _bad_params(f"runtime must be one of {', '.join(RUNTIMES)}")
        if entry is not None and not isinstance(entry, str):
            raise _bad_params("entry must be a path in the bundle")
        if (items is None) == (items_artifact is None):
            raise _bad_params("give exactly one of items and items_artifact_id")
        if items is not None and not isinstance(items, list):
            raise _bad_params("items must be a JSON array")
        if items_artifact is not None and not isinstance(items_artifact, str):
            raise _bad_params("items_artifact_id must be an artifact id")
        return cls(code, str(runtime), entry, items, items_artifact)


class SandboxHandler:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._unpacking: dict[str, asyncio.Lock] = {}

    async def handle(self, params: dict[str, Any], ctx: TaskContext) -> Any:
        spec = ChunkParams.parse(params)
        if spec.runtime not in self.sandbox.available:
            why = self.sandbox.runtimes.get(spec.runtime) or "not probed"
            raise SandboxError("sandbox_unavailable", f"{spec.runtime} cannot run here: {why}")
        bundle = await self._bundle(ctx, spec.code_artifact_id)
        items = spec.items if spec.items is not None else await self._items(ctx, spec)
        return await self.sandbox.run(Chunk(spec.runtime, bundle, spec.entry, items), ctx.progress)

    async def _bundle(self, ctx: TaskContext, artifact_id: str) -> Bundle:
        artifacts = _artifacts(ctx)
        info = await artifacts.info(artifact_id)
        key = f"{info.id}:{info.sha256}"
        lock = self._unpacking.setdefault(key, asyncio.Lock())
        async with lock:
            bundle = self.sandbox.bundles.get(key)
            if bundle is not None:
                return bundle
            data = await artifacts.download(artifact_id)
            if hashlib.sha256(data).hexdigest() != info.sha256:
                raise SandboxError("sandbox_unavailable", "the bundle download was corrupted")
            try:
                return await asyncio.to_thread(self.sandbox.bundles.add, key, info.name, data)
            except BundleError as exc:
                raise SandboxError("sandbox_bad_bundle", str(exc)) from exc
            finally:
                self._unpacking.pop(key, None)

    async def _items(self, ctx: TaskContext, spec: ChunkParams) -> list[Any]:
        assert spec.items_artifact_id is not None
        artifacts = _artifacts(ctx)
        info = await artifacts.info(spec.items_artifact_id)
        limit = self.sandbox.config.max_input_bytes
        if info.size > limit:
            message = f"the items file is {info.size} bytes; at most {limit}"
            raise SandboxError("sandbox_input_too_large", message)
        return parse_items(await artifacts.download(spec.items_artifact_id))


def parse_items(data: bytes) -> list[Any]:
    """A JSON array, or JSONL (one JSON value a line, blank lines skipped)."""
    text = data.decode("utf-8", errors="strict").strip()
    try:
        if text.startswith("["):
            value = json.loads(text)
            if isinstance(value, list):
                return value
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (ValueError, RecursionError) as exc:
        raise _bad_params(f"the items file is neither a JSON array nor JSONL: {exc}") from exc


def install(worker: Worker, sandbox: Sandbox) -> None:
    """Register the ``conveyor.sandbox`` handler on ``worker``."""
    worker.add(TASK_TYPE, SandboxHandler(sandbox).handle, retryable=False)


def _artifacts(ctx: TaskContext) -> Any:
    if ctx.artifacts is None:
        raise SandboxError("sandbox_unavailable", "this worker has no artifact client")
    return ctx.artifacts


def _bad_params(message: str) -> HandlerError:
    return HandlerError(
        f"bad sandbox params: {message}", retryable=False, code="sandbox_bad_params"
    )
