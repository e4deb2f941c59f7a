#!/usr/bin/env node
// What recording costs nginx (a master and one worker process, sendfile) serving a 4 KiB static
// file to wrk: requests/s and p50/p99 latency natively, under the ptrace path, and under the fast
// path (record --fast --schedule parallel: under the serial schedule a tree of several processes
// traces every call), each mode in turn, REPS rounds, medians. Pinned as record pins (engine
// and service on one CPU); wrk runs on the other CPU.
//
//   npx tsc -p tsconfig.json && node bench/nginx.js      (REPS=3 SECONDS=3; needs Debian's nginx and wrk)
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { median, machine, appendResults, freePort } = require('./common');
const { openStore } = require('../dist/store');
const { record } = require('../dist/record/record');

const REPS = Number(process.env.REPS || 3);
const SECONDS = Number(process.env.SECONDS || 3);
const startMachine = machine();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-nginx-'));
fs.chmodSync(tmp, 0o755); // the worker runs as an unprivileged user: it must reach the files
let runNo = 0;

for (const tool of ['/usr/sbin/nginx', '/usr/bin/wrk']) {
  if (!fs.existsSync(tool)) {
    console.error(`${tool} is missing: sh scripts/install-system-deps.sh installs it`);
    process.exit(2);
  }
}

async function waitFor(what, ok, ms = 20_000) {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// wrk's summary: Requests/sec and the latency distribution (--latency) in ms.
function wrk(port) {
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t1', '-c4', `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/file.bin`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const lat = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (errors) throw new Error(`wrk saw ${errors[1]} failed responses:\n${out}`);
  return { rps, p50: lat(50), p99: lat(99) };
}

async function nginxRun(store, mode) {
  const dir = path.join(tmp, `run-${runNo++}`);
  fs.mkdirSync(path.join(dir, 'html'), { recursive: true });
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(path.join(dir, 'html'), 0o755);
  fs.writeFileSync(path.join(dir, 'html', 'file.bin'), Buffer.alloc(4096, 'x'));
  fs.chmodSync(path.join(dir, 'html', 'file.bin'), 0o644);
  const port = await freePort();
  const pidFile = path.join(dir, 'nginx.pid');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${dir}/${k};`).join(' ');
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `daemon off;\nmaster_process on;\nworker_processes 1;\npid ${pidFile};\nerror_log stderr warn;\nevents { worker_connections 64; }\n` +
      `http { access_log off; sendfile on; ${temp} server { listen 127.0.0.1:${port}; root ${dir}/html; } }\n`,
  );
  const cmd = ['/usr/sbin/nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr'];
  let done;
  if (mode === 'native') {
    const child = spawn('taskset', ['-c', '0', ...cmd], { stdio: 'ignore' });
    done = new Promise((r) => child.once('exit', r));
  } else {
    const fast = mode === 'fast';
    done = record({ incident: `nginx-${mode}-${runNo}`, command: cmd, cwd: dir, store, fast, schedule: fast ? 'parallel' : undefined, lateData: false });
  }
  let res;
  try {
    await waitFor('nginx writing its pid file', () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '');
    res = wrk(port);
  } finally {
    if (fs.existsSync(pidFile)) process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGQUIT');
    await done;
  }
  return res;
}

async function main() {
  const store = await openStore(path.join(tmp, 'store'));
  const runs = { native: [], ptrace: [], fast: [] };
  try {
    for (let i = 0; i < REPS; i++) for (const m of Object.keys(runs)) runs[m].push(await nginxRun(store, m));
  } finally {
    await store.close();
  }
  const m = (mode, k) => median(runs[mode].map((r) => r[k]));
  const base = m('native', 'rps');
  const row = (mode) =>
    `| ${mode} | ${m(mode, 'rps').toFixed(0)} | ${(m(mode, 'rps') / base).toFixed(3)}× | ${m(mode, 'p50').toFixed(3)} ms | ${m(mode, 'p99').toFixed(3)} ms | ${runs[mode].map((r) => r.rps.toFixed(0)).join(', ')} |`;
  const lines = [
    `nginx (master + 1 worker, sendfile, 4 KiB file) under wrk -t1 -c4 -d${SECONDS}s, medians of ${REPS}, modes in turn (fast: --fast --schedule parallel)`,
    '',
    '| mode | requests/s | vs native | p50 | p99 | runs (requests/s) |',
    '|---|---|---|---|---|---|',
    row('native'),
    row('ptrace'),
    row('fast'),
  ];
  for (const l of lines) console.log(l);
  appendResults('node bench/nginx.js', lines, startMachine);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
