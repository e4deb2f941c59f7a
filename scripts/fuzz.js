#!/usr/bin/env node
// The long run of the store fuzzer (test/helpers/store-fuzz.ts): records the payment incident into
// a scratch store, then mutates its events, Arrow data and pack, unpacks and replays each mutant.
// Prints one line per case and the figures at the end; exit status 1 if any case crashed, hung or
// changed another incident.
//
//   npm run fuzz -- [--cases N] [--seed S] [--watchdog-ms MS] [--keep DIR]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
require('../test/helpers/load-ts');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

async function main() {
  const cases = Number(opt('cases', 500));
  const seed = Number(opt('seed', 1));
  const watchdogMs = Number(opt('watchdog-ms', 60000));
  const work = opt('keep') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rb-fuzz-'));
  fs.mkdirSync(work, { recursive: true });
  const { openStore } = require('../src/store');
  const { recordPaymentIncident } = require('../src/demo');
  const { replay } = require('../src/replay/replay');
  const { fuzzStore } = require('../test/helpers/store-fuzz.ts');
  const store = await openStore(path.join(work, 'store'), { keepOpen: true });
  try {
    process.stderr.write(`fuzz: recording the base incident into ${work}/store ...\n`);
    await recordPaymentIncident(store, 'fuzz-base');
    await replay('fuzz-base', { store, speed: 'max' }); // a stored run, which must not change either
    const r = await fuzzStore({
      store,
      base: 'fuzz-base',
      seed,
      cases,
      work,
      watchdogMs,
      onCase: (c) => process.stdout.write(`#${c.index} ${c.mutation}: ${c.outcome} in ${c.ms} ms: ${c.detail} -> ${c.reason.split('\n')[0]}\n`),
    });
    const mutations = r.cases.length;
    process.stdout.write(
      `\nfuzz seed ${seed}: ${mutations} runs (one mutant each) in ${(r.ms / 1000).toFixed(1)} s; ` +
        `crashes ${r.cases.filter((c) => c.outcome === 'crash').length}, hangs ${r.cases.filter((c) => c.outcome === 'hang').length}, ` +
        `other incidents changed ${r.cases.filter((c) => c.outcome === 'store-changed').length}\n` +
        `outcomes ${JSON.stringify(r.byOutcome)}\nmutations ${JSON.stringify(r.byMutation)}\n`,
    );
    for (const f of r.failures) process.stdout.write(`FAILED #${f.index} ${f.mutation} (${f.detail}): ${f.outcome}: ${f.reason}\n`);
    return r.failures.length === 0 ? 0 : 1;
  } finally {
    await store.close();
    if (!opt('keep')) fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`fuzz: ${err.stack ?? err}\n`);
    process.exit(2);
  },
);
