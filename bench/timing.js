#!/usr/bin/env node
// Replay timing: does a replay at 1× take as long as the recording did? For incidents whose
// timing matters, each recorded and then replayed at 1× and at max in the same run. Prints
// medians of the per-run figures and checks the 1× target: within ±2 % or ±5 ms of the
// recording, whichever is larger.
//
// Durations are the run's own: from its first syscall (the execve) to its exit, as the engine
// timestamps them (events' enter_ns; the exit event is the last). Both the recorder and the
// replayer start their clock at that first syscall, and the replayer paces every later event
// against it, so that is the interval 1× promises to reproduce. Process start-up around it (the
// engine's spawn, the replay's namespaces and bind mounts, fetching the log from the store) is
// not part of the recorded run; it is shown separately as "set-up".
//
//   npx tsc -p tsconfig.json && node bench/timing.js        (REPS=N, default 7)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Table } = require('apache-arrow');
const { median, machine, appendResults, compileC } = require('./common');
const { openStore } = require('../dist/store');
const { record } = require('../dist/record/record');
const { replay } = require('../dist/replay/replay');
const { recordPaymentIncident } = require('../dist/demo');

const REPS = Number(process.env.REPS || 7);
const PROVIDER_DELAY_MS = 200;

/** enter_ns of a run's last event, checked to be its exit. */
function lastEventNs(batches) {
  const b = batches[batches.length - 1];
  const i = b.numRows - 1;
  const kind = String(b.getChild('kind').get(i));
  if (kind !== 'exit') throw new Error(`the run's last event is '${kind}', not its exit`);
  return b.getChild('enter_ns').get(i);
}

const nsToMs = (ns) => Number(ns) / 1e6;

/**
 * Where a replay fell behind its recording at once: events whose lag (replayed enter_ns minus
 * recorded enter_ns) grew by more than 2 ms since the previous event. A reproduced replay has the
 * recording's events in the same order, so rows line up by position.
 */
function lagJumps(recorded, replayed) {
  const rec = recorded.getChild('enter_ns');
  const names = recorded.getChild('name');
  const rep = new Table(replayed).getChild('enter_ns');
  const jumps = [];
  let prev = 0;
  for (let i = 0; i < Math.min(recorded.numRows, rep.length); i++) {
    const lag = nsToMs(rep.get(i) - rec.get(i));
    if (lag - prev > 2) jumps.push({ seq: i, name: String(names.get(i)), ms: lag - prev });
    prev = lag;
  }
  return jumps;
}

async function bench(store, name, recordOne) {
  const recorded = [], at1 = [], atMax = [], diffs = [], setup = [], jumps = [];
  let events = 0;
  for (let i = 0; i < REPS; i++) {
    const id = `${name.split(' ')[0]}-${i}`;
    const info = await recordOne(id);
    events = info.event_count;
    const one = await replay(id, { store, speed: 1, ephemeral: true });
    const max = await replay(id, { store, speed: 'max', ephemeral: true });
    for (const r of [one, max]) {
      if (!r.reproduced) throw new Error(`replay of ${id} at ${r.speed} did not reproduce it${r.divergence ? `: ${r.divergence.reason}` : ''}`);
    }
    const rec = nsToMs(info.duration_ns);
    const oneMs = nsToMs(lastEventNs(one.batches));
    recorded.push(rec);
    at1.push(oneMs);
    atMax.push(nsToMs(lastEventNs(max.batches)));
    diffs.push(oneMs - rec);
    setup.push(one.wallMs - oneMs);
    jumps.push(...lagJumps(await store.eventsTable(id), one.batches));
  }
  const rec = median(recorded), one = median(at1), max = median(atMax), diff = median(diffs);
  const tol = Math.max(0.02 * rec, 5);
  const verdict = Math.abs(diff) <= tol ? 'PASS' : 'MISS';
  const worst = diffs.reduce((a, d) => (Math.abs(d) > Math.abs(a) ? d : a), 0);
  const sign = (x) => (x >= 0 ? '+' : '') + x.toFixed(2);
  console.log(`\n${name}: ${events} events, ${REPS} recordings, each replayed at 1× and at max; medians; first syscall (execve) → exit`);
  console.log(`  recorded          ${rec.toFixed(2)} ms`);
  console.log(`  replay at 1×      ${one.toFixed(2)} ms   difference ${sign(diff)} ms (${sign((diff / rec) * 100)} %)   target ±${tol.toFixed(2)} ms (±2 % or ±5 ms, the larger): ${verdict}`);
  console.log(`                    per run: ${diffs.map(sign).join(', ')} ms (largest ${sign(worst)} ms)`);
  console.log(`                    sudden lag > 2 ms at one event: ${jumps.length} in ${REPS} runs${jumps.length ? ` (${jumps.map((j) => `+${j.ms.toFixed(1)} ms before ${j.name}`).join(', ')})` : ''}`);
  console.log(`  replay at max     ${max.toFixed(2)} ms   ${(max / rec).toFixed(3)}× recorded (${(rec / max).toFixed(1)}× faster)`);
  console.log(`  set-up of a replay before its execve (spawn, namespaces, mounts; not in the figures above): ${median(setup).toFixed(1)} ms`);
  return `| ${name}: ${events} events | recorded ${rec.toFixed(2)} ms | replay 1× ${one.toFixed(2)} ms | ${sign(diff)} ms (${sign((diff / rec) * 100)} %; per run ${diffs.map((d) => d.toFixed(1)).join(', ')}) | target ±${tol.toFixed(2)} ms: **${verdict}** | ${jumps.length} (${jumps.map((j) => `+${j.ms.toFixed(1)}`).join(', ') || '–'}) | replay max ${max.toFixed(2)} ms (${(max / rec).toFixed(3)}×) |`;
}

async function main() {
  const startMachine = machine();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-timing-'));
  const gaps = compileC('gaps');
  const store = await openStore(home, { keepOpen: true });
  const rows = [];
  try {
    rows.push(await bench(store, 'gaps (10 × clock_gettime, nanosleep 20 ms, ~6 ms of computing, write)', async (id) => {
      const r = await record({ incident: id, command: [gaps], env: { PATH: '/usr/bin:/bin' }, cwd: '/', store });
      return r.incident;
    }));
    rows.push(await bench(store, `payment-client (provider answers after ${PROVIDER_DELAY_MS} ms, timeout 2000 ms)`, async (id) => {
      const r = await recordPaymentIncident(store, id, { providerDelayMs: PROVIDER_DELAY_MS });
      return r.incident;
    }));
  } finally {
    await store.close();
    fs.rmSync(gaps, { force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
  appendResults(`REPS=${REPS} node bench/timing.js`, [
    'Replay at 1× vs the recording: the run\'s own duration, first syscall (execve) → exit; medians; pinned',
    '',
    '| incident | recorded | replay 1× | difference (median; per run) | target | sudden lags > 2 ms (ms) | replay max |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ], startMachine);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
