"""``GET /tasks/{id}`` says when a pending task has no live node that could run it."""

from __future__ import annotations

from tests.server import Api


async def test_unserved_task_shows_waiting_for_worker(api: Api) -> None:
    admin = await api.admin_headers()
    user = await api.user_headers("waiter")
    await api.create_node(admin, node_id="mailer", task_types=["email_send"])
    typo = await api.submit(user, task_type="emial_send")
    served = await api.submit(user, task_type="send_email")  # an alias of email_send
    labelled = await api.submit(user, task_type="email_send", required_labels={"gpu": "yes"})

    async def reason(task: dict[str, str]) -> str | None:
        r = await api.http.get(f"/tasks/{task['task_id']}", headers=user)
        assert r.status_code == 200
        value = r.json()["waiting_for_worker"]
        return None if value is None else str(value)

    typo_reason = await reason(typo)
    assert typo_reason is not None and "emial_send" in typo_reason
    assert await reason(served) is None
    assert "labels" in str(await reason(labelled))
    listed = (await api.http.get("/tasks", headers=user)).json()["tasks"]
    assert all(t["waiting_for_worker"] is None for t in listed), "only the single read says"

    # A disabled node serves nothing; a node without types serves every type.
    await api.http.patch("/nodes/mailer", json={"status": "disabled"}, headers=admin)
    assert await reason(served) is not None
    await api.create_node(admin, node_id="anything")
    assert await reason(typo) is None
