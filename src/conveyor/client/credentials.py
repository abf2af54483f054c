"""Logging in and keeping a fresh access token, as an ``httpx.Auth`` flow.

The flow works for the sync and the async httpx client alike: it logs in when it
has no token, refreshes shortly before expiry (users) or logs in again (nodes have
no refresh token), and on a ``401`` renews once and replays the request.

Only the answers the flow itself parses (logins, refreshes) are read into memory.
``requires_response_body = True`` would make httpx read *every* body before handing
it back, so an event stream would arrive only once the server closed it. A ``401``
is decided on its status alone; httpx reads and discards its body before replaying.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass

import httpx

from conveyor.client.errors import AuthenticationError, error_from_response

# Renew this long before the server would refuse the token.
EARLY_RENEW_SECONDS = 30


@dataclass(frozen=True, slots=True)
class UserLogin:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class NodeLogin:
    node_id: str
    secret: str


Credentials = UserLogin | NodeLogin


class TokenAuth(httpx.Auth):
    requires_response_body = False

    def __init__(
        self,
        api_prefix: str,
        credentials: Credentials | None = None,
        token: str | None = None,
    ) -> None:
        self.api_prefix = api_prefix.rstrip("/")
        self.credentials = credentials
        self.access_token = token
        self.refresh_token: str | None = None
        self.expires_at = float("inf") if token else 0.0
        self._lock = threading.Lock()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.auth_flow(request)
        sent = next(flow)
        while True:
            response = yield sent
            if self._is_auth_call(sent):
                response.read()
            try:
                sent = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self.auth_flow(request)
        sent = next(flow)
        while True:
            response = yield sent
            if self._is_auth_call(sent):
                await response.aread()
            try:
                sent = flow.send(response)
            except StopIteration:
                return

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._is_auth_call(request):
            yield request
            return
        if self.can_renew and (self.access_token is None or time.monotonic() >= self.expires_at):
            yield from self._renew(request)
        if self.access_token:
            request.headers["Authorization"] = f"Bearer {self.access_token}"
        response = yield request
        if response.status_code == 401 and self.can_renew:
            self.access_token = None
            yield from self._renew(request)
            request.headers["Authorization"] = f"Bearer {self.access_token}"
            yield request

    @property
    def can_renew(self) -> bool:
        return self.credentials is not None or self.refresh_token is not None

    def _is_auth_call(self, request: httpx.Request) -> bool:
        path = request.url.path
        return path.startswith(self.api_prefix + "/auth/") and not path.endswith("stream-ticket")

    def _renew(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.refresh_token:
            response = yield self._auth_request(
                request, "/auth/refresh", {"refresh_token": self.refresh_token}
            )
            if response.status_code == 200:
                self._store(response)
                return
            self.refresh_token = None
        creds = self.credentials
        if creds is None:
            raise AuthenticationError(401, "session_expired", "the session expired; log in again")
        if isinstance(creds, UserLogin):
            body = {"username": creds.username, "password": creds.password}
            response = yield self._auth_request(request, "/auth/login", body)
        else:
            body = {"node_id": creds.node_id, "node_secret": creds.secret}
            response = yield self._auth_request(request, "/auth/node/login", body)
        if response.status_code != 200:
            error = error_from_response(response)
            raise AuthenticationError(error.status_code, error.code, error.message, error.details)
        self._store(response)

    def _auth_request(
        self, original: httpx.Request, path: str, body: dict[str, str]
    ) -> httpx.Request:
        url = original.url.copy_with(path=self.api_prefix + path, query=None)
        return httpx.Request("POST", url, json=body)

    def _store(self, response: httpx.Response) -> None:
        data = response.json()
        with self._lock:
            self.access_token = data["access_token"]
            self.refresh_token = data.get("refresh_token") or None
            ttl = float(data.get("expires_in", 60))
            self.expires_at = time.monotonic() + max(1.0, ttl - EARLY_RENEW_SECONDS)
