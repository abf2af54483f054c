// Report progress from customer code: `const conveyor = require('conveyor');`
//   conveyor.progress(40, 'halfway there');
// Each call writes one line `CONVEYOR_PROGRESS {json}` to stderr (docs/sandbox.md);
// the worker relays it as the chunk's progress.
'use strict';
const fs = require('fs');

function progress(percent, message, extra) {
  const data = Object.assign({}, extra || {});
  if (percent !== undefined && percent !== null) data.percent = percent;
  if (message !== undefined && message !== null) data.message = message;
  const line = Buffer.from('CONVEYOR_PROGRESS ' + JSON.stringify(data) + '\n');
  let off = 0;
  while (off < line.length) {
    try {
      off += fs.writeSync(2, line, off);
    } catch (err) {
      // A full non-blocking pipe: wait for the worker to read it.
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

module.exports = { progress };
