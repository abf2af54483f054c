"""A private PostgreSQL cluster for tests that stop and start the database.

The machine's shared server must never be stopped, so outage tests ``initdb`` a
cluster of their own into a temporary folder, on a free port, and start, stop and
delete it themselves. PostgreSQL refuses to run as root: when the tests do, every
server command runs as the ``postgres`` OS user, which then owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import services_required
from tests.server import free_port

OS_USER = "postgres"


def find_bin_dir() -> Path | None:
    configured = os.environ.get("CONVEYOR_TEST_PG_BIN")
    candidates = [configured] if configured else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def require_cluster_binaries() -> Path:
    """The folder of initdb and pg_ctl; skips (fails in CI) when they are missing."""
    found = find_bin_dir()
    reason = None
    if found is None:
        reason = "PostgreSQL's initdb/pg_ctl are not installed (set CONVEYOR_TEST_PG_BIN)"
    elif os.geteuid() == 0 and not _has_user(OS_USER):
        reason = f"running as root, and there is no {OS_USER!r} OS user to run PostgreSQL as"
    if reason is None:
        assert found is not None
        return found
    if services_required():
        pytest.fail(f"{reason}, and CI requires the outage tests", pytrace=False)
    pytest.skip(f"{reason}; the database outage tests need a private cluster")


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class PrivateCluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not pytest's tmp_path: its parents are root's alone, and the server
        # (running as postgres) must reach its folder and socket directory.
        self.root = Path(tempfile.mkdtemp(prefix="conveyor-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if os.geteuid() == 0:
            user = pwd.getpwnam(OS_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        data = str(self.data)
        self._run(["initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"])

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off"
        )
        log = str(self.log)
        self._run(["pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, "start"])

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends sessions and shuts down cleanly; ``immediate`` is a crash."""
        self._run(["pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop"])

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(["pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, command: Sequence[str], *, check: bool = True) -> None:
        argv = [str(self.bin_dir / command[0]), *command[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", OS_USER, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if check and done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command[:1])} failed ({done.returncode}): {done.stderr[-2000:]}\n{log}"
            )
