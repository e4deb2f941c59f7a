#!/usr/bin/env node
// jumpTo latency of the replay panel (ReplaySession) on an incident of ~100k events: from a
// session paused at its first event, a jump to the middle and a jump to the last syscall (both
// fast-forward), then from the end back to the middle (a restart with the log the session keeps,
// then fast-forward).
// Sessions use the store opened per operation, as a notebook's session() does. Prints medians;
// target: every jump under 1 s.
//
//   npx tsc -p tsconfig.json && node bench/jump.js        (REPS=N, default 5; COUNT=bytes for dd)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { median, ms, machine, appendResults } = require('./common');
const { openStore } = require('../dist/store');
const { record } = require('../dist/record/record');
const { ReplaySession } = require('../dist/replay/session');

const REPS = Number(process.env.REPS || 5);
const COUNT = Number(process.env.COUNT || 50_000); // dd bs=1: one read and one write per byte
const TARGET_MS = 1000;
const ID = 'dd-100k';

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

async function main() {
  const startMachine = machine();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-jump-'));
  const store = await openStore(home);
  const argv = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${COUNT}`, 'status=none'];
  try {
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
  } finally {
    await store.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
