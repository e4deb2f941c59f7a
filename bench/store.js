// Store throughput on synthetic events: insert rows/s (putIncident: Arrow spool file + chDB
// bulk insert), fetch rows/s (events() streamed, eventsTable()), bytes on disk per row, and the
// cost of opening the store per operation. Run: npx tsc -p tsconfig.json && node bench/store.js [rows]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Binary, Field, Int32, Int64, List, RecordBatch, Struct, Uint64, Utf8, makeData } = require('apache-arrow');
const { eventSchema } = require('../dist/events/schema');
const { openStore } = require('../dist/store');

const ROWS = Number(process.argv[2] || 1_000_000);
const BATCH = 65_536;
const ID = 'bench-incident';

const enc = new TextEncoder();

/** A Utf8/Binary column from a few distinct values, built straight into Arrow buffers. */
function bytesColumn(type, n, pick) {
  const offsets = new Int32Array(n + 1);
  const parts = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const b = pick(i);
    parts.push(b);
    total += b.length;
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const b of parts) {
    data.set(b, at);
    at += b.length;
  }
  return makeData({ type, length: n, nullCount: 0, valueOffsets: offsets, data });
}

const NAMES = ['read', 'write', 'recvfrom', 'sendto', 'clock_gettime', 'epoll_wait', 'openat', 'close'].map((s) => enc.encode(s));
const RESOURCES = ['tcp:10.0.0.5:443', 'file:/etc/app.conf', 'pipe', 'stdout', 'tcp:10.0.0.7:5432'].map((s) => enc.encode(s));

function batch(start, n) {
  const seq = new BigUint64Array(n);
  const pid = new Int32Array(n).fill(4242);
  const tid = new Int32Array(n);
  const nr = new Int32Array(n);
  const ret = new BigInt64Array(n);
  const enter = new BigInt64Array(n);
  const dur = new BigInt64Array(n);
  const argOffsets = new Int32Array(n + 1);
  const args = new BigUint64Array(n * 6);
  let clock = 1_000_000n + BigInt(start) * 2_500n;
  for (let i = 0; i < n; i++) {
    const k = start + i;
    seq[i] = BigInt(k);
    tid[i] = 4242 + (k % 4);
    nr[i] = k % 8;
    ret[i] = k % 97 === 0 ? -11n : BigInt(k % 512);
    clock += BigInt(1_000 + ((k * 7919) % 3_000));
    enter[i] = clock;
    dur[i] = BigInt(200 + ((k * 104729) % 5_000));
    argOffsets[i + 1] = (i + 1) * 6;
    args[i * 6] = BigInt(3 + (k % 5));
    args[i * 6 + 1] = 0x7ffd_0000_0000n + BigInt((k % 64) * 4096);
    args[i * 6 + 2] = BigInt(k % 4096);
  }
  const payload = (i) => {
    const k = start + i;
    if (k % 3 === 0) return new Uint8Array(0);
    return enc.encode(`GET /v1/payments/${k % 1000} HTTP/1.1\r\nx-req: ${k}\r\n`).subarray(0, 8 + (k % 48));
  };
  const children = [
    bytesColumn(new Utf8(), n, () => enc.encode(ID)),
    bytesColumn(new Utf8(), n, () => enc.encode('recording')),
    makeData({ type: new Uint64(), length: n, nullCount: 0, data: seq }),
    makeData({ type: new Int32(), length: n, nullCount: 0, data: pid }),
    makeData({ type: new Int32(), length: n, nullCount: 0, data: tid }),
    makeData({ type: new Int32(), length: n, nullCount: 0, data: nr }),
    bytesColumn(new Utf8(), n, (i) => NAMES[(start + i) % NAMES.length]),
    makeData({
      type: eventSchema.fields[7].type,
      length: n,
      nullCount: 0,
      valueOffsets: argOffsets,
      child: makeData({ type: new Uint64(), length: n * 6, nullCount: 0, data: args }),
    }),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: ret }),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: enter }),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: dur }),
    bytesColumn(new Utf8(), n, (i) => RESOURCES[(start + i) % RESOURCES.length]),
    bytesColumn(new Binary(), n, payload),
    bytesColumn(new Binary(), n, (i) => payload(i + 1)),
    bytesColumn(new Utf8(), n, () => enc.encode('syscall')),
  ];
  return new RecordBatch(eventSchema, makeData({ type: new Struct(eventSchema.fields), length: n, nullCount: 0, children }));
}

function* batches() {
  for (let start = 0; start < ROWS; start += BATCH) yield batch(start, Math.min(BATCH, ROWS - start));
}

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const rate = (rows, s) => `${Math.round(rows / s).toLocaleString('en-US')} rows/s`;

async function main() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-store-'));
  try {
    const store = await openStore(home);
    await store.incidents(); // create the store, so the timing below is the insert alone

    const generated = [...batches()]; // generated up front: the bench measures the store
    const info = {
      incident_id: ID, service: 'bench', argv: ['bench'], env: [], cwd: '/', exe_path: '/bench',
      exe_sha256: '0'.repeat(64), started_at_ns: 1_750_000_000_000_000_000n, exit_code: 0,
      exit_signal: null, event_count: ROWS, duration_ns: 1n, files: {}, host: os.hostname(),
    };
    let t0 = process.hrtime.bigint();
    const outcome = await store.putIncident(info, generated, new Map());
    const insertS = seconds(t0);
    console.log(`insert  ${ROWS.toLocaleString('en-US')} rows: ${insertS.toFixed(2)} s  ${rate(ROWS, insertS)}  (${outcome})`);

    t0 = process.hrtime.bigint();
    let streamed = 0;
    for await (const b of store.events(ID)) streamed += b.numRows;
    const streamS = seconds(t0);
    console.log(`stream  events():     ${streamS.toFixed(2)} s  ${rate(streamed, streamS)}`);

    t0 = process.hrtime.bigint();
    const table = await store.eventsTable(ID);
    const tableS = seconds(t0);
    console.log(`fetch   eventsTable(): ${tableS.toFixed(2)} s  ${rate(table.numRows, tableS)}  (${table.batches.length} batches)`);

    const parts = await store.query(
      `SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
       WHERE database = currentDatabase() AND table = 'events' AND active`,
    );
    const rows = Number(parts.getChild('rows').get(0));
    const bytes = Number(parts.getChild('bytes').get(0));
    console.log(`disk    ${(bytes / 1e6).toFixed(1)} MB for ${rows.toLocaleString('en-US')} rows: ${(bytes / rows).toFixed(1)} B/row`);

    const n = 20;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await store.incident(ID);
    console.log(`open    per operation: ${((seconds(t0) / n) * 1000).toFixed(1)} ms per incident() (open + query + close)`);
    await store.close();
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { batches, batch };
