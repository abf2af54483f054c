"""``AsyncClient``: the whole task API for asyncio code."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from conveyor.client.admin_calls import AdminCalls
from conveyor.client.artifacts import AsyncArtifactClient
from conveyor.client.asyncio_backend import asyncio_transport
from conveyor.client.credentials import Credentials, NodeLogin, TokenAuth, UserLogin
from conveyor.client.errors import (
    ApiError,
    ConnectionFailed,
    error_from_response,
    retry_after_seconds,
)
from conveyor.client.jobs import AsyncJobCalls
from conveyor.client.models import (
    ClaimResult,
    Event,
    FinishResult,
    Heartbeat,
    Progress,
    Task,
)
from conveyor.client.requester import JsonDict
from conveyor.client.retry import RETRY_STATUSES, RetryPolicy, retryable_exception
from conveyor.client.wallet_calls import WalletCalls

API_PREFIX = "/api/v1"


def _credentials(
    username: str | None, password: str | None, node_id: str | None, secret: str | None
) -> Credentials | None:
    if username is not None and password is not None:
        return UserLogin(username, password)
    if node_id is not None and secret is not None:
        return NodeLogin(node_id, secret)
    return None


def finish_payload(
    task: Task | str,
    version: int | None,
    status: str,
    result: Any = None,
    error: Any = None,
    retryable: bool = True,
) -> JsonDict:
    """One entry of a claim's ``finishes``: the outcome of a task claimed before."""
    task_id = task.id if isinstance(task, Task) else task
    held = task.version if isinstance(task, Task) and version is None else version
    item: JsonDict = {"task_id": task_id, "version": held, "status": status}
    if status == "completed":
        item["result"] = result
    elif status == "failed":
        item["error"] = error
        item["retryable"] = retryable
    return item


