"""Account administration (issue 16, item 7): admins list, disable, enable, re-role and
reset passwords, and each change ends the account's tokens at once; registration is
open, closed or by invite; a login re-hashes a password made with older argon2 costs.
Real server, both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from conveyor.store.database import Database
from conveyor.store.users import get_user_by_name
from tests.server import ADMIN, Api, serve_api
from tests.server import test_settings as settings_for

PASSWORD = "user-password-1"


async def _user_id(api: Api, admin: dict[str, str], username: str) -> str:
    users = (await api.http.get("/admin/users", headers=admin)).json()["users"]
    return next(u["user_id"] for u in users if u["username"] == username)


async def test_admins_list_disable_enable_and_re_role_users(api: Api) -> None:
    admin = await api.admin_headers()
    alice = await api.user_headers("alice")
    await api.user_headers("bob")
    listed = await api.http.get("/admin/users?limit=2", headers=admin)
    assert listed.status_code == 200 and len(listed.json()["users"]) == 2
    assert listed.json()["next_offset"] == 2
    rest = await api.http.get("/admin/users?limit=2&offset=2", headers=admin)
    assert [u["username"] for u in rest.json()["users"]] == ["bob"]
    assert rest.json()["next_offset"] is None
    alice_id = await _user_id(api, admin, "alice")

    r = await api.http.patch(f"/admin/users/{alice_id}", json={"disabled": True}, headers=admin)
    assert r.status_code == 200 and r.json()["disabled"] is True
    # Her token dies at once, and she cannot log in again.
    assert (await api.http.get("/tasks", headers=alice)).status_code == 401
    r = await api.http.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 401
    r = await api.http.patch(f"/admin/users/{alice_id}", json={"disabled": False}, headers=admin)
    assert r.json()["disabled"] is False
    alice = await api.user_headers("alice")
    assert (await api.http.get("/tasks", headers=alice)).status_code == 200

    r = await api.http.patch(f"/admin/users/{alice_id}", json={"role": "admin"}, headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert (await api.http.get("/tasks", headers=alice)).status_code == 401  # old role's token
    alice = await api.user_headers("alice")
    assert (await api.http.get("/admin/users", headers=alice)).status_code == 200

    # Users and nodes may not administer; unknown ids are 404; bad bodies 400.
    bob = await api.user_headers("bob")
    assert (await api.http.get("/admin/users", headers=bob)).status_code == 403
    r = await api.http.patch("/admin/users/nobody", json={"disabled": True}, headers=admin)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "user_not_found")
    r = await api.http.patch(f"/admin/users/{alice_id}", json={"role": "node"}, headers=admin)
    assert r.status_code == 400
    r = await api.http.patch(f"/admin/users/{alice_id}", json={"disabled": "yes"}, headers=admin)
    assert r.status_code == 400


async def test_the_last_enabled_admin_cannot_be_removed(api: Api) -> None:
    admin = await api.admin_headers()
    admin_id = await _user_id(api, admin, ADMIN[0])
    for change in ({"disabled": True}, {"role": "user"}):
        r = await api.http.patch(f"/admin/users/{admin_id}", json=change, headers=admin)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "last_admin")
    await api.user_headers("carol")
    carol_id = await _user_id(api, admin, "carol")
    await api.http.patch(f"/admin/users/{carol_id}", json={"role": "admin"}, headers=admin)
    carol = await api.user_headers("carol")
    # Two admins demoting each other at once: one wins, one admin is left.
    answers = await asyncio.gather(
        api.http.patch(f"/admin/users/{carol_id}", json={"role": "user"}, headers=admin),
        api.http.patch(f"/admin/users/{admin_id}", json={"role": "user"}, headers=carol),
    )
    assert sorted(r.status_code for r in answers) in ([200, 409], [200, 401]), [
        r.text for r in answers
    ]
    users = (await api.http.get("/admin/users", headers=await _any_admin(api))).json()["users"]
    assert sum(u["role"] == "admin" and not u["disabled"] for u in users) == 1


async def _any_admin(api: Api) -> dict[str, str]:
    for name, password in (ADMIN, ("carol", PASSWORD)):
        r = await api.http.post("/auth/login", json={"username": name, "password": password})
        if r.status_code == 200 and r.json()["role"] == "admin":
            return {"Authorization": f"Bearer {r.json()['access_token']}"}
    raise AssertionError("no admin left")


async def test_reset_password_ends_the_old_password_and_its_tokens(api: Api) -> None:
    admin = await api.admin_headers()
    dave = await api.user_headers("dave")
    dave_id = await _user_id(api, admin, "dave")
    r = await api.http.post(f"/admin/users/{dave_id}/reset-password", json={}, headers=admin)
    assert r.status_code == 200, r.text
    generated = r.json()["password"]
    assert generated and len(generated) >= 20
    assert (await api.http.get("/tasks", headers=dave)).status_code == 401
    r = await api.http.post("/auth/login", json={"username": "dave", "password": PASSWORD})
    assert r.status_code == 401
    assert (await api.login("dave", generated))["role"] == "user"
    r = await api.http.post(
        f"/admin/users/{dave_id}/reset-password", json={"password": "chosen-pass-1"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["password"] is None
    await api.login("dave", "chosen-pass-1")
    r = await api.http.post(
        f"/admin/users/{dave_id}/reset-password", json={"password": "short"}, headers=admin
    )
    assert r.status_code == 400


async def _register(api: Api, username: str, **extra: str) -> httpx.Response:
    body = {"username": username, "password": PASSWORD, **extra}
    return await api.http.post("/auth/register", json=body)


async def test_closed_registration_refuses_everyone(database_url: str, tmp_path: Path) -> None:
    async with serve_api(settings_for(database_url, tmp_path, registration="closed")) as api:
        r = await _register(api, "eve")
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
        admin = await api.admin_headers()  # the operator's admin still exists
        users = (await api.http.get("/admin/users", headers=admin)).json()["users"]
        assert [u["username"] for u in users] == [ADMIN[0]]


async def test_invite_codes_work_once_and_until_they_expire(
    database_url: str, tmp_path: Path
) -> None:
    async with serve_api(settings_for(database_url, tmp_path, registration="invite")) as api:
        admin = await api.admin_headers()
        assert (await _register(api, "frank")).json()["error"]["code"] == "invite_required"
        r = await api.http.post("/admin/invites", json={}, headers=admin)
        assert r.status_code == 201, r.text
        code = r.json()["code"]
        wrong = await _register(api, "frank", invite_code="not-a-code")
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "invite_invalid")
        assert (await _register(api, "frank", invite_code=code)).status_code == 201
        used = await _register(api, "grace", invite_code=code)
        assert (used.status_code, used.json()["error"]) == (
            403,
            {**wrong.json()["error"], "request_id": used.json()["error"]["request_id"]},
        )
        # A refused registration leaves no account behind.
        r = await api.http.post("/auth/login", json={"username": "grace", "password": PASSWORD})
        assert r.status_code == 401
        invites = (await api.http.get("/admin/invites", headers=admin)).json()["invites"]
        assert len(invites) == 1 and invites[0]["used_by"] is not None
        assert code not in str(invites)  # only its hash is kept
        tokens = await api.login("frank", PASSWORD)
        user = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await api.http.post("/admin/invites", json={}, headers=user)).status_code == 403


async def test_login_rehashes_a_password_made_with_older_costs(
    database_url: str, tmp_path: Path
) -> None:
    weak = settings_for(database_url, tmp_path, argon2_memory_kib=1024, argon2_time_cost=1)
    async with serve_api(weak) as api:
        await api.user_headers("heidi")
    strong = settings_for(database_url, tmp_path, argon2_memory_kib=4096, argon2_time_cost=2)
    db = Database(strong.database_url)
    try:
        async with db.read() as conn:
            before = await get_user_by_name(conn, "heidi")
        async with serve_api(strong) as api:
            tokens = await api.login("heidi", PASSWORD)
            # The session just issued survives the re-hash: not a credential change.
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert (await api.http.get("/tasks", headers=headers)).status_code == 200
            await api.login("heidi", PASSWORD)
        async with db.read() as conn:
            after = await get_user_by_name(conn, "heidi")
    finally:
        await db.dispose()
    assert before is not None and after is not None
    assert "m=1024,t=1" in before.password_hash and "m=4096,t=2" in after.password_hash
    assert after.credential_version == before.credential_version
