#!/usr/bin/env node
'use strict';
// The replaybook Jupyter kernel: tslab (the version pinned in package.json) with the replaybook
// notebook API preloaded, so cells call incidents(), fetchIncident(), replay(), timeline() and
// display() without imports, and still type-check. Jupyter starts it as:
//   node kernel/launcher.js {connection_file}
//
// This is tslab's own startKernel, plus a silent first cell (the prelude) that imports the API:
// tslab carries a cell's declarations into later cells, so every cell sees the API's types
// wherever the notebook lives (no @types package needs to be reachable from its folder).
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const connectionFile = process.argv[2];
if (!connectionFile) {
  process.stderr.write('usage: launcher.js CONNECTION_FILE (Jupyter passes it; see `replaybook kernel install`)\n');
  process.exit(2);
}

const { createConverter } = require('tslab/dist/converter');
const { createExecutor } = require('tslab/dist/executor');
const { ZmqServer, JupyterHandlerImpl } = require('tslab/dist/jupyter');
const { ReplaybookServer } = require('./server');

const api = path.join(root, 'dist', 'notebook');
const notebook = require(api);
notebook.installGlobals(globalThis, { kernel: true });
const PRELUDE = `import { ${notebook.GLOBAL_NAMES.join(', ')} } from ${JSON.stringify(api)};\n` +
  `import * as replaybook from ${JSON.stringify(api)};\n`;

class Converters {
  get node() {
    this._node ??= createConverter({ isJS: false, isBrowser: false });
    return this._node;
  }
  get browser() {
    this._browser ??= createConverter({ isJS: false, isBrowser: true });
    return this._browser;
  }
  close() {
    this._node?.close();
    this._browser?.close();
  }
}

async function main() {
  const convs = new Converters();
  const executor = createExecutor(process.cwd(), convs, { log: console.log, error: console.error });
  if (!(await executor.execute(PRELUDE))) {
    process.stderr.write('replaybook kernel: the notebook API failed to load (see above); is replaybook built? run npm install\n');
    process.exit(1);
  }
  const widgets = require(path.join(root, 'dist', 'widgets'));
  const server = new ReplaybookServer(ZmqServer, new JupyterHandlerImpl(executor, false), connectionFile, widgets);
  // Each front end that attaches says what it renders (charts then use its own vega renderer).
  widgets.probeFrontends();
  // Jupyter's interrupt is SIGINT: tslab abandons the awaited cell; replaybook's own listener
  // stops a running replay and its program.
  process.on('SIGINT', () => executor.interrupt());
  process.on('uncaughtException', (err) => console.error('uncaught exception:', err));
  process.on('unhandledRejection', (reason) => console.error('unhandled rejection:', reason));
  server.init();
}

main().catch((err) => {
  process.stderr.write(`replaybook kernel: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
