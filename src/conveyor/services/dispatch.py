"""Push dispatch: claim pending work for healthy push nodes and POST it to them.

Each task goes through the normal claim (capacity, drain, labels, one holder)
on the push node's behalf, then ``POST {url}/tasks`` signed with the node's
derived secret. The node's answer, itself signed, finishes the task through the
state machine: ``200 {"result"}`` completes it, ``200 {"error", "retryable"}``
fails it, ``202`` leaves it leased to the node, which finishes it later through
the worker endpoints. Anything else (connection error, timeout, non-2xx, a
missing or bad signature, a malformed body) is a delivery failure: the task
fails retryably (an attempt charged, back to pending after backoff) and the node
collects a failure, is skipped for a cool-down (so the retry fails over to
another node) and, failing repeatedly, turns unhealthy and gets no traffic.

Answers are applied in batches, through the same batched finish as pull workers:
one transaction per node for all the answers that arrived while the previous batch
was being written, not one per task.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus
from conveyor.domain.tasks import Task
from conveyor.observability.logging import get_logger
from conveyor.security.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    verify,
)
from conveyor.services.health import HealthService
from conveyor.services.runtime import Runtime
from conveyor.services.worker import Finish, WorkerService
from conveyor.store import nodes as node_store

log = get_logger(__name__)
Kind = Literal["completed", "failed", "accepted", "undelivered"]


@dataclass(frozen=True, slots=True)
class Answer:
    kind: Kind
    result: Any = None
    error: Any = None
    retryable: bool = True


def undelivered(reason: str) -> Answer:
    return Answer("undelivered", error={"code": "push_failed", "message": reason})


def request_body(task: Task) -> bytes:
    payload = {
        "task_id": task.id,
        "task_type": task.task_type,
        "params": task.params,
        "metadata": task.metadata,
        "version": task.version,
        "attempt": task.attempts + 1,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def read_answer(secret: str, response: httpx.Response) -> Answer:
    """Judge a push node's answer; only a correctly signed 2xx counts as one."""
    if response.status_code not in (200, 202):
        return undelivered(f"the node answered HTTP {response.status_code}")
    try:
        verify(
            secret,
            response.content,
            response.headers.get(TIMESTAMP_HEADER),
            response.headers.get(SIGNATURE_HEADER),
        )
    except SignatureError as exc:
        return undelivered(f"the node's answer is not signed correctly: {exc}")
    if response.status_code == 202:
        return Answer("accepted")
    try:
        data = json.loads(response.content)
    except ValueError:
        return undelivered("the node's answer is not JSON")
    if isinstance(data, dict) and "result" in data:
        return Answer("completed", result=data["result"])
    if isinstance(data, dict) and "error" in data:
        return Answer("failed", error=data["error"], retryable=data.get("retryable") is not False)
    return undelivered("the node's answer has neither result nor error")


