"""The two install shapes, from the built wheel in a fresh virtualenv: ``conveyor``
alone (SDK, worker, CLI: its worker runs a task against a real server) and
``conveyor[server]`` (the API server). The tests share the virtualenv and run in file
order: the last one adds the extra.

The virtualenv has no pip of its own: this environment's pip installs into it
(``pip --python``), with its cache, which keeps the test well under a minute."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import Api, free_port, process_settings, server_env, wait_until

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "argon2")


def _run(cmd: list[str | Path], timeout: float = 300, **kwargs: object) -> str:
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stderr[-3000:]}"
    return result.stdout


def _pip_into(env_dir: Path, *args: str) -> None:
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", *args])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: hatchling is a dev dependency already, no build env to download.
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, ROOT])
    (built,) = out.glob("conveyor-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Path]:
    """A virtualenv with the wheel and no extras."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False)
    _pip_into(env_dir, str(wheel))
    yield env_dir


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "PYTHON"))}
    return {**env, **extra}


def _conveyor(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env_dir / "bin" / "conveyor"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
        cwd=env_dir,
    )


def test_wheel_has_every_module(wheel: Path) -> None:
    # hatchling leaves git-ignored files out: an ignore pattern that matches a
    # package folder ships a server that cannot start.
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    source = {
        str(path.relative_to(ROOT / "src"))
        for path in (ROOT / "src" / "conveyor").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert not source - shipped, f"left out of the wheel: {sorted(source - shipped)}"


def test_plain_install_is_the_sdk_and_the_worker(fresh_env: Path) -> None:
    python = str(fresh_env / "bin" / "python")
    installed = _run([python, "-c", "import importlib.util as u, sys; print(sys.prefix)"])
    assert Path(installed.strip()) == fresh_env
    missing = _run(
        [
            python,
            "-c",
            f"import importlib.util as u; print([m for m in {SERVER_ONLY!r} "
            "if u.find_spec(m) is None])",
        ]
    )
    assert missing.strip() == repr(list(SERVER_ONLY)), "the plain install pulled in the server"

    help_text = _conveyor(fresh_env, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "serve" in help_text.stdout and "worker" in help_text.stdout
    worker_help = _conveyor(fresh_env, "worker", "--help")
    assert worker_help.returncode == 0, worker_help.stderr
    assert "--concurrency" in worker_help.stdout
    _run(
        [
            python,
            "-c",
            "import conveyor.client, conveyor.client.pushkit, conveyor.worker, conveyor.handlers",
        ]
    )

    for name, args in (
        ("serve", ["serve"]),
        ("db upgrade", ["db", "upgrade"]),
        ("demo", ["demo", "--exit-after-summary"]),
    ):
        result = _conveyor(fresh_env, *args)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        message = " ".join(result.stderr.split())  # Rich wraps at the terminal's width
        assert f"`conveyor {name}` needs the server" in message, message
        assert "install conveyor[server]: pip install 'conveyor[server]'" in message
        assert "Traceback" not in result.stderr


async def test_plain_install_runs_tasks(fresh_env: Path, api: Api, tmp_path: Path) -> None:
    """A worker from the plain install, built-in handlers and all, against a server."""
    admin = await api.admin_headers()
    node_id, secret = await api.create_node(admin, node_id="plain", task_types=["noop"])
    user = await api.user_headers("plain-user")
    env = _clean_env(
        CONVEYOR_SERVER_URL=api.base_url,
        CONVEYOR_NODE_ID=node_id,
        CONVEYOR_NODE_SECRET=secret,
        CONVEYOR_POLL_WAIT_SECONDS="1",
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            str(fresh_env / "bin" / "conveyor"),
            "worker",
            "--builtin",
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
    try:
        task = await api.submit(user, task_type="noop", params={})

        async def completed() -> bool:
            assert worker.returncode is None, log_path.read_text()[-3000:]
            response = await api.http.get(f"/tasks/{task['task_id']}", headers=user)
            return bool(response.json()["status"] == "completed")

        await wait_until(completed, 30, "the plain install's worker to run the task")
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 30)
    assert worker.returncode == 0, log_path.read_text()[-3000:]
    assert "Traceback" not in log_path.read_text()


@pytest.fixture
def migrated_server_env(fresh_env: Path, wheel: Path, tmp_path: Path) -> dict[str, str]:
    """The same virtualenv with the ``server`` extra added, and a migrated database."""
    _pip_into(fresh_env, f"conveyor[server] @ {wheel.as_uri()}")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = server_env(process_settings(f"sqlite:///{data_dir / 'conveyor.db'}", data_dir))
    env.pop("PYTHONPATH", None)
    migrated = _run([fresh_env / "bin" / "conveyor", "db", "upgrade"], env=env, cwd=tmp_path)
    assert migrated.startswith("database at revision "), migrated
    return env


async def test_server_extra_serves(
    fresh_env: Path, migrated_server_env: dict[str, str], tmp_path: Path
) -> None:
    env = migrated_server_env
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(fresh_env / "bin" / "conveyor"), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def ready() -> dict[str, str] | None:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                try:
                    response = await client.get("/readyz")
                except httpx.TransportError:
                    return None
                return response.json() if response.status_code == 200 else None

            body = await wait_until(ready, 60, "conveyor serve from the wheel to be ready")
            assert body["status"] == "ready" and body["database"] == "ok"
    finally:
        server.terminate()
        server.wait(15)
        log.close()
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal it caught.
    output = (tmp_path / "serve.log").read_text()
    assert server.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert "Traceback" not in output, output[-3000:]
