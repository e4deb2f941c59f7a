#!/usr/bin/env node
'use strict';
// The replaybook CLI (compiled TypeScript lives in dist/).
const { main } = require('../dist/cli/main.js');
main(process.argv.slice(2)).then(
  (code) => {
    // Interrupted: the engine and its program are already stopped; what is left (a fetch the
    // replay abandoned) must not keep the terminal waiting.
    if (code === 130) process.exit(code);
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`replaybook: ${err && err.message ? err.message : err}\n`);
    process.exitCode = 1;
  },
);
