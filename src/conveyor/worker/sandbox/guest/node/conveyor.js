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
  fs.writeSync(2, 'CONVEYOR_PROGRESS ' + JSON.stringify(data) + '\n');
}

module.exports = { progress };
