#!/usr/bin/env node
'use strict';
// `replaybook export ARGS...` as its own process, straight from the compiled command module
// (dist/cli/export.js), with the exit status it returns.
const { exportCommand } = require('../../dist/cli/export.js');
exportCommand(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
