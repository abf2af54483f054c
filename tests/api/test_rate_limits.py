"""Rate limits that hold: real 429s from a real server with limits on.

Keyed on the peer unless the operator trusts a proxy; per account on logins; the
IETF draft headers on every limited response; Redis trouble fails /auth closed
and the rest open, and Redis down at start-up degrades instead of stopping the API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.redis_process import private_redis
from tests.server import ADMIN, Api, serve_api
from tests.server import test_settings as settings_for

STRICT = "strict"  # seed 003: capacity 3, refilled at 0.1/s
WRONG = {"username": "admin", "password": "wrong-password"}


@pytest.fixture
async def sqlite_url(sqlite_factory: Any) -> str:
    return str(await sqlite_factory.new())


@asynccontextmanager
async def limited(url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[Api]:
    settings = settings_for(
        url, tmp_path, rate_limits_enabled=True, argon2_memory_kib=1024, **overrides
    )
    async with serve_api(settings) as api:
        yield api


async def _login(api: Api, forwarded: str | None = None, **body: str) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return await api.http.post("/auth/login", json=body or WRONG, headers=headers)


async def test_auth_budget_per_address_gives_429_with_headers(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with limited(sqlite_url, tmp_path, rate_limit_auth=STRICT) as api:
        answers = [await _login(api) for _ in range(4)]
        assert [r.status_code for r in answers] == [401, 401, 401, 429]
        for r, left in zip(answers[:3], [2, 1, 0], strict=True):
            # Counted per address and, the address allowing it, per account too.
            assert r.headers["RateLimit-Policy"] == '"auth";q=3;w=30, "login";q=10;w=60'
            assert r.headers["RateLimit"].startswith(f'"auth";r={left};t=')
            assert f'"login";r={9 - (2 - left)};t=' in r.headers["RateLimit"]
        refused = answers[-1]
        assert refused.headers["RateLimit-Policy"] == '"auth";q=3;w=30'
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        assert refused.headers["RateLimit"] == f'"auth";r=0;t={refused.headers["Retry-After"]}'


async def test_forwarded_for_is_ignored_without_trusted_proxies(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with limited(sqlite_url, tmp_path, rate_limit_auth=STRICT) as api:
        codes = [(await _login(api, f"203.0.113.{i}")).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]


async def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_hop(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with limited(
        sqlite_url,
        tmp_path,
        rate_limit_auth=STRICT,
        rate_limit_login="generous",
        trusted_proxies="127.0.0.1, 10.0.0.0/8",
    ) as api:
        # Separate clients behind the proxy have separate budgets...
        for i in range(4):
            assert (await _login(api, f"203.0.113.{i}")).status_code == 401
        # ...and one client cannot escape its own by prepending spoofed hops.
        spoofed = [f"198.51.100.{i}, 192.0.2.9, 10.1.2.3" for i in range(4)]
        codes = [(await _login(api, hops)).status_code for hops in spoofed]
        assert codes == [401, 401, 401, 429]


async def test_guesses_at_one_account_from_many_addresses_are_limited(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with limited(
        sqlite_url, tmp_path, rate_limit_login=STRICT, trusted_proxies="127.0.0.1"
    ) as api:
        codes = [(await _login(api, f"203.0.113.{i}")).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]
        refused = await _login(api, "203.0.113.200")
        assert '"login";r=0' in refused.headers["RateLimit"]
        # Another account is not affected by the first one's budget.
        other = await _login(api, "203.0.113.201", username="someone", password="x" * 10)
        assert other.status_code == 401


async def test_api_routes_carry_the_headers_and_limit_per_principal(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with limited(sqlite_url, tmp_path, rate_limit_api="3,0.1") as api:
        headers = await api.admin_headers()
        paths = ["/tasks/nope", "/tasks", "/tasks", "/tasks"]
        answers = [await api.http.get(path, headers=headers) for path in paths]
        assert [r.status_code for r in answers] == [404, 200, 200, 429]
        # A refusal of another kind (404) is counted and carries the headers too.
        for r, left in zip(answers, [2, 1, 0, 0], strict=True):
            assert r.headers["RateLimit-Policy"] == '"api";q=3;w=30'
            assert r.headers["RateLimit"].startswith(f'"api";r={left};t=')


async def test_redis_down_at_run_time_fails_auth_closed_and_the_rest_open(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with (
        private_redis(tmp_path) as redis,
        limited(sqlite_url, tmp_path, redis_url=redis.url) as api,
    ):
        ready = (await api.http.get(api.base_url + "/readyz")).json()
        assert ready["rate_limits"] == "shared"
        headers = await api.admin_headers()
        redis.kill()
        refused = await _login(api, username=ADMIN[0], password=ADMIN[1])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert "Retry-After" in refused.headers
        served = await api.http.get("/tasks", headers=headers)
        assert served.status_code == 200, served.text
        ready = (await api.http.get(api.base_url + "/readyz")).json()
        assert ready == {"status": "ready", "database": "ok", "rate_limits": "failing"}


async def test_redis_down_at_start_up_degrades_to_per_replica_limits(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with private_redis(tmp_path) as redis:
        url = redis.url
        redis.kill()
        async with limited(sqlite_url, tmp_path, redis_url=url, rate_limit_auth=STRICT) as api:
            ready = (await api.http.get(api.base_url + "/readyz")).json()
            assert ready["rate_limits"] == "degraded"
            codes = [(await _login(api)).status_code for _ in range(4)]
            assert codes == [401, 401, 401, 429]
