#!/usr/bin/env node
// jumpTo latency of the replay panel (ReplaySession) on an incident of ~100k events: from a
// session paused at its first event, a jump to the middle and a jump to the last syscall (both
// fast-forward), then from the end back to the middle (a restart with the log the session keeps,
// then fast-forward).
// Sessions use the store opened per operation, as a notebook's session() does. Prints medians;
// target: every jump under 1 s.
//
// Then, per size in SIZES (events; default 100k and 1M): a first pass (start to the last syscall),
// 20 jumps to random events (seeded) and 20 steps back of one event from random places, in one
// session, with medians and p95, against a fresh session's plain fast-forward (no checkpoints) to
// the end and to 5 of the same targets. Notes say what the first pass spent on checkpoints, its
// CPU time against the plain fast-forward's, and how many events a jump replayed and at what cost.
//
// PARTS=inprocess: what a replay at --speed max costs per event on dd bs=1 (SIZES events), with
// simple calls answered inside the program (the default) against every call through ptrace
// (inProcess: false), alternated in the same run; the engine alone (no store, no Node-side
// checks), medians.
//
// PARTS=threads: what a restore costs with several threads: jumps between two checkpoints (a
// restore each, no event replayed) and steps back of one event, on test/fixtures/thread-counters.c
// (3 threads) against dd (1 thread) in the same run.
//
//   npx tsc -p tsconfig.json && node bench/jump.js        (REPS=N, default 5; COUNT=bytes for dd; IN_PROCESS=0;
//                                                          SIZES=100000,1000000; PARTS=fixed,random,threads,inprocess)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { median, ms, machine, appendResults } = require('./common');
const { openStore } = require('../dist/store');
const { record } = require('../dist/record/record');
const { ReplaySession } = require('../dist/replay/session');
const { runEngine } = require('../dist/engine/engine');
const { toRecordBatch } = require('../dist/engine/columns');

const REPS = Number(process.env.REPS || 5);
const COUNT = Number(process.env.COUNT || 50_000); // dd bs=1: one read and one write per byte
const TARGET_MS = 1000;
const ID = 'dd-100k';
const PARTS = (process.env.PARTS || 'fixed,random').split(',');
const SIZES = (process.env.SIZES || '100000,1000000').split(',').map(Number);
const JUMPS = Number(process.env.JUMPS || 20);
// IN_PROCESS=0: sessions serve every call through ptrace (inProcess: false); default on, as in the product.
const IN_PROCESS = process.env.IN_PROCESS !== '0';

function p95(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)];
}

// A seeded generator (xorshift32), so runs jump to the same places.
function rng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

