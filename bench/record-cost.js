#!/usr/bin/env node
// What recording costs a service: ptrace path against the fast path (record --fast,
// docs/fast-path.md), each against the same program run natively in the same run. Medians of REPS.
//
//  1. dd if=/dev/zero of=/dev/null bs=1 count=N: 2N syscalls. Cost per recorded syscall above
//     native = (run time recorded - run time native) / 2N. The recorded run's time is the log's
//     own (execve to exit); the native one is spawn to exit.
//  2. redis-server under redis-benchmark -n R -c 4 -t set,get: requests/s and p50/p99 latency,
//     native, under the ptrace path, and under the fast path (with --schedule parallel: redis has
//     background threads, and under the serial schedule a tree of several threads traces
//     every call), pinned (default) and with --no-pin (the engine drains on the other CPU).
//
//  3. replay of the first ptrace recording of redis at --speed max: µs per event with simple calls
//     answered inside the program (the default) against every call through ptrace (inProcess:
//     false), alternated, medians of REPS; and how many events were answered in-process.
//
//   npx tsc -p tsconfig.json && node bench/record-cost.js     (REPS=5 N=20000 R=20000;
//                                                              PARTS=replay: one ptrace recording of redis and 3. only)
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Table } = require('apache-arrow');
const { median, machine, appendResults, freePort } = require('./common');
const { openStore } = require('../dist/store');
const { record } = require('../dist/record/record');
const { replay } = require('../dist/replay/replay');

const REPS = Number(process.env.REPS || 5);
const N = Number(process.env.N || 20000);
const R = Number(process.env.R || 20000);
const startMachine = machine();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-record-cost-'));
let runNo = 0;
let firstRedis = null;

function replayLine(rp) {
  return (
    `replay at --speed max of ${firstRedis} (${rp.events} events, ptrace recording), medians of ${REPS}, alternated: ` +
    `in-process ${rp.inProcess.toFixed(2)} µs/event (${rp.served} events answered in-process), ptrace-served ${rp.ptrace.toFixed(2)} µs/event (${(rp.inProcess / rp.ptrace).toFixed(2)}×)`
  );
}

// Replays `id` at speed max REPS times each way, alternated: µs per event (medians).
async function replayCost(store, id) {
  const us = { true: [], false: [] };
  let events = 0, served = 0;
  for (let i = 0; i < REPS; i++) {
    for (const inProcess of [true, false]) {
      const r = await replay(id, { store, speed: 'max', ephemeral: true, inProcess });
      if (r.divergence) throw new Error(`replay of ${id} diverged: ${r.divergence.reason}`);
      us[inProcess].push((r.wallMs * 1000) / r.events);
      events = r.events;
      if (inProcess) served = r.servedInProcess ?? 0;
    }
  }
  return { events, served, inProcess: median(us.true), ptrace: median(us.false) };
}

async function logDurationNs(store, id) {
  let first = null;
  let last = 0n;
  for await (const b of store.events(id)) {
    for (const e of new Table([b]).toArray()) {
      const t = BigInt(e.enter_ns);
      if (first === null || t < first) first = t;
      if (t > last) last = t;
    }
  }
  return Number(last - (first ?? 0n));
}

async function ddCost(store) {
  const args = ['if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${N}`, 'status=none'];
  const native = [], ptrace = [], fast = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync('dd', args);
    native.push(Number(process.hrtime.bigint() - t0));
    for (const [mode, into] of [['ptrace', ptrace], ['fast', fast]]) {
      const id = `dd-${mode}-${runNo++}`;
      await record({ incident: id, command: ['dd', ...args], store, fast: mode === 'fast', lateData: false });
      into.push(await logDurationNs(store, id));
    }
  }
  const n = median(native);
  const perCall = (xs) => (median(xs) - n) / (2 * N) / 1000;
  return { native: n / 1e6, ptrace: median(ptrace) / 1e6, fast: median(fast) / 1e6, ptraceUs: perCall(ptrace), fastUs: perCall(fast) };
}

