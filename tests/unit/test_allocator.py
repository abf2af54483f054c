"""The server fixes glibc's mmap threshold (api/allocator.py), unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = "from conveyor.api.allocator import fix_mmap_threshold; print(fix_mmap_threshold())"


def _run(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_glibc_takes_the_threshold() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    # This machine's Python runs on glibc; mallopt answers 1 when it took the value.
    assert _run(env) == "True"


def test_an_operators_own_setting_wins() -> None:
    assert _run({**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}) == "False"
