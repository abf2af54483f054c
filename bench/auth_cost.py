"""Per-request authentication cost: ``AuthService.authenticate`` in a loop, in-process.

    .venv/bin/python bench/auth_cost.py --db postgres --requests 5000
    .venv/bin/python bench/auth_cost.py --db sqlite --cache-seconds 0   # a read per request

Prints microseconds per authenticated request for a user's and a node's access token.
Run it with ``PYTHONPATH=<another checkout>/src`` to measure another version's code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_database

from conveyor.api.app import build_runtime
from conveyor.domain.access import Principal
from conveyor.domain.states import Role
from conveyor.services.auth import AuthService
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.settings import Settings
from conveyor.store.migrate import upgrade

SECRET = "bench-secret-" + "x" * 40


async def per_request_us(auth: AuthService, token: str, requests: int) -> float:
    await auth.authenticate(token)  # warm: the first read fills the cache
    started = time.perf_counter()
    for _ in range(requests):
        await auth.authenticate(token)
    return (time.perf_counter() - started) / requests * 1e6


async def main(db: str, requests: int, cache_seconds: float) -> None:
    async with fresh_database(db) as url:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database_url=url,
                data_dir=Path(tmp),
                jwt_secret=SECRET,
                argon2_memory_kib=1024,
                argon2_time_cost=1,
                auth_cache_seconds=cache_seconds,
            )
            rt = build_runtime(settings)
            await upgrade(rt.db)
            await rt.bus.start()
            try:
                auth = AuthService(rt)
                await auth.register("bench-user", "bench-password-1")
                user_token = (await auth.login("bench-user", "bench-password-1")).access_token
                admin = Principal("bench-admin", Role.ADMIN, "admin")
                node, secret = await NodeService(rt).register(admin, NodeSpec(name="bench"))
                node_token = (await auth.node_login(node.id, secret)).access_token
                user_us = await per_request_us(auth, user_token, requests)
                node_us = await per_request_us(auth, node_token, requests)
            finally:
                await rt.bus.close()
                await rt.db.dispose()
    print(
        f"{db}: user token {user_us:.1f} us/request ({1e6 / user_us:,.0f}/s), "
        f"node token {node_us:.1f} us/request ({1e6 / node_us:,.0f}/s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--cache-seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.requests, args.cache_seconds))
