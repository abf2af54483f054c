"""``CONVEYOR_UNSERVED_TASK_TIMEOUT_SECONDS``: a pending task no live node runs is
failed ``no_worker`` once it has waited that long, across a server restart; a task
some live node runs is left alone. On both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conveyor.clock import ManualClock
from conveyor.domain.access import Principal
from conveyor.domain.states import NodeHealth, Role, TaskStatus
from conveyor.duties.unserved import UnservedTimeout
from conveyor.services.nodes import NodeService, NodeSpec
from conveyor.services.tasks import TaskService, TaskSpec
from conveyor.store import nodes as node_store
from conveyor.store import tasks as task_store
from tests.server import runtime, serve_api, wait_until
from tests.server import test_settings as make_settings

TIMEOUT = 1.5


async def test_an_unserved_task_fails_after_the_timeout_even_across_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, unserved_task_timeout_seconds=TIMEOUT)
    async with serve_api(settings) as api:
        admin, user = await api.admin_headers(), await api.user_headers("waiter")
        await api.create_node(admin, node_id="mailer", task_types=["email_send"])
        typo = await api.submit(user, task_type="emial_send")
        served = await api.submit(user, task_type="email_send")
    # The first server is gone before the timeout: the next one must not start over.
    async with serve_api(settings) as api:
        user = await api.user_headers("waiter")

        async def failed() -> dict[str, Any] | None:
            got = (await api.http.get(f"/tasks/{typo['task_id']}", headers=user)).json()
            return got if got["status"] != "pending" else None

        done = await wait_until(failed, 10, "the unserved task failed")
        assert done["status"] == "failed", done
        assert done["error"]["code"] == "no_worker" and "emial_send" in done["error"]["message"]
        waited = datetime.fromisoformat(done["finished_at"]) - datetime.fromisoformat(
            done["created_at"]
        )
        assert waited >= timedelta(seconds=TIMEOUT), waited
        # Past the timeout twice over, the task a live node runs still waits for it.
        still = (await api.http.get(f"/tasks/{served['task_id']}", headers=user)).json()
        assert still["status"] == "pending" and still["waiting_for_worker"] is None
        assert datetime.now(UTC) - datetime.fromisoformat(still["created_at"]) > timedelta(
            seconds=TIMEOUT
        )


async def test_the_wait_counts_from_when_the_last_node_that_runs_it_was_seen(
    database_url: str, tmp_path: Path
) -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    clock = ManualClock(start)
    async with runtime(database_url, tmp_path, clock) as rt:
        rt.settings.unserved_task_timeout_seconds = 300
        admin = Principal("admin", Role.ADMIN, "admin")
        await NodeService(rt).register(
            admin, NodeSpec(name="gpu", node_id="gpu", task_types=["gpu"])
        )
        user = Principal("u1", Role.USER, "u1")
        created = await TaskService(rt).create(user, [TaskSpec(task_type="gpu")])
        assert isinstance(created, list)
        task_id = created[0].id
        # The node served it until ten minutes in, then died.
        async with rt.db.write() as conn:
            await node_store.update_node(
                conn, "gpu", health=NodeHealth.DEAD, last_seen=start + timedelta(minutes=10)
            )
        duty = UnservedTimeout(rt)
        assert await duty.run_once(start + timedelta(minutes=14)) == 0
        async with rt.db.read() as conn:
            task = await task_store.get_task(conn, task_id)
        assert task is not None and task.status is TaskStatus.PENDING
        assert await duty.run_once(start + timedelta(minutes=15, seconds=1)) == 1
        async with rt.db.read() as conn:
            task = await task_store.get_task(conn, task_id)
        assert task is not None and task.status is TaskStatus.FAILED
        assert task.error is not None and task.error["code"] == "no_worker"


async def test_off_by_default(database_url: str, tmp_path: Path) -> None:
    async with runtime(database_url, tmp_path) as rt:
        assert rt.settings.unserved_task_timeout_seconds is None
        created = await TaskService(rt).create(
            Principal("u1", Role.USER, "u1"), [TaskSpec(task_type="x")]
        )
        assert isinstance(created, list)
        later = datetime.now(UTC) + timedelta(days=365)
        assert await UnservedTimeout(rt).run_once(later) == 0
