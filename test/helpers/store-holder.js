// A second process for test/store-lock.test.ts: opens the store at argv[2] and answers commands
// on stdin, one JSON line out per line in. With --keep-open it holds the chDB directory the
// whole time (as a long-lived notebook kernel could); with --raw it holds the bare chDB directory
// without the store (as a short operation of another replaybook process does) until "release".
'use strict';
const path = require('node:path');
const readline = require('node:readline');
require('./load-ts');

const { createHash } = require('node:crypto');
const { openStore, chdbDataDir } = require(path.join(__dirname, '../../src/store/index.ts'));

const home = process.argv[2];
const mode = process.argv[3] || '--keep-open';
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

async function main() {
  let store = null;
  let session = null;
  if (mode === '--raw') {
    const { Session } = require('chdb');
    session = new Session(chdbDataDir(home));
  } else {
    store = await openStore(home, {
      keepOpen: mode === '--keep-open',
      lockWaitMs: Number(process.env.HOLDER_LOCK_WAIT_MS || 30000),
      onWarning: (w) => say({ warning: w.message }),
    });
  }
  say({ ready: true, pid: process.pid });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const [op, arg] = line.trim().split(/\s+/);
    try {
      if (op === 'incidents') {
        say({ ids: (await store.incidents()).map((i) => i.incident_id) });
      } else if (op === 'events') {
        let rows = 0;
        const hash = createHash('sha256');
        for await (const batch of store.events(arg)) {
          for (let i = 0; i < batch.numRows; i++) {
            const row = batch.get(i);
            hash.update(`${row.seq}:${row.enter_ns}:`).update(row.data_in).update(row.data_out);
          }
          rows += batch.numRows;
        }
        say({ rows, digest: hash.digest('hex') });
      } else if (op === 'release') {
        session.close();
        say({ released: true });
      } else if (op === 'exit') {
        if (store) await store.close();
        if (session) session.close();
        say({ exited: true });
        process.exit(0);
      } else {
        say({ error: `unknown command ${op}` });
      }
    } catch (err) {
      say({ error: err.message, code: err.code });
    }
  }
}

main().catch((err) => {
  say({ error: err.message, code: err.code });
  process.exit(1);
});
