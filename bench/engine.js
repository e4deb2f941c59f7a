#!/usr/bin/env node
// Engine and store benchmark: per-syscall cost of recording and replaying, against the same
// program run natively and under `strace -f`, all measured in this run. Prints medians. Record
// and replay run pinned (the default: tracer and program share one CPU) and with pinning off
// (`--no-pin`, pin: false), reported side by side; the pinned figures are the ones compared with
// strace and the floor.
//
//   npm run bench            (REPS=N to change repetitions; default 15)
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runEngine } = require('../dist/engine/engine');
const { toRecordBatch } = require('../dist/engine/columns');
const { buildFixtures, startProvider } = require('../dist/fixtures');
const { openStore } = require('../dist/store');
const { recordPaymentIncident } = require('../dist/demo');

const REPS = Number(process.env.REPS || 15);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function ms(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function timeNative(argv, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: 'ignore' });
  if (r.error) throw r.error;
  return ms(t0);
}

function timeStrace(argv, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', ...argv], { env, stdio: 'ignore' });
  if (r.error) throw r.error;
  return ms(t0);
}

async function timeRecord(argv, env, pin = true) {
  const batches = [];
  const files = new Map();
  let n = 0;
  const t0 = process.hrtime.bigint();
  await runEngine({
    mode: 'record', exe: argv[0], argv, env: Object.entries(env).map(([k, v]) => `${k}=${v}`), cwd: '/', pin,
    onEvents: (c) => { n += c.n; batches.push(toRecordBatch(c, 'bench', 'recording')); },
    onMessage: (m) => { if (m.type === 'file') files.set(m.path, m.path); },
  });
  return { wall: ms(t0), events: n, batches, files };
}

async function timeReplay(argv, env, rec, pin = true) {
  let n = 0;
  let diverged = false;
  const t0 = process.hrtime.bigint();
  await runEngine({
    mode: 'replay', exe: argv[0], argv, env: Object.entries(env).map(([k, v]) => `${k}=${v}`), cwd: '/', pin,
    speed: 'max', files: rec.files, input: rec.batches,
    onEvents: (c) => { n += c.n; },
    onMessage: (m) => { if (m.type === 'divergence' || m.type === 'error') diverged = true; },
  });
  if (diverged) throw new Error(`replay of ${argv.join(' ')} diverged`);
  return { wall: ms(t0), events: n };
}

// The physical floor: a minimal pinned seccomp tracer that only stops (bench/floor.c).
function buildFloor() {
  const out = path.join(os.tmpdir(), `replaybook-floor-${process.pid}`);
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, path.join(__dirname, 'floor.c')]);
  return out;
}

function floorRun(bin, mode, n) {
  return Number(execFileSync(bin, [mode, String(n)], { encoding: 'utf8' }).trim()) / 1e6;
}

const results = [];

async function floorBench(bin, engineDd) {
  const n = engineDd.events;
  const native = [], rec = [], emu = [], emuTsc = [], emuTsc2 = [];
  for (let i = 0; i < REPS; i++) {
    native.push(floorRun(bin, 'native', n));
    rec.push(floorRun(bin, 'record', n));
    emu.push(floorRun(bin, 'emulate', n));
    emuTsc.push(floorRun(bin, 'emulate+tsc', n));
    emuTsc2.push(floorRun(bin, 'emulate+tsc2', n));
  }
  const nn = median(native);
  const perRec = ((median(rec) - nn) * 1000) / n;
  const perEmu = ((median(emu) - nn) * 1000) / n;
  // Why the engine traps rdtsc in its own thread too (bench/floor.c).
  const perTsc = ((median(emuTsc) - nn) * 1000) / n;
  const perTsc2 = ((median(emuTsc2) - nn) * 1000) / n;
  console.log(`\nrdtsc trapped in the tracee only: ${perTsc.toFixed(2)} us/stop (${(perTsc / perEmu).toFixed(2)}x the one-stop floor); in the tracer too: ${perTsc2.toFixed(2)} us/stop (${(perTsc2 / perEmu).toFixed(2)}x)`);
  results.push(`| one stop, rdtsc trapped in the tracee only / in the tracer too (diagnostic) | ${perTsc.toFixed(2)} / ${perTsc2.toFixed(2)} µs/syscall | ${(perTsc / perEmu).toFixed(2)}× / ${(perTsc2 / perEmu).toFixed(2)}× floor |`);
  console.log(`\nfloor: a minimal pinned seccomp tracer, ${n} read/write syscalls, medians`);
  console.log(`  two stops (record floor)   ${perRec.toFixed(2)} us/syscall;  replaybook record ${engineDd.perRecord.toFixed(2)} us = ${(engineDd.perRecord / perRec).toFixed(2)}x floor`);
  console.log(`  one stop (emulate floor)   ${perEmu.toFixed(2)} us/syscall;  replaybook replay ${engineDd.perReplay.toFixed(2)} us = ${(engineDd.perReplay / perEmu).toFixed(2)}x floor`);
  results.push(`| floor, two stops (record) | ${perRec.toFixed(2)} µs/syscall | replaybook record: ${(engineDd.perRecord / perRec).toFixed(2)}× floor |`);
  results.push(`| floor, one stop (emulate) | ${perEmu.toFixed(2)} µs/syscall | replaybook replay: ${(engineDd.perReplay / perEmu).toFixed(2)}× floor |`);
}

