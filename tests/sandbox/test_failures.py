"""The other ways a chunk fails, each with its code; and a machine that cannot sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.worker.sandbox import Chunk, Sandbox, SandboxConfig, SandboxError, SandboxUnavailable
from conveyor.worker.sandbox.errors import RETRYABLE
from tests.sandbox.conftest import small_config
from tests.worker.procs import REPO

CASES = [
    ("python", "def process(items):\n    raise ValueError('no good')\n", "sandbox_code_error"),
    ("python", "import ctypes\ndef process(items):\n    ctypes.string_at(0)\n", "sandbox_crashed"),
    ("python", "import os\ndef process(items):\n    os._exit(3)\n", "sandbox_crashed"),
    ("python", "def process(items):\n    return 'x' * 100_000\n", "sandbox_output_too_large"),
    ("python", "def process(items):\n    return {1j}\n", "sandbox_bad_result"),
    ("python", "def handle(items):\n    return 1\n", "sandbox_code_error"),
    ("python", "def process(items):\n    return 'a\\x00b'\n", "sandbox_bad_result"),
    ("python", "def process(items):\n    print('[' * 10**5)\n    return 1\n", None),
    (
        "python",
        "def process(items):\n    x = []\n    for _ in range(99):\n        x = [x]\n    return x\n",
        "sandbox_bad_result",
    ),
    ("node", "exports.process = () => { throw new Error('no good'); };\n", "sandbox_code_error"),
    ("node", "exports.process = () => 'x'.repeat(100000);\n", "sandbox_output_too_large"),
    ("node", "exports.process = () => { process.abort(); };\n", "sandbox_crashed"),
    ("node", "exports.process = () => 10n;\n", "sandbox_bad_result"),
]


@pytest.mark.parametrize(("runtime", "source", "code"), CASES)
async def test_failure_codes(
    bwrap_sandbox: Sandbox, runtime: str, source: str, code: str | None
) -> None:
    name = "main.py" if runtime == "python" else "main.js"
    bundle = bwrap_sandbox.bundles.add(f"{code}-{hash(source)}", name, source.encode())
    if code is None:  # junk on stdout is log, not the answer
        assert await bwrap_sandbox.run(Chunk(runtime, bundle, None, [1])) == 1
        return
    with pytest.raises(SandboxError) as caught:
        await bwrap_sandbox.run(Chunk(runtime, bundle, None, [1]))
    assert caught.value.code == code, str(caught.value)
    assert caught.value.retryable is RETRYABLE[code] is False


async def test_oversized_input_is_refused_before_starting(bwrap_sandbox: Sandbox) -> None:
    bundle = bwrap_sandbox.bundles.add("echo", "main.py", b"def process(items):\n    return 1\n")
    items = ["x" * 1024] * (bwrap_sandbox.config.max_input_bytes // 1024 + 1)
    with pytest.raises(SandboxError) as caught:
        await bwrap_sandbox.run(Chunk("python", bundle, None, items))
    assert caught.value.code == "sandbox_input_too_large"


async def test_a_log_tail_and_the_code_traceback_explain_a_failure(bwrap_sandbox: Sandbox) -> None:
    source = b"import sys\ndef process(items):\n    print('step one')\n    1 / 0\n"
    bundle = bwrap_sandbox.bundles.add("zero", "main.py", source)
    with pytest.raises(SandboxError) as caught:
        await bwrap_sandbox.run(Chunk("python", bundle, None, []))
    assert "ZeroDivisionError" in caught.value.message
    assert caught.value.extra["log_tail"] == "step one\n"
    assert "1 / 0" in caught.value.extra["code_traceback"]


@pytest.mark.parametrize("bwrap", ["/nonexistent/bwrap", "/bin/false"])
async def test_no_usable_bwrap_refuses_with_the_way_out(bwrap: str, tmp_path: Path) -> None:
    config = small_config("bwrap").model_copy(update={"bwrap": bwrap})
    with pytest.raises(SandboxUnavailable, match="CONVEYOR_SANDBOX_MODE=rlimit"):
        await Sandbox.open(config)


def test_worker_refuses_to_start_sandboxed_without_bwrap() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "CONVEYOR_NODE_ID": "n1",
        "CONVEYOR_NODE_SECRET": "s",
        "CONVEYOR_SANDBOX_BWRAP": "/nonexistent/bwrap",
    }
    run = subprocess.run(
        [sys.executable, "-m", "conveyor.cli.main", "worker", "--sandbox"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert "CONVEYOR_SANDBOX_MODE=rlimit" in run.stderr.replace("\n", " ")


def test_default_config_is_the_strict_mode() -> None:
    assert SandboxConfig().mode == "bwrap"


@pytest.mark.parametrize(
    ("runtime", "source"),
    [
        ("python", "def process(items):\n    return 'y' * 60_000\n"),
        ("node", "exports.process = () => 'y'.repeat(60000);\n"),
    ],
)
async def test_results_larger_than_a_pipe_buffer_arrive_whole(
    bwrap_sandbox: Sandbox, runtime: str, source: str
) -> None:
    name = "main.py" if runtime == "python" else "main.js"
    bundle = bwrap_sandbox.bundles.add(f"big-{runtime}", name, source.encode())
    assert await bwrap_sandbox.run(Chunk(runtime, bundle, None, [])) == "y" * 60_000


async def test_progress_the_server_refuses_does_not_fail_the_chunk(bwrap_sandbox: Sandbox) -> None:
    source = (
        b"import conveyor_sandbox\n"
        b"def process(items):\n    conveyor_sandbox.progress(1)\n    return 2\n"
    )
    bundle = bwrap_sandbox.bundles.add("progress-refused", "main.py", source)

    async def refuse(data: dict[str, object]) -> None:
        raise RuntimeError("400 invalid_input")

    assert await bwrap_sandbox.run(Chunk("python", bundle, None, []), refuse) == 2
