#!/usr/bin/env node
// What holding asynchronous signals until a syscall costs: the delivery latency a program sees
// (from a timer's expiry to its handler's first instruction) natively, recorded with signals
// delivered where they land (signalDeferMs 0, which replay cannot place exactly), and recorded
// with the default deferral (held until the thread's next syscall, at most 20 ms). Two programs
// (test/services/timer.c, a SIGALRM every millisecond): one making a syscall every ~1 ms of
// computation, one computing with no syscall at all (every signal waits the full bound). The
// program measures its own latencies and prints their median; this prints the medians of that
// over REPS runs, and the recording's wall time.
//
//   npx tsc -p tsconfig.json && node bench/signals.js        (REPS=N, default 5)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Table } = require('apache-arrow');
const { median, ms, machine, appendResults } = require('./common');
const { openStore } = require('../dist/store');
const { record } = require('../dist/record/record');

const REPS = Number(process.env.REPS || 5);
const PROGRAMS = [
  { name: 'syscall every ~1 ms', args: ['150', '2000000'] },
  { name: 'pure computation', args: ['--compute', '150'] },
];

function parse(text) {
  const m = /signals (\d+) latency_us median (-?\d+) p90 (-?\d+)/.exec(text);
  if (!m) throw new Error(`no summary in the program's output: ${text.slice(-200)}`);
  return { signals: Number(m[1]), median: Number(m[2]), p90: Number(m[3]) };
}

/** The program's last write to stdout in a recording. */
async function recordedSummary(store, incident) {
  const batches = [];
  for await (const b of store.events(incident)) batches.push(b);
  const rows = new Table(batches).toArray().map((r) => r.toJSON());
  const writes = rows.filter((e) => e.kind === 'syscall' && e.name === 'write' && e.resource === 'stdout');
  return parse(Buffer.from(writes[writes.length - 1].data_in).toString());
}

async function main() {
  const startMachine = machine();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-signals-'));
  const exe = path.join(tmp, 'timer');
  execFileSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(__dirname, '..', 'test', 'services', 'timer.c')]);
  const store = await openStore(path.join(tmp, 'store'));
  const rows = [];
  try {
    for (const p of PROGRAMS) {
      const native = [], where = [], held = [], whereMs = [], heldMs = [];
      for (let i = 0; i < REPS; i++) {
        native.push(parse(execFileSync(exe, p.args, { encoding: 'utf8' })).median);
        for (const [defer, lat, wall] of [[0, where, whereMs], [20, held, heldMs]]) {
          const id = `sig-${rows.length}-${i}-${defer}`;
          const t0 = process.hrtime.bigint();
          await record({ incident: id, command: [exe, ...p.args], store, signalDeferMs: defer, env: { PATH: '/usr/bin:/bin' }, lateData: false });
          wall.push(ms(t0));
          lat.push((await recordedSummary(store, id)).median);
        }
      }
      const m = (xs) => median(xs);
      rows.push(
        `| ${p.name} | ${m(native)} µs | ${m(where)} µs | ${m(held)} µs | ${(m(held) / Math.max(1, m(where))).toFixed(1)}× | ${m(whereMs).toFixed(0)} ms | ${m(heldMs).toFixed(0)} ms |`,
      );
    }
  } finally {
    await store.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const lines = [
    `Signal delivery latency (timer expiry → handler), medians of ${REPS} runs' own medians; a SIGALRM every 1 ms`,
    '',
    '| program | native | recorded, delivered where it lands | recorded, held to the next syscall (≤ 20 ms) | held / where it lands | record wall, where it lands | record wall, held |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ];
  console.log(lines.join('\n'));
  appendResults(`REPS=${REPS} node bench/signals.js`, lines, startMachine);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
