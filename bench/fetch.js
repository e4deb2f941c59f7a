#!/usr/bin/env node
// Fetch of a 1M-event incident as one Arrow Table: replaybook's eventsTable() (what notebooks'
// fetchIncident() calls) against a raw `SELECT ... FORMAT ArrowStream` in the same chDB
// connection over the same rows, parsed by apache-arrow's tableFromIPC. Synthetic events
// (bench/store.js). Reps alternate the two; prints medians and the ratio (target ≤ 1.2×).
// A third, raw streamed read (queryStream, a table per chunk) is shown for diagnosis only.
//
//   npx tsc -p tsconfig.json && node --expose-gc bench/fetch.js [rows]     (REPS=N, default 7)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Session } = require('chdb');
const { Table, tableFromIPC } = require('apache-arrow');
const { median, ms, machine, appendResults } = require('./common');
const { batch } = require('./store');
const { openStore } = require('../dist/store');
const sql = require('../dist/store/sql');

const ROWS = Number(process.argv[2] || 1_000_000);
const REPS = Number(process.env.REPS || 7);
const TARGET = 1.2;
const ID = 'bench-incident'; // the id bench/store.js's batches carry

function* events(rows) {
  for (let start = 0; start < rows; start += 65_536) yield batch(start, Math.min(65_536, rows - start));
}

const RAW = `SELECT ${sql.EVENT_COLUMNS.join(', ')} FROM events
WHERE incident_id = '${ID}' AND run_id = 'recording' ORDER BY seq
SETTINGS ${Object.entries(sql.OUTPUT_SETTINGS).map(([k, v]) => `${k} = '${v}'`).join(', ')}`;

/** Row count and checksums that two fetches of the same rows must agree on. */
function digest(table) {
  let seq = 0n;
  for (const v of table.getChild('seq')) seq += v;
  let bytes = 0;
  for (const d of table.getChild('data_in').data) bytes += d.valueOffsets[d.offset + d.length] - d.valueOffsets[d.offset];
  return `${table.numRows} rows, Σseq ${seq}, ${bytes} data_in bytes`;
}

const gc = () => global.gc?.();

async function main() {
  const startMachine = machine();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-fetch-'));
  const store = await openStore(home, { keepOpen: true });
  let raw;
  try {
    const info = {
      incident_id: ID, service: 'bench', argv: ['bench'], env: [], cwd: '/', exe_path: '/bench',
      exe_sha256: '0'.repeat(64), started_at_ns: 1_750_000_000_000_000_000n, exit_code: 0,
      exit_signal: null, event_count: ROWS, duration_ns: 1n, files: {}, host: os.hostname(),
    };
    let t0 = process.hrtime.bigint();
    await store.putIncident(info, events(ROWS), new Map());
    console.log(`inserted ${ROWS.toLocaleString('en-US')} synthetic events in ${(ms(t0) / 1000).toFixed(1)} s`);
    // chDB keys connections by data directory: this session shares the store's open connection.
    raw = new Session(store.dataDir, { connectionArgs: Object.entries(sql.OUTPUT_SETTINGS).map(([k, v]) => `--${k}=${v}`) });

    const fetchers = {
      replaybook: async () => store.eventsTable(ID),
      raw: async () => tableFromIPC((await raw.queryAsync(RAW, { format: 'ArrowStream' })).bytes()),
      rawStreamed: async () => {
        const parts = [];
        for await (const chunk of raw.queryStream(RAW, { format: 'ArrowStream' })) parts.push(...tableFromIPC(chunk.raw()).batches);
        return new Table(parts);
      },
    };
    const times = { replaybook: [], raw: [], rawStreamed: [] };
    const digests = {};
    for (const [name, f] of Object.entries(fetchers)) digests[name] = digest(await f()); // warm-up, checked below
    if (new Set(Object.values(digests)).size !== 1) throw new Error(`the fetches disagree: ${JSON.stringify(digests)}`);
    console.log(`each fetch returns ${digests.raw}`);
    const names = Object.keys(fetchers);
    for (let i = 0; i < REPS; i++) {
      // Rotate the order so no method always runs first (after the previous rep's garbage).
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length];
        gc();
        t0 = process.hrtime.bigint();
        const table = await fetchers[name]();
        times[name].push(ms(t0));
        if (table.numRows !== ROWS) throw new Error(`${name} returned ${table.numRows} rows`);
      }
    }
    const rb = median(times.replaybook), rw = median(times.raw), st = median(times.rawStreamed);
    const ratio = rb / rw;
    const verdict = ratio <= TARGET ? 'PASS' : 'MISS';
    const rate = (t) => `${Math.round(ROWS / (t / 1000)).toLocaleString('en-US')} rows/s`;
    console.log(`\nfetch of ${ROWS.toLocaleString('en-US')} events as one Arrow Table, store held open, ${REPS} reps, medians${global.gc ? ' (gc before each)' : ''}`);
    console.log(`  replaybook eventsTable()                    ${rb.toFixed(0).padStart(6)} ms  ${rate(rb)}   [${times.replaybook.map((x) => x.toFixed(0)).join(', ')}]`);
    console.log(`  raw SELECT FORMAT ArrowStream + tableFromIPC ${rw.toFixed(0).padStart(6)} ms  ${rate(rw)}   [${times.raw.map((x) => x.toFixed(0)).join(', ')}]`);
    console.log(`  raw, streamed (queryStream, per chunk)      ${st.toFixed(0).padStart(6)} ms  ${rate(st)}   [${times.rawStreamed.map((x) => x.toFixed(0)).join(', ')}]  (diagnostic)`);
    console.log(`  ratio replaybook / raw: ${ratio.toFixed(2)}×   target ≤ ${TARGET}×: ${verdict}   (replaybook / raw streamed: ${(rb / st).toFixed(2)}×)`);
    appendResults(`REPS=${REPS} node --expose-gc bench/fetch.js ${ROWS}`, [
      `Fetch of ${ROWS.toLocaleString('en-US')} synthetic events as one Arrow Table, the store held open, the same chDB connection; medians of ${REPS}`,
      '',
      '| fetch | median | rows/s | ratio to raw | target |',
      '|---|---|---|---|---|',
      `| replaybook eventsTable() (notebooks' fetchIncident) | ${rb.toFixed(0)} ms | ${rate(rb)} | ${ratio.toFixed(2)}× | ≤ ${TARGET}×: **${verdict}** |`,
      `| raw SELECT … FORMAT ArrowStream + tableFromIPC | ${rw.toFixed(0)} ms | ${rate(rw)} | 1 | |`,
      `| raw, streamed (queryStream + tableFromIPC per chunk) | ${st.toFixed(0)} ms | ${rate(st)} | ${(st / rw).toFixed(2)}× | (diagnostic) |`,
    ], startMachine);
  } finally {
    raw?.close();
    await store.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