async function workload(name, argv, env) {
  const native = [], strace = [], recW = [], repW = [], recU = [], repU = [];
  let rec;
  for (let i = 0; i < REPS; i++) {
    native.push(timeNative(argv, env));
    strace.push(timeStrace(argv, env));
    rec = await timeRecord(argv, env);
    recW.push(rec.wall);
    repW.push((await timeReplay(argv, env, rec)).wall);
    // --no-pin: the same run with tracer and program free to sit on different CPUs.
    const recUnpinned = await timeRecord(argv, env, false);
    recU.push(recUnpinned.wall);
    repU.push((await timeReplay(argv, env, recUnpinned, false)).wall);
  }
  const events = rec.events;
  const n = median(native), s = median(strace), r = median(recW), p = median(repW), ru = median(recU), pu = median(repU);
  const per = (x) => (((x - n) * 1000) / events).toFixed(2);
  const vs = (unpinned, pinned) => ((unpinned - n) / (pinned - n)).toFixed(2);
  // Unpinned runs are bimodal: the scheduler sometimes keeps tracer and program on one CPU anyway.
  const range = (xs) => `${per(Math.min(...xs))}–${per(Math.max(...xs))}`;
  console.log(`\n${name}: ${events} events, ${REPS} runs each, medians`);
  console.log(`  native      ${n.toFixed(2)} ms`);
  console.log(`  strace -f   ${s.toFixed(2)} ms   ${(s / n).toFixed(2)}x native   ${per(s)} us/syscall over native`);
  console.log(`  record      ${r.toFixed(2)} ms   ${(r / n).toFixed(2)}x native   ${per(r)} us/syscall over native   ${(r / s).toFixed(2)}x strace`);
  console.log(`  replay max  ${p.toFixed(2)} ms   ${(p / n).toFixed(2)}x native   ${per(p)} us/syscall over native   ${(p / s).toFixed(2)}x strace`);
  console.log(`  record     --no-pin  ${ru.toFixed(2)} ms   ${per(ru)} us/syscall over native   ${vs(ru, r)}x pinned   (runs: ${range(recU)} us/syscall; reported, not a target)`);
  console.log(`  replay max --no-pin  ${pu.toFixed(2)} ms   ${per(pu)} us/syscall over native   ${vs(pu, p)}x pinned   (runs: ${range(repU)} us/syscall; reported, not a target)`);
  results.push(`| ${name}: ${events} events | native ${n.toFixed(2)} ms | strace -f ${per(s)} µs/syscall | record ${per(r)} µs/syscall (${(r / s).toFixed(2)}× strace) | replay max ${per(p)} µs/syscall |`);
  results.push(`| ${name}, --no-pin | | | record ${per(ru)} µs/syscall (${vs(ru, r)}× pinned; runs ${range(recU)}) | replay max ${per(pu)} µs/syscall (${vs(pu, p)}× pinned; runs ${range(repU)}) |`);
  return { events, perRecord: ((r - n) * 1000) / events, perReplay: ((p - n) * 1000) / events };
}

const loadAtStart = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function appendResults() {
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || 'unknown CPU';
  const lines = [
    `\n## ${new Date().toISOString()} — \`REPS=${REPS} node bench/engine.js\``,
    `${os.cpus().length} × ${cpu}, Linux ${os.release()}, Node ${process.version}; medians; pinned to one CPU except the --no-pin rows; load average at start ${loadAtStart}, at end ${load} (other work on the machine inflates every figure)`,
    '',
    ...results,
    '',
  ];
  fs.appendFileSync(path.join(__dirname, 'RESULTS.md'), lines.join('\n'));
}

async function fetchBench() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-'));
  const store = await openStore(home, { keepOpen: true });
  try {
    await recordPaymentIncident(store, 'payment-timeout');
    const times = [];
    let rows = 0;
    for (let i = 0; i < REPS; i++) {
      const t0 = process.hrtime.bigint();
      rows = (await store.eventsTable('payment-timeout')).numRows;
      times.push(ms(t0));
    }
    console.log(`\nfetch of the demo incident as an Arrow table (${rows} events), store held open: median ${median(times).toFixed(2)} ms`);
    results.push(`| fetch of the demo incident (${rows} events), store held open | ${median(times).toFixed(2)} ms |`);
  } finally {
    await store.close();
  }
  // The default: the store is opened per operation, so other processes can use it in between.
  const perOp = await openStore(home);
  try {
    const times = [];
    for (let i = 0; i < REPS; i++) {
      const t0 = process.hrtime.bigint();
      await perOp.eventsTable('payment-timeout');
      times.push(ms(t0));
    }
    console.log(`fetch of the demo incident, store opened per operation (the default): median ${median(times).toFixed(2)} ms`);
    results.push(`| fetch of the demo incident, store opened per operation | ${median(times).toFixed(2)} ms |`);
  } finally {
    await perOp.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

async function main() {
  const bins = await buildFixtures();
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
  } catch {
    throw new Error('strace is needed for the baseline: apt-get install strace');
  }
  const provider = await startProvider({ delayMs: 0 });
  try {
    await workload('payment-client (fast provider: connect, send, poll, read, print)', [bins.paymentClient], {
      PATH: '/usr/bin:/bin', PAYMENT_TIMEOUT_MS: '2000', PAYMENT_PROVIDER: `127.0.0.1:${provider.port}`,
    });
  } finally {
    await provider.stop();
  }
  const dd = await workload('dd bs=1 count=20000 (40k read/write syscalls)', ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=20000', 'status=none'], {
    PATH: '/usr/bin:/bin',
  });
  const floor = buildFloor();
  try {
    await floorBench(floor, dd);
  } finally {
    fs.rmSync(floor, { force: true });
  }
  await fetchBench();
  if (process.env.NO_RESULTS !== '1') appendResults();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
