"""``conveyor admin`` as a subprocess: accounts through the API, and reset-password
straight on the database (a locked-out operator's way back in). Both databases."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.cli.test_cli import REPO, conveyor, parsed
from tests.server import ADMIN, serve_api
from tests.server import test_settings as settings_for


async def test_admin_commands_list_disable_role_and_reset(
    database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(database_url, tmp_path)
    async with serve_api(settings) as api:
        await api.user_headers("ivan")
        server = ["--server", api.base_url]
        code, _, err = await conveyor(
            tmp_path, "login", *server, "--username", ADMIN[0], "--password", ADMIN[1]
        )
        assert code == 0, err
        code, out, _ = await conveyor(tmp_path, "admin", "users", "--json")
        assert code == 0
        ivan = next(u for u in parsed(out) if u["username"] == "ivan")
        code, out, _ = await conveyor(tmp_path, "admin", "disable", ivan["user_id"], "--json")
        assert code == 0 and parsed(out)[0]["disabled"] is True
        code, out, _ = await conveyor(tmp_path, "admin", "enable", ivan["user_id"])
        assert code == 0 and "ivan" in out
        code, out, _ = await conveyor(tmp_path, "admin", "role", ivan["user_id"], "root")
        assert code == 2, "a usage error"
        code, out, _ = await conveyor(tmp_path, "admin", "invite", "--json")
        assert code == 0 and len(parsed(out)["code"]) > 20

        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        env.update(
            CONVEYOR_DATABASE_URL=database_url,
            CONVEYOR_DATA_DIR=str(tmp_path / "cli-data"),
            CONVEYOR_NEW_PASSWORD="recovered-pass-1",
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "conveyor.cli.main",
            "admin",
            "reset-password",
            "ivan",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out_b, err_b = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err_b.decode()
        assert "recovered-pass-1" not in out_b.decode() + err_b.decode()
        # The server trusts cached credential versions for auth_cache_seconds; a
        # fresh login reads the new hash at once.
        assert (await api.login("ivan", "recovered-pass-1"))["role"] == "user"
        r = await api.http.post(
            "/auth/login", json={"username": "ivan", "password": "user-password-1"}
        )
        assert r.status_code == 401
        env["CONVEYOR_NEW_PASSWORD"] = "whatever-pass-1"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "conveyor.cli.main",
            "admin",
            "reset-password",
            "nobody",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1
