"""Every ``conveyor ...`` line in docs/deploy.md's shell blocks is a real command
with real options: the walkthrough never invents a flag."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
GROUPS = {"db", "nodes", "admin", "jobs", "wallet"}


def _commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("conveyor "):
                commands.append(shlex.split(line)[1:])
    return commands


def test_the_walkthrough_has_commands() -> None:
    assert len(_commands()) >= 5


@pytest.mark.parametrize("words", _commands(), ids=lambda words: " ".join(words))
def test_command_and_options_exist(words: list[str]) -> None:
    path = words[:2] if words[0] in GROUPS else words[:1]
    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, f"conveyor {' '.join(path)}: {result.stderr}"
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert option in result.stdout, f"conveyor {' '.join(path)} has no {option}"
