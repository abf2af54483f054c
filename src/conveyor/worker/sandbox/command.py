"""The command line that starts one chunk: bwrap around the runtime, or the runtime alone.

Both modes start the child as a fresh session of an unprivileged uid with rlimits
set in between fork and exec (``preexec``), a scrubbed environment and stdin/stdout
pipes. In bwrap mode the child also gets its own user, pid, network, ipc, uts and
cgroup namespaces: it sees a read-only ``/usr`` (the runtimes), its code at
``/code``, the guest runner at ``/sandbox`` and a private tmpfs at ``/tmp``, and
nothing else of the machine.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conveyor.worker.sandbox.config import MIB, SandboxConfig

# Paths as the child sees them under bwrap.
CODE = "/code"
GUEST = "/sandbox"
TMP = "/tmp"
INSIDE_UID = 65534
# Top-level directories that are symlinks into /usr on merged-/usr systems.
ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What the dynamic linker needs to find libraries on Debian's multiarch layout.
ETC_FILES = ("/etc/ld.so.cache",)


@dataclass(frozen=True, slots=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    preexec: Callable[[], None]


def guest_argv(runtime: str, config: SandboxConfig, guest: str, code: str, entry: str) -> list[str]:
    if runtime == "python":
        return [config.python, "-I", "-B", "-X", "utf8", f"{guest}/run.py", code, entry]
    heap = max(16, config.memory_mb * 3 // 4)
    return [config.node, f"--max-old-space-size={heap}", f"{guest}/node/run.js", code, entry]


def guest_env(home: str, guest: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NODE_PATH": f"{guest}/node",
    }


def bwrap_launch(
    config: SandboxConfig, runtime: str, code_dir: Path, guest_dir: Path, entry: str
) -> Launch:
    argv = [
        config.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--uid", str(INSIDE_UID),
        "--gid", str(INSIDE_UID),
        "--hostname", "sandbox",
        "--die-with-parent",
        "--new-session",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    argv += _root_links()
    for path in ETC_FILES:
        argv += ["--ro-bind-try", path, path]
    argv += _runtime_binds(config, runtime)
    argv += [
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(config.tmpfs_mb * MIB), "--tmpfs", TMP,
        "--ro-bind", str(guest_dir), GUEST,
        "--ro-bind", str(code_dir), CODE,
        "--remount-ro", "/",
        "--chdir", TMP,
        "--clearenv",
    ]  # fmt: skip
    for key, value in guest_env(TMP, GUEST).items():
        argv += ["--setenv", key, value]
    argv += ["--", *guest_argv(runtime, config, GUEST, CODE, entry)]
    return Launch(argv, {}, "/", rlimits(config))


def rlimit_launch(
    config: SandboxConfig,
    runtime: str,
    code_dir: Path,
    guest_dir: Path,
    entry: str,
    home: Path,
) -> Launch:
    argv = guest_argv(runtime, config, str(guest_dir), str(code_dir), entry)
    return Launch(argv, guest_env(str(home), str(guest_dir)), str(home), rlimits(config))


def _root_links() -> list[str]:
    args: list[str] = []
    for path in ROOT_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _runtime_binds(config: SandboxConfig, runtime: str) -> list[str]:
    # A runtime installed outside /usr (/opt/node, a pyenv) is bound read-only too:
    # its whole prefix, the folder above its bin/.
    binary = os.path.realpath(config.python if runtime == "python" else _which(config.node))
    if binary.startswith("/usr/"):
        return []
    prefix = os.path.dirname(os.path.dirname(binary))
    return ["--ro-bind", prefix, prefix]


def _which(program: str) -> str:
    from shutil import which

    return which(program) or program


def rlimits(config: SandboxConfig) -> Callable[[], None]:
    """Set between fork and exec, in the child only. The uid drop itself is done by
    subprocess (``user=``/``group=``/``extra_groups=[]``), also before exec."""
    data = config.memory_mb * MIB
    limits = [
        (resource.RLIMIT_CPU, config.cpu_seconds, config.cpu_seconds + 1),
        (resource.RLIMIT_DATA, data, data),
        (resource.RLIMIT_AS, data + config.address_space_slack_mb * MIB, None),
        (resource.RLIMIT_FSIZE, config.file_size_mb * MIB, None),
        (resource.RLIMIT_NPROC, config.max_processes, None),
        (resource.RLIMIT_NOFILE, config.max_open_files, None),
        (resource.RLIMIT_CORE, 0, None),
        (resource.RLIMIT_MEMLOCK, 0, None),
    ]

    def apply() -> None:
        # What the code creates is its own alone unless it says otherwise.
        os.umask(0o077)
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, soft if hard is None else hard))

    return apply
