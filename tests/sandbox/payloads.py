"""Hostile (and one well-behaved) bundle per runtime, for the sandbox tests.

Each payload is ``{runtime: source}`` plus the error codes that count as contained.
Payloads that finish on purpose return what they managed, for the test to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Payload:
    name: str
    sources: dict[str, str]
    # None: the chunk completes (the test then checks its result).
    codes: frozenset[str] | None = None
    # Not contained by the rlimit mode (no namespaces): skipped there, documented.
    needs_namespaces: bool = False
    items: list[object] = field(default_factory=list)


FORK_BOMB = Payload(
    "fork_bomb",
    {
        "python": """
import os
def process(items):
    while True:
        try:
            os.fork()
        except OSError:
            pass
""",
        "node": """
const cp = require('child_process');
exports.process = () => {
  for (;;) { try { cp.spawn(process.execPath, ['-e', 'for(;;){}']); } catch (e) {} }
};
""",
    },
    # Node.js may instead run out of memory for its child process handles, or, when
    # the process limit refuses libuv a thread, die of SIGSEGV (seen under load in
    # CI): contained either way, the chunk failed and the worker goes on.
    frozenset({"sandbox_timeout", "sandbox_cpu", "sandbox_memory", "sandbox_crashed"}),
)

MEMORY_HOG = Payload(
    "memory_hog",
    {
        "python": """
def process(items):
    hoard = []
    while True:
        hoard.append(bytearray(10 ** 6))
""",
        "node": """
exports.process = () => { const hoard = []; for (;;) hoard.push(Buffer.alloc(1e6, 1)); };
""",
    },
    frozenset({"sandbox_memory"}),
)

INFINITE_LOOP = Payload(
    "infinite_loop",
    {
        "python": """
import time
def process(items):
    while True:
        time.sleep(0.05)
""",
        "node": """
exports.process = () => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 50);
};
""",
    },
    frozenset({"sandbox_timeout"}),
)

CPU_SPIN = Payload(
    "cpu_spin",
    {
        "python": "def process(items):\n    while True:\n        pass\n",
        "node": "exports.process = () => { for (;;) {} };\n",
    },
    frozenset({"sandbox_cpu"}),
)

HUGE_FILE = Payload(
    "huge_file",
    {
        "python": """
def process(items):
    with open("huge", "wb") as out:
        while True:
            out.write(b"x" * 2 ** 20)
            out.flush()
""",
        "node": """
const fs = require('fs');
exports.process = () => {
  const fd = fs.openSync('huge', 'w');
  const block = Buffer.alloc(1 << 20, 120);
  for (;;) fs.writeSync(fd, block);
};
""",
    },
    frozenset({"sandbox_file_too_large"}),
)

# items: [port of a server on the host's 127.0.0.1]
NETWORK = Payload(
    "network",
    {
        "python": """
import socket
def process(items):
    try:
        socket.create_connection(("127.0.0.1", items[0]), timeout=2).close()
        return {"connected": True}
    except OSError as exc:
        return {"connected": False, "error": str(exc)}
""",
        "node": """
const net = require('net');
exports.process = (items) => new Promise((resolve) => {
  const s = net.connect(items[0], '127.0.0.1', () => {
    s.destroy();
    resolve({ connected: true });
  });
  s.on('error', (e) => resolve({ connected: false, error: String(e) }));
  s.setTimeout(2000, () => { s.destroy(); resolve({ connected: false, error: 'timeout' }); });
});
""",
    },
    needs_namespaces=True,
)

# items: [credentials file path, worker pid]; returns everything it could read
SNOOP = Payload(
    "snoop",
    {
        "python": """
import os
def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as exc:
        return "error: " + str(exc)
def process(items):
    path, pid = items
    return {
        "env": dict(os.environ),
        "credentials": _read(path),
        "worker_environ": _read(f"/proc/{pid}/environ"),
        "init_environ": _read("/proc/1/environ"),
        "parent_environ": _read(f"/proc/{os.getppid()}/environ"),
        "uid": os.getuid(),
        "euid": os.geteuid(),
    }
""",
        "node": """
const fs = require('fs');
const read = (p) => {
  try { return fs.readFileSync(p, 'utf8'); } catch (e) { return 'error: ' + e; }
};
exports.process = ([path, pid]) => ({
  env: process.env,
  credentials: read(path),
  worker_environ: read(`/proc/${pid}/environ`),
  init_environ: read('/proc/1/environ'),
  parent_environ: read(`/proc/${process.ppid}/environ`),
  uid: process.getuid(),
  euid: process.geteuid(),
});
""",
    },
)

# items: [a host folder]; returns the paths it managed to write
WRITE_OUTSIDE = Payload(
    "write_outside",
    {
        "python": """
import os
def process(items):
    wrote = []
    places = ["/", "/usr", "/etc", "/code", "/sandbox", "/proc", items[0], os.getcwd(), "/tmp"]
    for folder in places:
        path = os.path.join(folder, "planted")
        try:
            with open(path, "w") as f:
                f.write("x")
            wrote.append(path)
        except OSError:
            pass
    return wrote
""",
        "node": """
const fs = require('fs');
const path = require('path');
exports.process = (items) => {
  const wrote = [];
  const places = ['/', '/usr', '/etc', '/code', '/sandbox', '/proc', items[0], process.cwd()];
  for (const dir of [...places, '/tmp']) {
    const p = path.join(dir, 'planted');
    try { fs.writeFileSync(p, 'x'); wrote.push(p); } catch (e) {}
  }
  return wrote;
};
""",
    },
    needs_namespaces=True,
)

# items: [worker pid]; returns what each kill attempt did
KILL_PARENT = Payload(
    "kill_parent",
    {
        "python": """
import os, signal
def process(items):
    done = {}
    for name, pid in (("parent", os.getppid()), ("worker", items[0]), ("everyone", -1)):
        try:
            os.kill(pid, signal.SIGKILL)
            done[name] = "sent"
        except OSError as exc:
            done[name] = str(exc)
    return done
""",
        "node": """
exports.process = ([worker]) => {
  const done = {};
  for (const [name, pid] of [['parent', process.ppid], ['worker', worker], ['everyone', -1]]) {
    try { process.kill(pid, 'SIGKILL'); done[name] = 'sent'; } catch (e) { done[name] = String(e); }
  }
  return done;
};
""",
    },
)

GOOD = Payload(
    "good",
    {
        "python": """
import conveyor_sandbox
def process(items):
    out = []
    for i, item in enumerate(items):
        out.append({"n": item["n"], "square": item["n"] ** 2})
        conveyor_sandbox.progress(100 * (i + 1) // len(items), f"{i + 1} done")
    print("noise on stdout is only log")
    return out
""",
        "node": """
const conveyor = require('conveyor');
exports.process = async (items) => {
  const out = [];
  items.forEach((item, i) => {
    out.push({ n: item.n, square: item.n ** 2 });
    conveyor.progress(Math.floor(100 * (i + 1) / items.length), `${i + 1} done`);
  });
  console.log('noise on stdout is only log');
  return out;
};
""",
    },
    items=[{"n": n} for n in range(5)],
)

GOOD_RESULT = [{"n": n, "square": n * n} for n in range(5)]
FILE_NAMES = {"python": "main.py", "node": "main.js"}
