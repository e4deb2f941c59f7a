#!/usr/bin/env node
'use strict';
// The replaybook CLI (compiled TypeScript lives in dist/).
const { main } = require('../dist/cli/main.js');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`replaybook: ${err && err.message ? err.message : err}\n`);
    process.exitCode = 1;
  },
);
