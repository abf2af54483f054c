"""Auth negatives: every bad token is a 401; ownership is enforced everywhere."""

from __future__ import annotations

import base64
import json
import time

import jwt

from tests.server import TEST_SECRET, Api


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def _status(api: Api, token: str) -> int:
    r = await api.http.get("/tasks", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def test_bad_tokens_are_401(api: Api) -> None:
    login = await api.login("admin", "admin-password-1")
    good = login["access_token"]
    assert await _status(api, good) == 200
    claims = _claims(good)
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 100, "exp": now - 10}, TEST_SECRET, "HS256")
    header, _, signature = good.split(".")
    tampered = ".".join([header, _b64({**claims, "role": "admin", "sub": "someone"}), signature])
    none_alg = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])
    wrong_secret = jwt.encode(claims, "another-secret-" + "y" * 40, "HS256")
    refresh_as_access = login["refresh_token"]
    hs512 = jwt.encode(claims, TEST_SECRET + "z" * 30, "HS512")
    for token in (
        expired,
        tampered,
        none_alg,
        wrong_secret,
        refresh_as_access,
        hs512,
        "garbage",
        good + "x",
    ):
        assert await _status(api, token) == 401, token
    r = await api.http.get("/tasks")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    await api.user_headers("bob")
    first = await api.login("bob", "user-password-1")
    r = await api.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    reuse = await api.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    # The thief's reuse also ends the legitimate holder's newer token.
    r = await api.http.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401


async def test_logout_revokes_refresh(api: Api) -> None:
    await api.user_headers("carol")
    tokens = await api.login("carol", "user-password-1")
    r = await api.http.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 204
    r = await api.http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401


async def test_wrong_password_and_unknown_user(api: Api) -> None:
    await api.user_headers("dave")
    for user, pw in (("dave", "wrong-password"), ("nobody", "whatever-123")):
        r = await api.http.post("/auth/login", json={"username": user, "password": pw})
        assert r.status_code == 401


async def test_disabled_node_loses_its_live_token(api: Api) -> None:
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="n-off")
    node = await api.node_headers(node_id, secret)
    assert (await api.http.post("/nodes/heartbeat", headers=node)).status_code == 200
    r = await api.http.patch(f"/nodes/{node_id}", json={"status": "disabled"}, headers=admin)
    assert r.status_code == 200
    assert (await api.http.post("/nodes/heartbeat", headers=node)).status_code == 401
    r = await api.http.post("/auth/node/login", json={"node_id": node_id, "node_secret": secret})
    assert r.status_code == 401


async def test_rotated_secret_ends_old_secret_and_tokens(api: Api) -> None:
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="n-rot")
    node = await api.node_headers(node_id, secret)
    r = await api.http.patch(f"/nodes/{node_id}", json={"rotate_secret": True}, headers=admin)
    new_secret = r.json()["node_secret"]
    assert new_secret and new_secret != secret
    assert (await api.http.post("/nodes/heartbeat", headers=node)).status_code == 401
    r = await api.http.post("/auth/node/login", json={"node_id": node_id, "node_secret": secret})
    assert r.status_code == 401
    await api.node_headers(node_id, new_secret)


async def test_users_and_nodes_see_only_their_own(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    mallory = await api.user_headers("mallory")
    _, n1 = await api.new_node(admin, node_id="n1")
    _, n2 = await api.new_node(admin, node_id="n2")
    # Users cannot pin; an admin pins alice's task to n1.
    tid = (await api.submit(alice))["task_id"]
    r = await api.http.post(f"/tasks/{tid}/reassign", json={"node_id": "n1"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (await api.http.get(f"/tasks/{tid}", headers=mallory)).status_code == 404
    assert (await api.http.post(f"/tasks/{tid}/cancel", headers=mallory)).status_code == 404
    assert (await api.http.get(f"/tasks/{tid}/progress", headers=mallory)).status_code == 404
    assert (await api.http.get("/tasks", headers=mallory)).json()["tasks"] == []
    # Another node can neither see, claim, start nor finish n1's pinned task.
    assert (await api.http.get(f"/tasks/{tid}", headers=n2)).status_code == 404
    assert (await api.claim(n2))["tasks"] == []
    assert (await api.http.post(f"/tasks/{tid}/start", headers=n2)).status_code == 404
    (held,) = (await api.claim(n1))["tasks"]
    r = await api.http.post(f"/tasks/{tid}/complete", json={"version": held["version"]}, headers=n2)
    assert r.status_code == 404
    r = await api.http.post(f"/tasks/{tid}/progress", json={"data": {}}, headers=n2)
    assert r.status_code == 404
    # Roles: nodes cannot create tasks, users cannot use worker or admin endpoints.
    assert (await api.http.post("/tasks", json={"task_type": "x"}, headers=n1)).status_code == 403
    assert (await api.http.post("/worker/claim", json={}, headers=alice)).status_code == 403
    # A user sees only the nodes it owns (none here); the registry is the admins'.
    assert (await api.http.get("/nodes", headers=alice)).json()["nodes"] == []
    assert (await api.http.get("/nodes/n1", headers=alice)).status_code == 404
    cleanup = {"dead_for_seconds": 60}
    assert (await api.http.post("/nodes/cleanup", json=cleanup, headers=alice)).status_code == 403
    assert (await api.http.get(f"/tasks/{tid}", headers=n1)).status_code == 200
