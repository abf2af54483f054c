"""Tokens die with their credential and with their session, and nothing revives them."""

from __future__ import annotations

import jwt

from tests.server import Api


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _tasks_status(api: Api, token: str) -> int:
    return (await api.http.get("/tasks", headers=_bearer(token))).status_code


async def test_a_node_deleted_and_registered_again_does_not_revive_old_tokens(api: Api) -> None:
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="phoenix")
    old = await api.node_headers(node_id, secret)
    assert (await api.http.post("/nodes/heartbeat", headers=old)).status_code == 200
    assert (await api.http.delete(f"/nodes/{node_id}", headers=admin)).status_code == 200
    assert (await api.http.post("/nodes/heartbeat", headers=old)).status_code == 401
    again_id, again_secret = await api.create_node(admin, node_id="phoenix")
    assert again_id == node_id and again_secret != secret
    # The old node's token names the same id; its credential version must not
    # match the new node's (versions do not restart at 1).
    assert (await api.http.post("/nodes/heartbeat", headers=old)).status_code == 401
    new = await api.node_headers(again_id, again_secret)
    assert (await api.http.post("/nodes/heartbeat", headers=new)).status_code == 200
    old_cv = jwt.decode(old["Authorization"][7:], options={"verify_signature": False})["cv"]
    new_cv = jwt.decode(new["Authorization"][7:], options={"verify_signature": False})["cv"]
    assert old_cv != new_cv and new_cv != 1


async def test_logout_ends_the_sessions_access_tokens_and_no_other(api: Api) -> None:
    await api.user_headers("leaver")
    ending = await api.login("leaver", "user-password-1")
    staying = await api.login("leaver", "user-password-1")
    assert await _tasks_status(api, ending["access_token"]) == 200
    r = await api.http.post("/auth/logout", json={"refresh_token": ending["refresh_token"]})
    assert r.status_code == 204
    assert await _tasks_status(api, ending["access_token"]) == 401
    assert await _tasks_status(api, staying["access_token"]) == 200


async def test_refresh_reuse_ends_the_familys_access_tokens(api: Api) -> None:
    await api.user_headers("victim")
    first = await api.login("victim", "user-password-1")
    r = await api.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    rotated = r.json()
    assert await _tasks_status(api, rotated["access_token"]) == 200
    reuse = await api.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    for token in (first["access_token"], rotated["access_token"]):
        assert await _tasks_status(api, token) == 401