async function randomJumps(store, size) {
  const id = `dd-${size}`;
  const argv = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${Math.floor(size / 2)}`, 'status=none'];
  const rec = await timed(() => record({ incident: id, command: argv, env: { PATH: '/usr/bin:/bin' }, cwd: '/', store }));
  const events = await store.eventsTable(id);
  const kinds = events.getChild('kind');
  const seqs = events.getChild('seq');
  // Jump targets: syscalls (a pause happens before a served call).
  const targets = [];
  for (let i = 0; i < events.numRows; i++) if (String(kinds.get(i)) === 'syscall') targets.push(Number(seqs.get(i)));
  targets.sort((a, b) => a - b);
  const lastSeq = targets[targets.length - 1];
  console.log(`\nincident ${id}: ${argv.join(' ')}: ${events.numRows} events, recorded in ${rec.ms.toFixed(0)} ms`);
  const pick = rng(size);
  const jumpTargets = Array.from({ length: JUMPS }, () => targets[pick(targets.length)]);
  const stepFrom = Array.from({ length: JUMPS }, () => 1 + pick(targets.length - 1));

  const s = await ReplaySession.open(id, { store, ephemeral: true, speed: 'max', inProcess: IN_PROCESS }, { paused: true });
  const jumps = [], backs = [], dists = [], perEvent = [];
  let first, firstCpu, checkpointUs, checkpointKb;
  try {
    first = await timed(() => s.jumpTo(lastSeq));
    check(first.value, lastSeq, 'first pass');
    firstCpu = replayCpuMs(first.value);
    checkpointUs = s.checkpoints().checkpoints.reduce((a, c) => a + c.us, 0);
    checkpointKb = s.checkpoints().checkpoints.map((c) => c.pssKb);
    for (const t of jumpTargets) {
      // Where the jump restores from: the nearest checkpoint at or before the target.
      const from = Math.max(0, ...s.checkpoints().checkpoints.map((c) => c.seq).filter((q) => q <= t));
      const j = await timed(() => s.jumpTo(t));
      check(j.value, t, 'random jump');
      jumps.push(j.ms);
      dists.push(t - from);
      if (t - from >= 1000) perEvent.push((j.ms * 1000) / (t - from));
    }
    for (const i of stepFrom) {
      const [from, to] = [targets[i], targets[i - 1]];
      check(await s.jumpTo(from), from, 'to the step-back place');
      const j = await timed(() => s.jumpTo(to));
      check(j.value, to, 'step back');
      backs.push(j.ms);
    }
  } finally {
    await s.stop().catch(() => undefined);
  }
  // The baseline: a fresh session fast-forwarding to the same places and to the end (its open
  // not counted), taking no checkpoints: a plain fast-forward, what the first pass is held to.
  const ff = [];
  let ffEnd, ffCpu;
  for (const t of [lastSeq, ...jumpTargets.slice(0, 5)]) {
    const f = await ReplaySession.open(id, { store, ephemeral: true, speed: 'max', inProcess: IN_PROCESS }, { paused: true, checkpoints: false });
    try {
      const j = await timed(() => f.jumpTo(t));
      check(j.value, t, 'fast-forward');
      if (t === lastSeq && ffEnd === undefined) {
        ffEnd = j.ms;
        ffCpu = replayCpuMs(j.value);
      } else ff.push(j.ms);
    } finally {
      await f.stop().catch(() => undefined);
    }
  }
  const row = (what, xs, goal, base = ff) => `| ${events.numRows} | ${what} | ${median(xs).toFixed(0)} ms | ${p95(xs).toFixed(0)} ms | ${goal} | ${(median(xs) / median(base)).toFixed(2)}× | ${xs.map((x) => x.toFixed(0)).join(', ')} |`;
  const lines = [
    row('first pass (start → last syscall), taking checkpoints', [first.ms], 'no slower than fast-forward', [ffEnd]),
    row('fast-forward from a fresh session to the last syscall', [ffEnd], 'baseline of the first pass', [ffEnd]),
    row(`${JUMPS} random jumps`, jumps, '≤ 300 ms'),
    row(`${JUMPS} steps back of one event`, backs, '≤ 50 ms'),
    row('fast-forward from a fresh session (5 of the targets)', ff, 'baseline'),
  ];
  for (const l of lines) console.log(l);
  // Where a jump's time goes: the events replayed from the checkpoint it restores, each at about
  // the fast-forward's cost (the restore itself is a few ms: PARTS=threads).
  const notes = [
    `first pass: ${(checkpointUs / 1000).toFixed(0)} ms of it taking the ${s.checkpoints().checkpoints.length} checkpoints kept (${((checkpointUs / 1000 / first.ms) * 100).toFixed(1)}%), median ${median(s.checkpoints().checkpoints.map((c) => c.us)).toFixed(0)} µs each; their memory (PSS) ${(checkpointKb.reduce((a, k) => a + k, 0) / 1024).toFixed(1)} MiB in all, median ${median(checkpointKb)} KiB each; CPU of engine + program: first pass ${firstCpu} ms, plain fast-forward ${ffCpu} ms (${(firstCpu / ffCpu).toFixed(2)}×)`,
    `random jumps: events replayed from the restored checkpoint median ${median(dists)}, max ${Math.max(...dists)}; ${median(perEvent).toFixed(1)} µs per replayed event (median; fast-forward ${((ffEnd * 1000) / lastSeq).toFixed(1)} µs)`,
  ];
  for (const n of notes) console.log(n);
  return [...lines, '', ...notes.map((n) => `- ${n}`), ''];
}

// CPU time (ms) of the replay engine and the replayed program so far: less moved by other work on
// a loaded machine than wall time. The engine is this process's child; the program's pid is its
// leader's tid.
function replayCpuMs(state) {
  const cpu = (pid) => {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * (1000 / 100); // utime + stime, in clock ticks of 10 ms
  };
  const engines = [];
  for (const task of fs.readdirSync(`/proc/${process.pid}/task`)) {
    for (const c of fs.readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
      if (fs.readFileSync(`/proc/${c}/comm`, 'utf8').startsWith('replaybook-eng')) engines.push(Number(c));
    }
  }
  const leader = state.threads.find((t) => t.realTid)?.realTid;
  return engines.reduce((a, p) => a + cpu(p), 0) + (leader ? cpu(leader) : 0);
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: ms(t0), value };
}

function check(state, seq, what) {
  if (!state.paused || state.seq !== seq) {
    throw new Error(`${what}: expected to be paused before seq ${seq}, is ${state.paused ? 'paused' : 'running'} at ${state.seq}`);
  }
}

// Replay cost per event at --speed max, in-process against ptrace-served, on one recording.
async function replayCost(size) {
  const argv = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${Math.floor(size / 2)}`, 'status=none'];
  const env = ['PATH=/usr/bin:/bin'];
  const batches = [];
  const files = new Map();
  let recorded = 0;
  // Recorded with --fast (quicker to make; its events are the ptrace path's). A loaded machine
  // can keep the engine from draining the ring: the service waits for room rather than lose calls.
  let lossy = null;
  await runEngine({
    mode: 'record', exe: argv[0], argv, env, cwd: '/', fast: true, ringWaitMs: 60_000,
    onEvents: (c) => { recorded += c.n; batches.push(toRecordBatch(c, 'bench', 'recording')); },
    onMessage: (m) => {
      if (m.type === 'file') files.set(m.path, m.path);
      if (m.type === 'warning' && m.code === 'fast_lossy') lossy = m.message;
    },
  });
  if (lossy) throw new Error(`the recording is lossy: ${lossy}`);
  // CPU time of the engine and the program (reaped children of this process), less sensitive
  // than wall time to other work on the machine; clock ticks of 10 ms.
  const childCpuMs = () => {
    const f = fs.readFileSync('/proc/self/stat', 'utf8').slice(fs.readFileSync('/proc/self/stat', 'utf8').lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) * 10;
  };
  const cpu = { true: [], false: [] };
  const run = async (inProcess) => {
    let n = 0;
    let bad = null;
    const c0 = childCpuMs();
    const t0 = process.hrtime.bigint();
    await runEngine({
      mode: 'replay', exe: argv[0], argv, env, cwd: '/', speed: 'max', checkpoints: false, files, input: batches, inProcess,
      onEvents: (c) => { n += c.n; },
      onMessage: (m) => { if (m.type === 'divergence' || m.type === 'error') bad = m; },
    });
    const wall = ms(t0);
    cpu[inProcess].push(childCpuMs() - c0);
    if (bad) throw new Error(`replay (inProcess ${inProcess}) failed: ${JSON.stringify(bad, (k, v) => (typeof v === "bigint" ? String(v) : v)).slice(0, 600)}`);
    if (n < recorded) throw new Error(`replay (inProcess ${inProcess}) made ${n} of ${recorded} events`);
    return wall;
  };
  const native = [], inproc = [], ptrace = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = process.hrtime.bigint();
    require('node:child_process').spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
    native.push(ms(t0));
    inproc.push(await run(true));
    ptrace.push(await run(false));
  }
  const us = (x) => ((x * 1000) / recorded).toFixed(2);
  const [n, a, b] = [median(native), median(inproc), median(ptrace)];
  const [ca, cb] = [median(cpu.true), median(cpu.false)];
  console.log(`\nreplay --speed max of ${argv.join(' ')}: ${recorded} events, ${REPS} runs each, medians (engine alone, pinned)`);
  console.log(`  native dd      ${n.toFixed(0)} ms   ${us(n)} us/event`);
  console.log(`  in-process     ${a.toFixed(0)} ms   ${us(a)} us/event   runs ${inproc.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`  ptrace-served  ${b.toFixed(0)} ms   ${us(b)} us/event   runs ${ptrace.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`  in-process / ptrace: ${(a / b).toFixed(3)} wall`);
  console.log(`  CPU time (engine + program): in-process ${us(ca)} us/event, ptrace-served ${us(cb)} us/event, ratio ${(ca / cb).toFixed(3)}`);
  return [`| ${recorded} | ${us(n)} µs | ${us(a)} µs (CPU ${us(ca)} µs) | ${us(b)} µs (CPU ${us(cb)} µs) | ${(a / b).toFixed(3)} (CPU ${(ca / cb).toFixed(3)}) | ≤ 2 µs in-process |`];
}

