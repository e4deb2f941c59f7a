// Streamed fetch through the server path vs the embedded store, in the same run: rows/s and peak
// RSS of a process that iterates store.events(id) over a 1M- and a 10M-event incident (what replay
// does), plus, for contrast, eventsTable() (the whole incident as one Table). Each fetch runs in a
// fresh process, so its peak RSS is its own. The "server" is test/helpers/clickhouse-http.js:
// ClickHouse's HTTP interface over chDB's engine in a process of its own (no modern ClickHouse
// server can be installed here), reached through @clickhouse/client with gzip on.
//   npx tsc -p tsconfig.json && node bench/server-store.js [rows...]     (default 1000000 10000000)
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { batch } = require('./store');

const BATCH = 65_536;
const USER = 'bench';
const PASSWORD = 'bench-secret';

function* events(rows) {
  for (let start = 0; start < rows; start += BATCH) yield batch(start, Math.min(BATCH, rows - start));
}

function info(id, rows) {
  return {
    incident_id: id, service: 'bench', argv: ['bench'], env: [], cwd: '/', exe_path: '/bench',
    exe_sha256: '', started_at_ns: 1_750_000_000_000_000_000n, exit_code: 0, exit_signal: null,
    event_count: rows, duration_ns: 1n, files: {}, host: os.hostname(),
  };
}

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;

/**
 * This process's peak and current RSS in kB (VmHWM, VmRSS). Not getrusage's maxRSS: Linux carries
 * that across exec, so a child would report its parent's peak.
 */
function rss() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
  return { peak: kb('VmHWM'), now: kb('VmRSS') };
}

/** Child: open the store, fetch, print {rows, s, maxRssKb, baseRssKb}. */
async function fetchChild(kind, where, id, how) {
  const { openStore, openServerStore } = require('../dist/store');
  const store = kind === 'server'
    ? await openServerStore({ url: where, user: USER, password: PASSWORD, blobCacheHome: fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-cache-')) })
    : await openStore(where);
  await store.incident(id); // connected, schema checked: what follows is the fetch alone
  const baseRssKb = rss().peak;
  const t0 = process.hrtime.bigint();
  let rows = 0;
  let bytes = 0;
  if (how === 'stream') {
    for await (const b of store.events(id)) {
      rows += b.numRows;
      bytes += b.getChild('data_in').data[0].values.byteLength; // touch the data
    }
  } else {
    const table = await store.eventsTable(id);
    rows = table.numRows;
  }
  const s = seconds(t0);
  await store.close();
  process.stdout.write(`${JSON.stringify({ rows, s, maxRssKb: rss().peak, baseRssKb, bytes })}\n`);
}

function run(args) {
  const out = execFileSync(process.execPath, ['--max-old-space-size=16384', __filename, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

async function startEndpoint(data) {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'test', 'helpers', 'clickhouse-http.js'), '--data', data, '--user', USER, '--password', PASSWORD], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`endpoint exited ${code}`)));
  });
  return { child, ...JSON.parse(line) };
}

async function main() {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  if (sizes.length === 0) sizes.push(1_000_000, 10_000_000);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-server-'));
  const endpoint = await startEndpoint(path.join(work, 'endpoint'));
  const url = `http://127.0.0.1:${endpoint.port}/bench`;
  const home = path.join(work, 'embedded');
  const { openStore, openServerStore } = require('../dist/store');
  console.log(`server path: @clickhouse/client -> HTTP (gzip) -> test endpoint on chDB ${endpoint.version}; embedded: chDB in-process`);
  console.log(`${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}`);
  try {
    for (const rows of sizes) {
      const id = `bench-${rows}`;
      const server = await openServerStore({ url, user: USER, password: PASSWORD, blobCacheHome: work });
      let t0 = process.hrtime.bigint();
      await server.putIncident(info(id, rows), events(rows), new Map());
      const serverInsert = seconds(t0);
      await server.close();
      const embedded = await openStore(home);
      t0 = process.hrtime.bigint();
      await embedded.putIncident(info(id, rows), events(rows), new Map());
      const embeddedInsert = seconds(t0);
      await embedded.close();
      console.log(`\n${fmt(rows)} events`);
      console.log(`  insert   server ${serverInsert.toFixed(1)} s (${fmt(rows / serverInsert)} rows/s)   embedded ${embeddedInsert.toFixed(1)} s (${fmt(rows / embeddedInsert)} rows/s)`);
      for (const how of ['stream', 'table']) {
        for (const kind of ['server', 'embedded']) {
          const r = run(['--fetch', kind, kind === 'server' ? url : home, id, how]);
          if (r.rows !== rows) throw new Error(`${kind} ${how} fetched ${r.rows} of ${rows} rows`);
          console.log(
            `  ${how === 'stream' ? 'events()    ' : 'eventsTable()'} ${kind.padEnd(8)} ${r.s.toFixed(2)} s  ${fmt(rows / r.s).padStart(11)} rows/s  ` +
              `peak RSS ${mb(r.maxRssKb)} (${mb(r.baseRssKb)} before the fetch)`,
          );
        }
      }
    }
  } finally {
    endpoint.child.kill('SIGTERM');
    await new Promise((r) => endpoint.child.once('exit', r));
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--fetch') {
  fetchChild(process.argv[3], process.argv[4], process.argv[5], process.argv[6]).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
