"""deploy/compose.yaml, without Docker: valid against the compose-spec JSON schema
(check-jsonschema's vendored copy), and wired as docs/deploy.md says: migrations once
before the API, two API replicas behind the proxy, scalable workers, real commands and
settings only."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.variables import read_by

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
CHECK_JSONSCHEMA = shutil.which(
    "check-jsonschema", path=str(Path(sys.executable).parent)
) or shutil.which("check-jsonschema")
CONVEYOR_SERVICES = ("migrate", "api", "worker")


def _services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    if CHECK_JSONSCHEMA is None:
        pytest.skip("check-jsonschema is missing: ./scripts/setup.sh installs it")
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_matches_the_compose_spec(tmp_path: Path) -> None:
    result = _validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    # The schema does catch a mistake of the kind that matters here.
    broken = COMPOSE.read_text().replace(
        "condition: service_completed_successfully", "condition: completed", 1
    )
    (tmp_path / "compose.yaml").write_text(broken)
    assert _validate(tmp_path / "compose.yaml").returncode != 0


def test_migrations_run_once_before_two_api_replicas() -> None:
    services = _services()
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    api = services["api"]
    assert api["deploy"]["replicas"] == 2
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Replicas share the data directory (artifacts are files in it).
    assert api["volumes"] == services["migrate"]["volumes"] == ["conveyor-data:/var/lib/conveyor"]


def test_proxy_fronts_the_replicas_and_is_the_only_trusted_one() -> None:
    services = _services()
    proxy = services["proxy"]
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"
    assert "ports" not in services["api"], "clients reach the API through the proxy only"
    (mount,) = proxy["volumes"]
    source = mount.split(":")[0]
    conf = (DEPLOY / source).read_text()
    assert re.search(r"server\s+api:8080\b", conf), conf
    assert "proxy_buffering off;" in conf  # event streams
    assert "X-Forwarded-For $remote_addr;" in conf
    address = proxy["networks"]["default"]["ipv4_address"]
    assert services["api"]["environment"]["CONVEYOR_TRUSTED_PROXIES"] == address


def test_workers_scale() -> None:
    worker = _services()["worker"]
    # --scale needs containers without fixed names or host ports.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][0] == "worker"
    assert worker["environment"]["CONVEYOR_SERVER_URL"] == "http://proxy:8080"
    assert "CONVEYOR_DATABASE_URL" not in worker["environment"], "workers never see the DB"
    assert worker["stop_grace_period"] == "40s"
    # The Dockerfile's lean target; the API and the migrations build the server's.
    assert worker["build"]["target"] == "worker"
    services = _services()
    assert services["api"]["build"]["target"] == services["migrate"]["build"]["target"] == "server"


def test_commands_and_settings_are_real() -> None:
    services = _services()
    for name in CONVEYOR_SERVICES:
        service = services[name]
        command = service["command"]
        unknown = set(service["environment"]) - read_by(command[0])
        assert not unknown, f"{name}: `conveyor {command[0]}` does not read {unknown}"
        words = [w for w in command if not w.startswith("--")][:2]
        help_run = subprocess.run(
            [sys.executable, "-m", "conveyor.cli.main", *words, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert help_run.returncode == 0, f"{name}: {command}: {help_run.stderr}"
        for option in (w for w in command if w.startswith("--")):
            assert option in help_run.stdout, f"{name}: {command}: no {option}"


def test_every_variable_is_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    example = {
        line.partition("=")[0]
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used and used <= example, f"not in deploy/.env.example: {sorted(used - example)}"