async function waitPort(port) {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.end(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis did not listen on ${port}`);
}

/** redis-benchmark --csv: test -> { rps, p50, p99 }. */
function benchmark(port) {
  const out = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-n', String(R), '-c', '4', '-t', 'set,get', '--csv'], { encoding: 'utf8' });
  const res = {};
  for (const line of out.trim().split('\n').slice(1)) {
    const f = line.split(',').map((x) => x.replace(/"/g, ''));
    res[f[0]] = { rps: Number(f[1]), p50: Number(f[4]), p99: Number(f[6]) };
  }
  return res;
}

async function redisRun(store, mode) {
  const port = await freePort();
  const cmd = ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp];
  let done;
  if (mode === 'native') {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'ignore' });
    done = new Promise((r) => child.once('exit', r));
  } else {
    const fast = mode.startsWith('fast');
    const incident = `redis-${mode}-${runNo++}`;
    if (mode === 'ptrace' && !firstRedis) firstRedis = incident;
    done = record({ incident, command: cmd, store, fast, schedule: fast ? 'parallel' : undefined, pin: mode !== 'fast-nopin', lateData: false });
  }
  await waitPort(port);
  const res = benchmark(port);
  execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown', 'nosave']);
  await done;
  return res;
}

async function main() {
  const store = await openStore(path.join(tmp, 'store'));
  if (process.env.PARTS === 'replay') {
    await redisRun(store, 'ptrace');
    const rp = await replayCost(store, firstRedis);
    await store.close();
    const line = replayLine(rp);
    console.log(line);
    appendResults('PARTS=replay node bench/record-cost.js', [line], startMachine);
    fs.rmSync(tmp, { recursive: true, force: true });
    return;
  }
  const dd = await ddCost(store);
  const runs = { native: [], ptrace: [], fast: [], 'fast-nopin': [] };
  for (let i = 0; i < REPS; i++) for (const m of Object.keys(runs)) runs[m].push(await redisRun(store, m));
  const rp = await replayCost(store, firstRedis);
  await store.close();
  const lines = [
    `dd bs=1 count=${N} (${2 * N} syscalls), medians of ${REPS}: native ${dd.native.toFixed(1)} ms, ptrace ${dd.ptrace.toFixed(1)} ms, fast ${dd.fast.toFixed(1)} ms`,
    `- cost per recorded syscall above native: ptrace ${dd.ptraceUs.toFixed(2)} µs, fast ${dd.fastUs.toFixed(2)} µs (${(dd.ptraceUs / dd.fastUs).toFixed(1)}× less)`,
    `redis-benchmark -n ${R} -c 4 -t set,get, medians of ${REPS} (fast: --schedule parallel; fast-nopin: also --no-pin):`,
  ];
  for (const t of ['SET', 'GET']) {
    const m = (mode, k) => median(runs[mode].map((r) => r[t]?.[k] ?? NaN));
    const base = m('native', 'rps');
    lines.push(
      `- ${t}: native ${base.toFixed(0)}/s p50 ${m('native', 'p50')} ms p99 ${m('native', 'p99')} ms; ` +
        `ptrace ${m('ptrace', 'rps').toFixed(0)}/s (${(m('ptrace', 'rps') / base).toFixed(3)}×) p50 ${m('ptrace', 'p50')} p99 ${m('ptrace', 'p99')}; ` +
        `fast ${m('fast', 'rps').toFixed(0)}/s (${(m('fast', 'rps') / base).toFixed(3)}×) p50 ${m('fast', 'p50')} p99 ${m('fast', 'p99')}; ` +
        `fast-nopin ${m('fast-nopin', 'rps').toFixed(0)}/s (${(m('fast-nopin', 'rps') / base).toFixed(3)}×) p50 ${m('fast-nopin', 'p50')} p99 ${m('fast-nopin', 'p99')}`,
    );
  }
  lines.push(replayLine(rp));
  for (const l of lines) console.log(l);
  appendResults('node bench/record-cost.js', lines, startMachine);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
