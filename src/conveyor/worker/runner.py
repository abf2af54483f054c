"""The worker loop: claim in batches, run handlers, heartbeat, finish, shut down cleanly.

One round trip both returns the results of finished tasks and claims new ones. While
a long-poll claim is waiting, results of tasks finishing meanwhile go out on their
own (a claim for zero tasks), so a result never waits for new work to arrive.

Tasks beyond the running ones are claimed ahead and held here, as Celery's prefetch
does: a worker running one task at a time starts the next one without a round trip.
How many is bounded by time (about ``prefetch_seconds`` of expected work per slot, at
most ``prefetch`` tasks: worker/prefetch.py), so fast tasks come many per round trip
and slow ones are not hoarded away from idle workers. The buffer is refilled once
half empty (or once a result has waited ``finish_coalesce_seconds``), carrying every
result finished meanwhile.
Their leases run from the claim and are extended by heartbeats like the running
tasks'; one whose lease ran out before it could start (a paused worker, a long task
ahead of it) is handed back unrun: the server may have given it to another node.

Nothing here can finish a task twice: every finish carries the version claimed,
and the server applies a version once; a finish whose answer was lost is sent
again and answered "conflict", which is then ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import signal
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conveyor.client.async_client import AsyncClient, finish_payload
from conveyor.client.errors import (
    ApiError,
    AuthenticationError,
    Conflict,
    ConnectionFailed,
    NotFound,
    RateLimited,
    ServerError,
)
from conveyor.client.models import FinishResult, Task
from conveyor.observability import tracing
from conveyor.observability.logging import get_logger
from conveyor.worker.app import Registration, Worker
from conveyor.worker.config import WorkerConfig
from conveyor.worker.context import HandlerError, TaskContext
from conveyor.worker.errors import describe_failure
from conveyor.worker.prefetch import PrefetchWindow
from conveyor.worker.processes import ProcessPool
from conveyor.worker.results import ResultBuffer

log = get_logger("conveyor.worker")
TRANSIENT = (ConnectionFailed, ServerError, RateLimited)
FLUSH_DEADLINE_SECONDS = 30.0
# A claim in flight this long is taken to be parked in a long-poll, so results
# finished meanwhile go out on their own instead of waiting for it to return.
PARKED_AFTER_SECONDS = 0.02
# The server's default lease, for a claim answer that does not say (an old server).
DEFAULT_LEASE_SECONDS = 300.0


@dataclass
class Running:
    task: Task
    ctx: TaskContext
    job: asyncio.Task[None] | None = None
    # Set when the server no longer wants our answer (cancelled, lease lost).
    dropped: bool = False
    # Set at shutdown when the grace period ran out: hand the task back.
    release: bool = False
    # The span around its run, in the task's trace (a no-op unless tracing is on).
    trace: tracing.TaskRun = tracing.NO_RUN


@dataclass
class Held:
    """A claimed task waiting for a free slot."""

    task: Task
    # time.monotonic() past which its lease may have run out: measured from when the
    # claim was sent, so it errs early and needs no clock shared with the server.
    lease_deadline: float


@dataclass
class Stats:
    # Results handed to the server, by kind (a rejected one is also counted here).
    completed: int = 0
    failed: int = 0
    released: int = 0
    dropped: int = 0
    rejected: int = 0
    # Claimed tasks handed back unrun because their lease had run out meanwhile.
    expired: int = 0
    claims: int = 0
    claimed: int = 0
    started_at: float = field(default_factory=time.monotonic)


class WorkerRunner:
    def __init__(self, worker: Worker, client: AsyncClient, config: WorkerConfig) -> None:
        self.worker = worker
        self.client = client
        self.config = config
        self.stats = Stats()
        self.running: dict[str, Running] = {}
        self.waiting: deque[Held] = deque()
        self.results = ResultBuffer(config.finish_coalesce_seconds)
        self.prefetch = PrefetchWindow(config.prefetch, config.prefetch_seconds, config.concurrency)
        self.stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        # time.monotonic() when the claim in flight was sent; None when none is.
        self._claim_sent: float | None = None
        self._threads = ThreadPoolExecutor(config.concurrency, thread_name_prefix="handler")
        self._processes: ProcessPool | None = None
        self._signals = 0

    # --- lifecycle -------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; running tasks get the grace period. A second call hurries."""
        self._signals += 1
        if self._signals > 1:
            self.config = self.config.model_copy(update={"grace_seconds": 0})
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def run(self) -> Stats:
        loop = asyncio.get_running_loop()
        if self.config.sync_mode == "process":
            self._processes = ProcessPool(self.config.concurrency, loop, self._forward_progress)
        log.info(
            "worker started",
            task_types=self.worker.task_types,
            concurrency=self.config.concurrency,
            server=self.client.base_url,
        )
        beats = asyncio.create_task(self._heartbeats(), name="heartbeats")
        flusher = asyncio.create_task(self._flusher(), name="flusher")
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            for helper in (beats, flusher):
                helper.cancel()
            await asyncio.gather(beats, flusher, return_exceptions=True)
            await self._flush_all()
            self._threads.shutdown(wait=False, cancel_futures=True)
            if self._processes is not None:
                self._processes.shutdown()
        log.info(
            "worker stopped",
            completed=self.stats.completed,
            failed=self.stats.failed,
            released=self.stats.released,
        )
        return self.stats

    # --- claiming --------------------------------------------------------------

    async def _claim_loop(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            self._fill_slots()
            capacity = self.config.concurrency + self.prefetch.size()
            room = capacity - len(self.running) - len(self.waiting)
            if room <= 0 or not self._claim_due():
                self._slot_freed.clear()
                await self._wait_for(self._slot_freed, timeout=self.results.hold_left())
                continue
            finishes = self.results.take()
            want = min(room, self.config.batch_size or room)
            sent = self._claim_sent = time.monotonic()
            try:
                claim = await self.client.claim(
                    self.worker.task_types,
                    max_tasks=want,
                    wait_seconds=self.config.poll_wait_seconds,
                    lease_seconds=self.config.lease_seconds,
                    finishes=finishes,
                )
            except (*TRANSIENT, AuthenticationError) as exc:
                self.results.requeue(finishes)
                failures += 1
                log.warning("claim failed; retrying", error=str(exc), attempt=failures)
                await self._pause(failures)
                continue
            except ApiError as exc:
                # The server refused the request itself: resending the same finishes
                # would fail forever. Their leases run out and the tasks are retried.
                log.error("claim rejected", error=str(exc), dropped_results=len(finishes))
                failures += 1
                await self._pause(failures)
                continue
            finally:
                self._claim_sent = None
            failures = 0
            self._record(claim.finished)
            self.stats.claims += 1
            self.stats.claimed += len(claim.tasks)
            for task in claim.tasks:
                if self.stopping.is_set():
                    # Claimed while we were asked to stop: give it straight back.
                    self._push(finish_payload(task, None, "released"))
                else:
                    self.waiting.append(Held(task, sent + self._lease_length(task)))

    def _lease_length(self, task: Task) -> float:
        leased_at, expires = task.raw.get("leased_at"), task.raw.get("lease_expires_at")
        if isinstance(leased_at, str) and isinstance(expires, str):
            length = datetime.fromisoformat(expires) - datetime.fromisoformat(leased_at)
            return length.total_seconds()
        return float(self.config.lease_seconds or DEFAULT_LEASE_SECONDS)

    def _fill_slots(self) -> None:
        """Start held tasks while slots are free; hand back those whose lease ran out."""
        now = time.monotonic()
        while self.waiting and len(self.running) < self.config.concurrency:
            held = self.waiting.popleft()
            if now >= held.lease_deadline:
                self.stats.expired += 1
                log.warning("lease ran out before the task could start", task_id=held.task.id)
                # Released without running: if the server has not yet taken the lease
                # back, the task is pending again at once; if it has, this is refused.
                self._push(finish_payload(held.task, None, "released"))
                continue
            self._start(held.task)

    async def _pause(self, failures: int) -> None:
        delay = min(self.config.max_backoff_seconds, 0.2 * 2 ** min(failures, 10))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)

    def _claim_due(self) -> bool:
        """Half empty, or a result held its time: one request per two or three fast
        tasks instead of one per task, and no result waits longer than the flusher's."""
        return len(self.waiting) <= self.prefetch.size() // 2 or self.results.hold_left() == 0

    async def _wait_for(self, event: asyncio.Event, timeout: float | None = None) -> None:
        stop = asyncio.create_task(self.stopping.wait())
        other = asyncio.create_task(event.wait())
        _, pending = await asyncio.wait(
            {stop, other}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()

    # --- running handlers ------------------------------------------------------

    def _start(self, task: Task) -> None:
        loop = asyncio.get_running_loop()

        async def sink(data: dict[str, Any]) -> None:
            await self._send_progress(task.id, data)

        ctx = TaskContext(
            task_id=task.id,
            task_type=task.task_type,
            attempt=task.attempts + 1,
            metadata=task.metadata,
            artifacts=self.client.artifacts,
            _progress=sink,
            loop=loop,
        )
        run = tracing.current().run(task.raw.get("traceparent"), task.id, task.task_type)
        entry = Running(task, ctx, trace=run)
        self.running[task.id] = entry
        entry.job = asyncio.create_task(self._execute(entry), name=f"task-{task.id}")

    async def _execute(self, entry: Running) -> None:
        task, ctx = entry.task, entry.ctx
        reg = self.worker.handlers.get(task.task_type)
        payload: dict[str, Any] | None
        failure: BaseException | None = None
        entry.trace.start()
        began = time.monotonic()
        try:
            with entry.trace.active():
                result = await self._call(reg, task, ctx)
            _check_json(result)
            payload = finish_payload(task, None, "completed", result=result)
        except asyncio.CancelledError:
            payload = None
        except Exception as exc:
            failure = exc
            error, retryable = describe_failure(exc, reg.retryable if reg else False)
            payload = finish_payload(task, None, "failed", error=error, retryable=retryable)
            log.info("task failed", task_id=task.id, error=error["message"], retryable=retryable)
        finally:
            self.prefetch.observe(time.monotonic() - began)
            self.running.pop(task.id, None)
            if self._processes is not None:
                self._processes.forget(task.id)
            if not self.stopping.is_set():
                # Not through the claim loop: it may be parked in a long-poll.
                self._fill_slots()
            self._slot_freed.set()
        if entry.release:
            payload = finish_payload(task, None, "released")
        elif entry.dropped or ctx.cancelled:
            self.stats.dropped += 1
            payload = None
        entry.trace.end(payload["status"] if payload else "dropped", failure)
        if payload is not None:
            self._push(payload)

    async def _call(self, reg: Registration | None, task: Task, ctx: TaskContext) -> Any:
        if reg is None:
            raise HandlerError(
                f"this worker has no handler for task type {task.task_type!r}",
                retryable=False,
                code="unknown_task_type",
            )
        if reg.is_async:
            return await reg.func(task.params, ctx)
        if self._processes is not None:
            remote = self._processes.context(task.id, task.task_type, ctx.attempt, task.metadata)
            return await self._processes.run(reg.func, task.params, remote)
        loop = asyncio.get_running_loop()
        # In this context (its span current), which an executor would not carry over.
        run = contextvars.copy_context().run
        return await loop.run_in_executor(self._threads, run, reg.func, task.params, ctx)

    async def _send_progress(self, task_id: str, data: dict[str, Any]) -> None:
        entry = self.running.get(task_id)
        try:
            with (entry.trace if entry else tracing.NO_RUN).active():
                await self.client.report_progress(task_id, data)
        except (Conflict, NotFound):
            # The task was cancelled or taken from us: tell the handler to stop.
            self._drop(task_id)
        except TRANSIENT as exc:
            # Progress is advisory; losing one report must not fail the task.
            log.warning("progress not delivered", task_id=task_id, error=str(exc))

    async def _forward_progress(self, task_id: str, data: dict[str, Any]) -> None:
        await self._send_progress(task_id, data)

    def _drop(self, task_id: str) -> None:
        entry = self.running.get(task_id)
        if entry is None:
            # Held, not started: it simply never runs.
            kept = [h for h in self.waiting if h.task.id != task_id]
            self.stats.dropped += len(self.waiting) - len(kept)
            self.waiting = deque(kept)
            return
        entry.dropped = True
        entry.ctx.cancel()
        if self._processes is not None:
            self._processes.cancel(task_id)
        reg = self.worker.handlers.get(entry.task.task_type)
        if entry.job is not None and reg is not None and reg.is_async:
            entry.job.cancel()

    # --- results ---------------------------------------------------------------

    def _push(self, payload: dict[str, Any]) -> None:
        status = payload["status"]
        if status == "completed":
            self.stats.completed += 1
        elif status == "failed":
            self.stats.failed += 1
        else:
            self.stats.released += 1
        self.results.push(payload)

    def _record(self, finished: list[FinishResult]) -> None:
        for outcome in finished:
            if not outcome.ok:
                # Usually a task cancelled meanwhile, or a resend of a finish that
                # had already been applied; either way there is nothing to redo.
                self.stats.rejected += 1
                log.info("finish not applied", task_id=outcome.task_id, error=outcome.error)

    async def _flusher(self) -> None:
        while True:
            await self.results.ready.wait()
            self.results.ready.clear()
            await asyncio.sleep(self.config.finish_coalesce_seconds)
            # Only while a claim is parked in a long-poll: a claim that is merely in
            # flight returns soon, and the loop's next claim carries the results
            # (and so does the claim it makes when a slot frees).
            while self.results and self._claim_sent is not None:
                in_flight = time.monotonic() - self._claim_sent
                if in_flight >= PARKED_AFTER_SECONDS:
                    await self._send_results(self.results.take())
                    break
                await asyncio.sleep(PARKED_AFTER_SECONDS - in_flight)

    async def _send_results(self, finishes: list[dict[str, Any]]) -> bool:
        try:
            claim = await self.client.claim(max_tasks=0, finishes=finishes)
        except asyncio.CancelledError:
            # Shutdown cancels the flusher mid-request: the final flush sends these
            # again (a resend of an applied finish is refused, never applied twice).
            self.results.requeue(finishes)
            raise
        except (*TRANSIENT, AuthenticationError) as exc:
            self.results.requeue(finishes)
            log.warning("results not delivered; will resend", error=str(exc))
            return False
        except ApiError as exc:
            log.error("results rejected", error=str(exc), dropped_results=len(finishes))
            return True
        self._record(claim.finished)
        return True

    async def _flush_all(self) -> None:
        deadline = time.monotonic() + FLUSH_DEADLINE_SECONDS
        failures = 0
        while self.results and time.monotonic() < deadline:
            if not await self._send_results(self.results.take()):
                failures += 1
                await asyncio.sleep(min(self.config.max_backoff_seconds, 0.2 * 2**failures))
        if self.results:
            log.error("results left undelivered; their leases will expire", count=len(self.results))

    # --- heartbeats and shutdown -----------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            ids = [*self.running, *(h.task.id for h in self.waiting)]
            sent = time.monotonic()
            try:
                beat = await self.client.heartbeat(
                    ids,
                    load={
                        "running": len(self.running),
                        "prefetched": len(self.waiting),
                        "concurrency": self.config.concurrency,
                    },
                )
            except (*TRANSIENT, ApiError) as exc:
                log.warning("heartbeat failed", error=str(exc))
                continue
            extended = set(beat.extended)
            for held in self.waiting:
                if held.task.id in extended:
                    held.lease_deadline = sent + self._lease_length(held.task)
            for task_id in (*beat.cancelled, *beat.lost):
                log.info("task no longer ours; stopping it", task_id=task_id)
                self._drop(task_id)

    async def _drain(self) -> None:
        while self.waiting:
            # Never started: handed back at once, no attempt charged.
            self._push(finish_payload(self.waiting.popleft().task, None, "released"))
        jobs = [e.job for e in self.running.values() if e.job is not None]
        if jobs:
            log.info("waiting for running tasks", count=len(jobs), grace=self.config.grace_seconds)
            if self.config.grace_seconds > 0:
                await asyncio.wait(jobs, timeout=self.config.grace_seconds)
        for entry in list(self.running.values()):
            entry.release = True
            entry.ctx.cancel()
            if self._processes is not None:
                self._processes.cancel(entry.task.id)
            if entry.job is not None:
                entry.job.cancel()
        leftover = [e.job for e in self.running.values() if e.job is not None]
        if leftover:
            await asyncio.wait(leftover, timeout=5)


def _check_json(result: Any) -> None:
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise HandlerError(
            f"the handler returned something that is not JSON: {exc}",
            retryable=False,
            code="bad_result",
        ) from exc


async def run_worker(worker: Worker, config: WorkerConfig | None = None) -> Stats:
    """Log in as the configured node and run until SIGTERM/SIGINT."""
    config = config or WorkerConfig()
    # Before the client exists, so its requests carry the task's trace context.
    tracing.setup("conveyor-worker", set_global=True).instrument_http()
    if not config.node_id or config.node_secret is None:
        raise ValueError("a node id and secret are required (CONVEYOR_NODE_ID/_NODE_SECRET)")
    async with AsyncClient(
        config.server_url, node_id=config.node_id, secret=config.node_secret.get_secret_value()
    ) as client:
        runner = WorkerRunner(worker, client, config)
        runner.install_signal_handlers()
        return await runner.run()
