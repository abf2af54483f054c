// The guest side of a Node.js chunk: read items from stdin, call process(items), answer.
// Runs as `node run.js CODE_DIR ENTRY` inside the sandbox. The one JSON answer goes to
// fd 1; console output is sent to stderr so that nothing else lands there.
'use strict';
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

const MAX_TEXT = 4000;
const [codeDir, entry] = process.argv.slice(2);

for (const name of ['log', 'info', 'debug']) console[name] = console.error;
process.stdout.write = process.stderr.write.bind(process.stderr);

function answer(body) {
  let text;
  try {
    text = JSON.stringify(body);
    if (text === undefined) throw new TypeError('the result is not JSON');
  } catch (err) {
    text = JSON.stringify({ ok: false, error: { kind: 'bad_result', type: err.name, message: String(err.message).slice(0, MAX_TEXT) } });
  }
  writeAll(1, Buffer.from(text));
}

// Node.js may have made the pipe non-blocking: a full pipe answers EAGAIN, not a wait.
const pause = new Int32Array(new SharedArrayBuffer(4));
function writeAll(fd, data) {
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

function kind(err) {
  if (err instanceof RangeError && /allocation failed|out of memory|Invalid array length|Invalid string length/i.test(err.message)) return 'memory';
  if (err && (err.code === 'EFBIG' || err.code === 'ENOSPC' || err.code === 'EDQUOT')) return 'file_size';
  return 'code';
}

async function main() {
  const items = JSON.parse(fs.readFileSync(0, 'utf8'));
  const file = path.join(codeDir, entry);
  const mod = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  const fn = typeof mod.process === 'function' ? mod.process
    : mod.default && typeof mod.default.process === 'function' ? mod.default.process
    : typeof mod === 'function' ? mod : null;
  if (!fn) throw new TypeError('the bundle exports no process(items) function');
  return await fn(items);
}

main().then(
  (result) => answer({ ok: true, result: result === undefined ? null : result }),
  (err) => {
    const e = err instanceof Error ? err : new Error(String(err));
    answer({ ok: false, error: { kind: kind(e), type: e.name, message: String(e.message).slice(0, MAX_TEXT), traceback: String(e.stack || '').slice(-MAX_TEXT) } });
  },
).then(() => process.exit(0));
