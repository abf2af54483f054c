"""Two customers' chunks interleaved on one sandbox never see each other's data."""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor.worker.sandbox import Chunk, Sandbox
from tests.sandbox.conftest import assert_no_sandbox_processes, sandbox_processes
from tests.server import wait_until

KEEPER = b"""
import os, tempfile, time
def process(items):
    secret = items[0]
    seen_before = sorted(os.listdir("."))
    for folder in (".", os.environ["HOME"], tempfile.gettempdir()):
        with open(os.path.join(folder, "secret.txt"), "w") as f:
            f.write(secret)
    time.sleep(0.3)
    return {"before": seen_before, "code": sorted(os.listdir(os.path.dirname(__file__)))}
"""

SNOOPER = b"""
const fs = require('fs');
const path = require('path');
exports.process = async () => {
  const found = [];
  // Its own code's neighbours too: in rlimit mode, the other chunks' folders.
  const up = path.dirname(__dirname);
  for (const dir of ['.', process.env.HOME, '/tmp', '/code', up, path.dirname(up)]) {
    let names = [];
    try { names = fs.readdirSync(dir); } catch (e) { continue; }
    for (const name of names) {
      // Only what could be the other chunk's (the markers split, so as not to match this
      // very file): the host's /tmp, which rlimit mode sees, is large.
      let text = '';
      try { text = fs.readFileSync(path.join(dir, name), 'utf8'); } catch (e) {}
      if (text.includes('customer-' + 'a') || name.includes('kee' + 'per')) {
        found.push(`${dir}/${name}:${text}`);
      }
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  return found;
};
"""


async def test_interleaved_chunks_of_two_bundles_are_isolated(sandbox: Sandbox) -> None:
    keeper = sandbox.bundles.add("keeper", "keeper.py", KEEPER)
    snooper = sandbox.bundles.add("snooper", "snoop.js", SNOOPER)
    runs: list[Any] = []
    for round_ in range(3):
        runs += [
            sandbox.run(Chunk("python", keeper, None, [f"customer-a-secret-{round_}"])),
            sandbox.run(Chunk("node", snooper, None, [])),
        ]
    results = await asyncio.gather(*runs)
    for kept in results[0::2]:
        # A fresh, empty tmpfs every time; its code folder holds only its own file.
        assert kept["before"] == []
        assert kept["code"] == ["keeper.py"]
    for found in results[1::2]:
        assert not any("customer-a-secret" in entry for entry in found), found
        assert not any("keeper" in entry for entry in found), found


async def test_a_cancelled_chunk_takes_its_processes_with_it(sandbox: Sandbox) -> None:
    source = b"import os, time\ndef process(items):\n    os.fork()\n    time.sleep(60)\n"
    bundle = sandbox.bundles.add("cancelled", "main.py", source)
    job = asyncio.create_task(sandbox.run(Chunk("python", bundle, None, [])))
    await wait_until(lambda: len(sandbox_processes()) >= 2, 10, "the chunk and its child")
    job.cancel()
    done, _ = await asyncio.wait({job}, timeout=10)
    assert done and job.cancelled()
    await assert_no_sandbox_processes()