async function main() {
  const startMachine = machine();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-jump-'));
  const store = await openStore(home);
  try {
    if (PARTS.includes('fixed')) await fixedJumps(store, startMachine);
    if (PARTS.includes('threads')) await threadRestores(store, home, startMachine);
    if (PARTS.includes('inprocess')) {
      const lines = [];
      for (const size of SIZES) lines.push(...(await replayCost(size)));
      appendResults(`SIZES=${SIZES.join(',')} PARTS=inprocess node bench/jump.js`, [
        `Replay at --speed max of dd bs=1, per event (wall time / events, engine alone, pinned, no checkpoints), REPS=${REPS}, medians; native dd for reference`,
        '',
        '| events | native | in-process | ptrace-served | ratio | goal |',
        '|---|---|---|---|---|---|',
        ...lines,
      ], startMachine);
    }
    if (PARTS.includes('random')) {
      const lines = [];
      for (const size of SIZES) lines.push(...(await randomJumps(store, size)));
      appendResults(`${IN_PROCESS ? '' : 'IN_PROCESS=0 '}SIZES=${SIZES.join(',')} PARTS=random node bench/jump.js`, [
        `ReplaySession.jumpTo in one session (speed max, ${IN_PROCESS ? 'calls answered in-process' : 'every call through ptrace'}): a first pass, ${JUMPS} jumps to random syscalls and ${JUMPS} steps back of one event, against a fresh session's fast-forward; ratio = median / fast-forward median`,
        '',
        '| events | jumps | median | p95 | goal | vs fast-forward | runs (ms) |',
        '|---|---|---|---|---|---|---|',
        ...lines,
      ], startMachine);
    }
  } finally {
    await store.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

// Same-place jumps and steps back of one event from the middle of a run, JUMPS of each.
async function restores(store, id, argv) {
  await record({ incident: id, command: argv, env: { PATH: '/usr/bin:/bin' }, cwd: '/', store });
  const events = await store.eventsTable(id);
  const kinds = events.getChild('kind');
  const seqs = events.getChild('seq');
  const tids = new Set();
  const targets = [];
  for (let i = 0; i < events.numRows; i++) {
    if (String(kinds.get(i)) !== 'syscall') continue;
    targets.push(Number(seqs.get(i)));
    tids.add(Number(events.getChild('tid').get(i)));
  }
  targets.sort((a, b) => a - b);
  const at = targets[Math.floor(targets.length * 0.6)];
  const before = targets[Math.floor(targets.length * 0.6) - 1];
  const s = await ReplaySession.open(id, { store, ephemeral: true, speed: 'max' }, { paused: true });
  const same = [], backs = [];
  try {
    check(await s.jumpTo(at), at, 'first pass');
    // Between two checkpoints (the one at `at`, taken at its pause, and the one before): each
    // jump is a restore and no event replayed.
    const other = Math.max(...s.checkpoints().checkpoints.map((c) => c.seq).filter((q) => q < at));
    for (let i = 0; i < JUMPS; i++) {
      const to = i % 2 ? at : other;
      const j = await timed(() => s.jumpTo(to));
      check(j.value, to, 'to a checkpoint');
      if (!s.checkpoints().lastRestore?.restored) throw new Error(`${id}: no checkpoint restored (${s.checkpoints().refused})`);
      same.push(j.ms);
    }
    for (let i = 0; i < JUMPS; i++) {
      check(await s.jumpTo(at), at, 'to the step-back place');
      const j = await timed(() => s.jumpTo(before));
      check(j.value, before, 'step back');
      backs.push(j.ms);
    }
  } finally {
    await s.stop().catch(() => undefined);
  }
  return { events: events.numRows, threads: tids.size, same, backs };
}

async function threadRestores(store, home, startMachine) {
  const exe = path.join(home, 'thread-counters');
  require('node:child_process').execFileSync('cc', ['-O0', '-pthread', '-o', exe, path.join(__dirname, '..', 'test', 'fixtures', 'thread-counters.c')]);
  const one = await restores(store, 'dd-restore', ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=2000', 'status=none']);
  const three = await restores(store, 'threads-restore', [exe, '300']);
  const row = (what, r, xs, base) => `| ${what} | ${r.threads} | ${r.events} | ${median(xs).toFixed(1)} ms | ${p95(xs).toFixed(1)} ms | ${(median(xs) / median(base)).toFixed(2)}× | ${xs.map((x) => x.toFixed(1)).join(', ')} |`;
  const lines = [
    row('jump to a checkpoint (a restore, no event replayed): dd', one, one.same, one.same),
    row('jump to a checkpoint (a restore, no event replayed): thread-counters', three, three.same, one.same),
    row('step back of one event: dd', one, one.backs, one.backs),
    row('step back of one event: thread-counters', three, three.backs, one.backs),
  ];
  for (const l of lines) console.log(l);
  appendResults('PARTS=threads node bench/jump.js', [
    `Restoring a checkpoint of a process with 3 threads against one with 1 thread: ${JUMPS} ReplaySession.jumpTo each, in one session (speed max); ratio = median / the 1-thread median`,
    '',
    '| jump | threads | events | median | p95 | vs 1 thread | runs (ms) |',
    '|---|---|---|---|---|---|---|',
    ...lines,
  ], startMachine);
}

async function fixedJumps(store, startMachine) {
  const argv = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${COUNT}`, 'status=none'];
  {
    const rec = await timed(() => record({ incident: ID, command: argv, env: { PATH: '/usr/bin:/bin' }, cwd: '/', store }));
    const events = await store.eventsTable(ID);
    const kinds = events.getChild('kind');
    let last = events.numRows - 1;
    while (last > 0 && String(kinds.get(last)) !== 'syscall') last--;
    const lastSeq = Number(events.getChild('seq').get(last));
    const midSeq = Math.floor(events.numRows / 2);
    console.log(`incident: ${argv.join(' ')}: ${events.numRows} events, recorded in ${rec.ms.toFixed(0)} ms; middle seq ${midSeq}, last syscall seq ${lastSeq} (${String(events.getChild('name').get(last))})`);

    const open = [], toMid = [], toLast = [], back = [], fetch = [];
    for (let i = 0; i < REPS; i++) {
      // The log alone, as a session fetches it (store opened per operation).
      fetch.push((await timed(() => store.eventsTable(ID))).ms);

      // From the start to the middle.
      let o = await timed(() => ReplaySession.open(ID, { store, ephemeral: true }, { paused: true }));
      open.push(o.ms);
      let s = o.value;
      check(await s.state(), 0, 'open');
      let j = await timed(() => s.jumpTo(midSeq));
      check(j.value, midSeq, 'start → middle');
      toMid.push(j.ms);
      await s.stop().catch(() => undefined);

      // From the start to the end, then back to the middle.
      o = await timed(() => ReplaySession.open(ID, { store, ephemeral: true }, { paused: true }));
      open.push(o.ms);
      s = o.value;
      j = await timed(() => s.jumpTo(lastSeq));
      check(j.value, lastSeq, 'start → end');
      toLast.push(j.ms);
      j = await timed(() => s.jumpTo(midSeq));
      check(j.value, midSeq, 'end → middle');
      back.push(j.ms);
      await s.stop().catch(() => undefined);
    }
    const rows = [
      [`start → middle (seq ${midSeq}), fast-forward`, toMid],
      [`start → last syscall (seq ${lastSeq}), fast-forward`, toLast],
      [`end → middle (seq ${midSeq}), restart + fast-forward`, back],
    ];
    console.log(`\njumpTo on ${events.numRows} events, ${REPS} reps, medians (target < ${TARGET_MS} ms each); store opened per operation`);
    console.log(`  ReplaySession.open(paused), for reference: ${median(open).toFixed(0)} ms (fetches the log, sends it to the engine, starts the program); the fetch alone: ${median(fetch).toFixed(0)} ms`);
    const lines = [];
    for (const [what, xs] of rows) {
      const m = median(xs);
      const verdict = m < TARGET_MS ? 'PASS' : 'MISS';
      // Forward jumps: per event fast-forwarded. Backward: what the restart adds to the same jump from the start.
      const note = xs === back
        ? `restart ${(m - median(toMid)).toFixed(0)} ms over start → middle`
        : `${((m * 1000) / (xs === toMid ? midSeq : lastSeq)).toFixed(2)} µs/event fast-forwarded`;
      console.log(`  ${what.padEnd(62)} ${m.toFixed(0).padStart(6)} ms   ${verdict}   ${note}   [${xs.map((x) => x.toFixed(0)).join(', ')}]`);
      lines.push(`| ${what} | ${m.toFixed(0)} ms | < ${TARGET_MS} ms: **${verdict}** | ${note} | runs ${xs.map((x) => x.toFixed(0)).join(', ')} |`);
    }
    appendResults(`REPS=${REPS} node bench/jump.js`, [
      `ReplaySession.jumpTo on \`${argv.slice(0, 5).join(' ')}\`: ${events.numRows} events; medians of ${REPS}; pinned; store opened per operation; ReplaySession.open(paused) ${median(open).toFixed(0)} ms, of which fetching the log ${median(fetch).toFixed(0)} ms`,
      '',
      '| jump | median | target | cost | runs |',
      '|---|---|---|---|---|',
      ...lines,
    ], startMachine);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
