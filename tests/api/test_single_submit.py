"""The single submit (services/tasks.py ``_submit_one``: on PostgreSQL one statement
outside a transaction, store/submit.py; on SQLite the transactional path) answers
exactly what a read of the stored task answers, and a refused submit leaves neither
the task nor its idempotency key behind. Real server, both databases."""

from __future__ import annotations

from tests.server import Api

# What only a read of one task finds (which live nodes serve its type, its ended
# runs), not part of the stored task a submit answers with.
READ_ONLY = {"waiting_for_worker", "attempt_history"}


async def test_the_answer_is_what_a_read_returns(api: Api) -> None:
    user = await api.user_headers("alice")
    body = {
        "task_type": "noop",
        "params": {"b": [1, 2.5, None], "a": {"nested": "é"}},
        "metadata": {"source": "test"},
        "priority": 3,
        "required_labels": {"gpu": "true"},
        "delay_seconds": 30,
        "timeout_seconds": 60,
        "max_attempts": 4,
    }
    for key in ("", "answer-1"):
        headers = {**user, **({"Idempotency-Key": key} if key else {})}
        created = await api.http.post("/tasks", json=body, headers=headers)
        assert created.status_code == 201, created.text
        read = await api.http.get(f"/tasks/{created.json()['task_id']}", headers=user)
        assert read.status_code == 200
        shown = {k: v for k, v in read.json().items() if k not in READ_ONLY}
        assert shown == {k: v for k, v in created.json().items() if k not in READ_ONLY}
        assert created.json()["status"] == "pending" and created.json()["version"] == 1


async def test_a_repeat_replays_and_another_body_is_refused(api: Api) -> None:
    user = await api.user_headers("alice")
    headers = {**user, "Idempotency-Key": "repeat-1"}
    first = await api.http.post("/tasks", json={"task_type": "noop"}, headers=headers)
    again = await api.http.post("/tasks", json={"task_type": "noop"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = await api.http.post("/tasks", json={"task_type": "other"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    listed = (await api.http.get("/tasks", headers=user)).json()["tasks"]
    assert [t["task_id"] for t in listed] == [first.json()["task_id"]]


async def test_a_duplicate_task_id_stores_no_key(api: Api) -> None:
    user = await api.user_headers("alice")
    await api.submit(user, task_id="fixed-id")
    headers = {**user, "Idempotency-Key": "dup-1"}
    refused = await api.http.post(
        "/tasks", json={"task_type": "noop", "task_id": "fixed-id"}, headers=headers
    )
    assert refused.status_code == 409, refused.text
    # Nothing was kept under the key: the same key with a good body now succeeds.
    retried = await api.http.post(
        "/tasks", json={"task_type": "noop", "task_id": "new-id"}, headers=headers
    )
    assert retried.status_code == 201, retried.text
    assert retried.json()["task_id"] == "new-id"
    ids = {t["task_id"] for t in (await api.http.get("/tasks", headers=user)).json()["tasks"]}
    assert ids == {"fixed-id", "new-id"}