class AsyncClient(AdminCalls, WalletCalls, AsyncJobCalls):
    """Log in with a user (``username``/``password``), a node (``node_id``/``secret``)
    or an existing ``token``. Tokens are renewed automatically."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        node_id: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        refresh_token: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = TokenAuth(
            API_PREFIX, _credentials(username, password, node_id, secret), token=token
        )
        self.auth.refresh_token = refresh_token
        self.retry = retry or RetryPolicy()
        self.http = httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            auth=self.auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": "conveyor-sdk"},
            transport=asyncio_transport(),
        )
        self.artifacts = AsyncArtifactClient(self.http)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    # --- transport -------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one call, retrying transient failures; the decoded JSON body or None."""
        safe = method == "GET" if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.http.request(
                    method,
                    path,
                    json=json_body,
                    params=params,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                if attempt >= self.retry.attempts or not retryable_exception(exc, safe):
                    raise ConnectionFailed(f"{method} {path}: {exc!r}") from exc
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retry.attempts:
                await asyncio.sleep(self.retry.delay(attempt, retry_after_seconds(response)))
                continue
            if response.status_code >= 400:
                raise error_from_response(response)
            if response.status_code == 204 or not response.content:
                return None
            return response.json()

    # --- auth ------------------------------------------------------------------

    async def register(self, username: str, password: str) -> JsonDict:
        body = {"username": username, "password": password}
        result: JsonDict = await self.request("POST", "/auth/register", json_body=body)
        return result

    async def login(self) -> str:
        """Log in now (otherwise the first call does) and return the access token."""
        await self.request("GET", "/tasks", params={"limit": 1})
        assert self.auth.access_token is not None
        return self.auth.access_token

    async def logout(self) -> None:
        if self.auth.refresh_token:
            await self.request(
                "POST", "/auth/logout", json_body={"refresh_token": self.auth.refresh_token}
            )
        self.auth.access_token = self.auth.refresh_token = None

    async def stream_ticket(self) -> str:
        data = await self.request("POST", "/auth/stream-ticket", idempotent=True)
        return str(data["ticket"])

    # --- tasks -----------------------------------------------------------------

    async def submit(
        self,
        task_type: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Task:
        """Create a task. Options: metadata, assigned_node_id, priority, max_attempts,
        delay_seconds, run_at, timeout_seconds, required_labels, task_id."""
        body = {"task_type": task_type, "params": dict(params or {}), **_jsonable(options)}
        # A key of our own makes retrying a lost answer safe: the server replays it.
        key = idempotency_key or uuid.uuid4().hex
        data = await self.request(
            "POST", "/tasks", json_body=body, headers={"Idempotency-Key": key}, idempotent=True
        )
        return Task.from_json(data)

    async def submit_many(
        self, tasks: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> list[Task]:
        """Create a batch atomically (all or none); each item is a task body."""
        key = idempotency_key or uuid.uuid4().hex
        body = {"tasks": [_jsonable(dict(t)) for t in tasks]}
        data = await self.request(
            "POST", "/tasks", json_body=body, headers={"Idempotency-Key": key}, idempotent=True
        )
        return [Task.from_json(t) for t in data["tasks"]]

    async def get(self, task_id: str) -> Task:
        return Task.from_json(await self.request("GET", f"/tasks/{task_id}"))

    async def list_page(
        self,
        *,
        status: str | Iterable[str] | None = None,
        task_type: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        **filters: str,
    ) -> tuple[list[Task], str | None]:
        params: dict[str, Any] = {"limit": limit, **filters}
        if status:
            params["status"] = status if isinstance(status, str) else ",".join(status)
        if task_type:
            params["task_type"] = task_type
        if cursor:
            params["cursor"] = cursor
        data = await self.request("GET", "/tasks", params=params)
        return [Task.from_json(t) for t in data["tasks"]], data.get("next_cursor")

    async def list_tasks(
        self,
        *,
        status: str | Iterable[str] | None = None,
        task_type: str | None = None,
        page_size: int = 100,
        **filters: str,
    ) -> AsyncIterator[Task]:
        """Every matching task, newest first, following the cursor across pages."""
        cursor: str | None = None
        while True:
            page, cursor = await self.list_page(
                status=status, task_type=task_type, cursor=cursor, limit=page_size, **filters
            )
            for task in page:
                yield task
            if not cursor:
                return

    async def cancel(self, task_id: str) -> Task:
        return Task.from_json(await self.request("POST", f"/tasks/{task_id}/cancel"))

    async def retry_task(self, task_id: str) -> Task:
        """A new attempt of a finished task, linked to it by ``original_task_id``."""
        return Task.from_json(await self.request("POST", f"/tasks/{task_id}/retry"))

    async def reassign(self, task_id: str, node_id: str) -> Task:
        body = {"node_id": node_id}
        return Task.from_json(
            await self.request("POST", f"/tasks/{task_id}/reassign", json_body=body)
        )

    async def mark_timeout(self, task_id: str, reason: str | None = None) -> Task:
        body = {"reason": reason} if reason else {}
        return Task.from_json(
            await self.request("POST", f"/tasks/{task_id}/timeout", json_body=body)
        )

    async def progress_history(self, task_id: str, after_seq: int = 0) -> list[Progress]:
        data = await self.request(
            "GET", f"/tasks/{task_id}/progress", params={"after_seq": after_seq}
        )
        return [Progress.from_json(p) for p in data["progress"]]

    async def events(
        self, task_id: str, *, after_seq: int = 0, ignore_history: bool = False
    ) -> AsyncIterator[Event]:
        """The task's live events (SSE), history first; ends after the final status."""
        params = {"after_seq": after_seq, "ignore_history": str(ignore_history).lower()}
        async for event in self._sse(f"/tasks/{task_id}/events", params):
            yield event
            if event.final:
                return

    async def firehose(
        self, *, task_type: str | None = None, status: str | None = None
    ) -> AsyncIterator[Event]:
        """Admins: status changes of every task, as they happen."""
        params = {k: v for k, v in {"task_type": task_type, "status": status}.items() if v}
        async for event in self._sse("/events", params):
            yield event

    async def _sse(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[Event]:
        timeout = httpx.Timeout(30.0, read=None)
        async with aconnect_sse(self.http, "GET", path, params=params, timeout=timeout) as source:
            response = source.response
            if response.status_code >= 400:
                await response.aread()
                raise error_from_response(response)
            async for sse in source.aiter_sse():
                data = json.loads(sse.data) if sse.data else {}
                yield Event(sse.event, sse.id or None, data)

    async def wait(self, task_id: str, timeout: float | None = None, poll: float = 1.0) -> Task:
        """Block until the task ends and return it; ``TimeoutError`` after ``timeout``."""

        async def until_done() -> Task:
            while True:
                task = await self.get(task_id)
                if task.done:
                    return task
                try:
                    async for event in self.events(task_id, ignore_history=True):
                        if event.final:
                            break
                except (ApiError, ConnectionFailed, httpx.HTTPError):
                    # No stream (older server, proxy cutting it): fall back to polling.
                    await asyncio.sleep(poll)

        return await asyncio.wait_for(until_done(), timeout)

    # --- worker (node) ---------------------------------------------------------

    async def claim(
        self,
        task_types: Sequence[str] = (),
        *,
        max_tasks: int = 1,
        wait_seconds: float = 0,
        lease_seconds: int | None = None,
        finishes: Sequence[JsonDict] = (),
    ) -> ClaimResult:
        body: JsonDict = {
            "task_types": list(task_types),
            "max_tasks": max_tasks,
            "wait_seconds": wait_seconds,
            "finishes": list(finishes),
        }
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        data = await self.request(
            "POST",
            "/worker/claim",
            json_body=body,
            # Finishes are version-guarded, so replaying one is answered 409, never applied twice.
            idempotent=True,
            timeout=wait_seconds + 30.0,
        )
        return ClaimResult(
            [Task.from_json(t) for t in data["tasks"]],
            [FinishResult.from_json(f) for f in data["finished"]],
        )

    async def assigned(self, limit: int = 100) -> list[Task]:
        data = await self.request("GET", "/tasks/assigned", params={"limit": limit})
        return [Task.from_json(t) for t in data["tasks"]]

    async def start(self, task_id: str, lease_seconds: int | None = None) -> Task:
        body = {"lease_seconds": lease_seconds} if lease_seconds else None
        return Task.from_json(await self.request("POST", f"/tasks/{task_id}/start", json_body=body))

    async def report_progress(self, task_id: str, data: Mapping[str, Any]) -> Progress:
        body = {"data": dict(data)}
        return Progress.from_json(
            await self.request("POST", f"/tasks/{task_id}/progress", json_body=body)
        )

    async def complete(
        self, task: Task | str, result: Any = None, version: int | None = None
    ) -> Task:
        item = finish_payload(task, version, "completed", result=result)
        body = {"version": item["version"], "result": result}
        return Task.from_json(
            await self.request(
                "POST", f"/tasks/{item['task_id']}/complete", json_body=body, idempotent=True
            )
        )

    async def fail(
        self, task: Task | str, error: Any, *, retryable: bool = True, version: int | None = None
    ) -> Task:
        item = finish_payload(task, version, "failed", error=error, retryable=retryable)
        body = {"version": item["version"], "error": error, "retryable": retryable}
        return Task.from_json(
            await self.request(
                "POST", f"/tasks/{item['task_id']}/fail", json_body=body, idempotent=True
            )
        )

    async def release(self, task: Task | str, version: int | None = None) -> Task:
        item = finish_payload(task, version, "released")
        return Task.from_json(
            await self.request(
                "POST",
                f"/tasks/{item['task_id']}/release",
                json_body={"version": item["version"]},
                idempotent=True,
            )
        )

    async def heartbeat(
        self, task_ids: Sequence[str] | None = None, load: Mapping[str, Any] | None = None
    ) -> Heartbeat:
        body: JsonDict = {}
        if task_ids is not None:
            body["task_ids"] = list(task_ids)
        if load is not None:
            body["load"] = dict(load)
        data = await self.request("POST", "/nodes/heartbeat", json_body=body, idempotent=True)
        return Heartbeat(data["extended"], data["cancelled"], data.get("lost", []))

    async def advertise_runtimes(self, runtimes: Sequence[str]) -> dict[str, str]:
        """Set this node's ``runtime:*`` labels to these runtimes; its labels after."""
        body = {"runtimes": list(runtimes)}
        data = await self.request("POST", "/nodes/runtimes", json_body=body, idempotent=True)
        return dict(data["labels"])

    # --- admin -----------------------------------------------------------------


def _jsonable(options: Mapping[str, Any]) -> JsonDict:
    out: JsonDict = {}
    for key, value in options.items():
        if value is None:
            continue
        out[key] = value.isoformat() if hasattr(value, "isoformat") else value
    return out