class Dispatcher:
    """Bounded, concurrent sends: at most ``dispatch_concurrency`` requests in flight."""

    def __init__(
        self,
        rt: Runtime,
        worker: WorkerService,
        health: HealthService,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.rt = rt
        self.worker = worker
        self.health = health
        self.limit = rt.settings.dispatch_concurrency
        self.http = http or httpx.AsyncClient(
            timeout=rt.settings.push_request_timeout_seconds,
            limits=httpx.Limits(max_connections=self.limit, max_keepalive_connections=self.limit),
        )
        self.in_flight = 0
        self.slot_freed = asyncio.Event()
        # Types the push nodes serve: None means some node takes every type.
        self.wanted_types: set[str] | None = set()
        self._sends: set[asyncio.Task[None]] = set()
        # Answers waiting to be applied, per node; one finisher applies each node's
        # share in one transaction (answers arriving meanwhile wait for the next).
        self._answered: dict[str, tuple[Node, list[Finish]]] = {}
        self._finisher: asyncio.Task[None] | None = None
        self._cooling: dict[str, float] = {}
        self._failed: set[str] = set()
        self._turn = 0

    async def dispatch_round(self) -> int:
        """Claim and launch as much as free slots and node capacity allow."""
        budget = self.limit - self.in_flight
        nodes = await self._targets()
        if budget <= 0 or not nodes:
            return 0
        # Rotate the starting node and share the budget, so one node with a
        # deep capacity does not take every slot while others stand idle.
        self._turn = (self._turn + 1) % len(nodes)
        nodes = nodes[self._turn :] + nodes[: self._turn]
        share = max(1, math.ceil(budget / len(nodes)))
        sent = 0
        for node in nodes:
            room = min(share, budget - sent)
            if room <= 0:
                break
            for task in await self.worker.claim_for_push(node, room):
                self._launch(node, task)
                sent += 1
        return sent

    async def _targets(self) -> list[Node]:
        async with self.rt.db.read() as conn:
            found = await node_store.list_nodes(
                conn, kind=NodeKind.PUSH, status=NodeStatus.ACTIVE, health=NodeHealth.HEALTHY
            )
        wanted: set[str] | None = set()
        for node in found:
            wanted = (
                None if wanted is None or not node.task_types else wanted | set(node.task_types)
            )
        self.wanted_types = wanted
        now = time.monotonic()
        return [n for n in found if self._cooling.get(n.id, 0.0) <= now]

    def _launch(self, node: Node, task: Task) -> None:
        self.in_flight += 1
        send = asyncio.create_task(self._send(node, task), name=f"conveyor-push-{task.id}")
        self._sends.add(send)
        send.add_done_callback(self._done)

    def _done(self, send: asyncio.Task[None]) -> None:
        self._sends.discard(send)
        self.in_flight -= 1
        self.slot_freed.set()

    async def _send(self, node: Node, task: Task) -> None:
        secret = self.rt.secret_of(node)
        body = request_body(task)
        headers = {"Content-Type": "application/json", **sign(secret, body)}
        url = f"{(node.url or '').rstrip('/')}/tasks"
        try:
            response = await self.http.post(url, content=body, headers=headers)
            answer = read_answer(secret, response)
        except httpx.HTTPError as exc:
            answer = undelivered(f"{type(exc).__name__}: {exc}"[:500])
        try:
            await self._settle(node, task, answer)
        except Exception:
            # The lease still protects the task: it expires and runs again.
            log.exception("settling a push answer failed", task_id=task.id, node_id=node.id)

    async def _settle(self, node: Node, task: Task, answer: Answer) -> None:
        self.rt.metrics.push_dispatch_total.labels(answer.kind).inc()
        if answer.kind == "undelivered":
            log.warning("push failed", node_id=node.id, task_id=task.id, error=answer.error)
            self._cooling[node.id] = time.monotonic() + self.rt.settings.push_probe_failing_seconds
            self._failed.add(node.id)
            await self.health.record(node.id, False, self.rt.clock.now())
        elif node.id in self._failed:
            self._failed.discard(node.id)
            self._cooling.pop(node.id, None)
            await self.health.record(node.id, True, self.rt.clock.now())
        if answer.kind == "accepted":
            return
        outcome: Literal["completed", "failed"] = (
            "completed" if answer.kind == "completed" else "failed"
        )
        finish = Finish(
            task.id, task.version, outcome, answer.result, answer.error, answer.retryable
        )
        self._answered.setdefault(node.id, (node, []))[1].append(finish)
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.create_task(self._apply_answers(), name="conveyor-push-finish")

    async def _apply_answers(self) -> None:
        """Finish answered tasks in batches: a transaction per node per batch, not per task."""
        while self._answered:
            batch, self._answered = self._answered, {}
            for node, finishes in batch.values():
                try:
                    outcomes = await self.worker.finish_many(node, finishes)
                except Exception:
                    # The leases still protect the tasks: they expire and run again.
                    log.exception("applying push answers failed", node_id=node.id)
                    continue
                for outcome in outcomes:
                    if outcome.error is not None:
                        # Cancelled, or its lease expired and moved on meanwhile: the
                        # state machine refused, which is the point. Nothing to undo.
                        log.info(
                            "push answer not applied",
                            task_id=outcome.task_id,
                            reason=str(outcome.error),
                        )

    async def close(self, grace: float = 5.0) -> None:
        """Let sends in flight finish for a moment; the rest recover by lease expiry."""
        if self._sends:
            _, pending = await asyncio.wait(set(self._sends), timeout=grace)
            for send in pending:
                send.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._finisher is not None:
            await self._finisher
        await self.http.aclose()
