"""``Client``: the same API for code without an event loop.

It runs an ``AsyncClient`` on a private event loop in a daemon thread, so both
clients share one implementation (retries, token renewal, parsing) and cannot
drift apart.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from conveyor.client.async_client import AsyncClient
from conveyor.client.jobs import SyncJobCalls
from conveyor.client.models import (
    ClaimResult,
    Event,
    Heartbeat,
    Node,
    Payment,
    Progress,
    Task,
    User,
    Wallet,
    WalletTransaction,
)
from conveyor.client.requester import JsonDict
from conveyor.client.retry import RetryPolicy

T = TypeVar("T")


class Client(SyncJobCalls):
    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        node_id: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="conveyor-client", daemon=True
        )
        self._thread.start()

        async def build() -> AsyncClient:
            return AsyncClient(
                base_url,
                username=username,
                password=password,
                node_id=node_id,
                secret=secret,
                token=token,
                timeout=timeout,
                retry=retry,
            )

        self.aio = self._run(build())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._run(_next(agen))
                except StopAsyncIteration:
                    return
        finally:
            closer = getattr(agen, "aclose", None)
            if closer is not None:
                self._run(closer())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self.aio.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def access_token(self) -> str | None:
        return self.aio.auth.access_token

    def login(self) -> str:
        return self._run(self.aio.login())

    def register(self, username: str, password: str) -> JsonDict:
        return self._run(self.aio.register(username, password))

    def logout(self) -> None:
        self._run(self.aio.logout())

    def submit(
        self, task_type: str, params: Mapping[str, Any] | None = None, **options: Any
    ) -> Task:
        return self._run(self.aio.submit(task_type, params, **options))

    def submit_many(self, tasks: Sequence[Mapping[str, Any]], **options: Any) -> list[Task]:
        return self._run(self.aio.submit_many(tasks, **options))

    def get(self, task_id: str) -> Task:
        return self._run(self.aio.get(task_id))

    def list_page(self, **filters: Any) -> tuple[list[Task], str | None]:
        return self._run(self.aio.list_page(**filters))

    def list_tasks(self, **filters: Any) -> Iterator[Task]:
        return self._iterate(self.aio.list_tasks(**filters))

    def cancel(self, task_id: str) -> Task:
        return self._run(self.aio.cancel(task_id))

    def retry_task(self, task_id: str) -> Task:
        return self._run(self.aio.retry_task(task_id))

    def reassign(self, task_id: str, node_id: str) -> Task:
        return self._run(self.aio.reassign(task_id, node_id))

    def mark_timeout(self, task_id: str, reason: str | None = None) -> Task:
        return self._run(self.aio.mark_timeout(task_id, reason))

    def progress_history(self, task_id: str, after_seq: int = 0) -> list[Progress]:
        return self._run(self.aio.progress_history(task_id, after_seq))

    def events(self, task_id: str, **options: Any) -> Iterator[Event]:
        return self._iterate(self.aio.events(task_id, **options))

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        return self._run(self.aio.wait(task_id, timeout))

    def claim(self, task_types: Sequence[str] = (), **options: Any) -> ClaimResult:
        return self._run(self.aio.claim(task_types, **options))

    def complete(self, task: Task | str, result: Any = None, version: int | None = None) -> Task:
        return self._run(self.aio.complete(task, result, version))

    def fail(self, task: Task | str, error: Any, **options: Any) -> Task:
        return self._run(self.aio.fail(task, error, **options))

    def release(self, task: Task | str, version: int | None = None) -> Task:
        return self._run(self.aio.release(task, version))

    def report_progress(self, task_id: str, data: Mapping[str, Any]) -> Progress:
        return self._run(self.aio.report_progress(task_id, data))

    def heartbeat(self, task_ids: Sequence[str] | None = None) -> Heartbeat:
        return self._run(self.aio.heartbeat(task_ids))

    def create_node(self, name: str, **spec: Any) -> Node:
        return self._run(self.aio.create_node(name, **spec))

    def list_nodes(self, **filters: str) -> list[Node]:
        return self._run(self.aio.list_nodes(**filters))

    def list_users(self, limit: int = 100, offset: int = 0) -> list[User]:
        return self._run(self.aio.list_users(limit, offset))

    def update_user(
        self, user_id: str, *, disabled: bool | None = None, role: str | None = None
    ) -> User:
        return self._run(self.aio.update_user(user_id, disabled=disabled, role=role))

    def reset_password(self, user_id: str, password: str | None = None) -> str | None:
        return self._run(self.aio.reset_password(user_id, password))

    def create_invite(self, expires_in_seconds: int | None = None) -> JsonDict:
        return self._run(self.aio.create_invite(expires_in_seconds))

    def update_node(self, node_id: str, **changes: Any) -> Node:
        return self._run(self.aio.update_node(node_id, **changes))

    def delete_node(self, node_id: str) -> list[str]:
        return self._run(self.aio.delete_node(node_id))

    def cleanup_nodes(self, dead_for_seconds: int) -> list[str]:
        return self._run(self.aio.cleanup_nodes(dead_for_seconds))

    def stats(self) -> JsonDict:
        return self._run(self.aio.stats())

    def wallet(self, user_id: str | None = None) -> Wallet:
        return self._run(self.aio.wallet(user_id))

    def deposit(self, amount: int, *, idempotency_key: str | None = None) -> Payment:
        return self._run(self.aio.deposit(amount, idempotency_key=idempotency_key))

    def withdraw(self, amount: int, *, idempotency_key: str | None = None) -> Payment:
        return self._run(self.aio.withdraw(amount, idempotency_key=idempotency_key))

    def transactions(
        self, *, cursor: str | None = None, limit: int = 50, user_id: str | None = None
    ) -> tuple[list[WalletTransaction], str | None]:
        return self._run(self.aio.transactions(cursor=cursor, limit=limit, user_id=user_id))


async def _next(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()
