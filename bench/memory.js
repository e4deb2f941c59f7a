#!/usr/bin/env node
// Memory of long recordings: the peak RSS (VmHWM) of replaybook (node) and of its engine while
// recording, then replaying, a service that makes N one-byte writes (bench/ones.c, `dd bs=1`
// style). The recording streams into the store as it runs, and a replay streams the log to the
// engine and its own events to disk past ReplayOptions.eventMemory, so node's memory should not
// grow with N while recording or replaying: the ratio of each peak to the smallest N's is printed
// (goal <= 1.2), with events/s. The engine still holds the whole log while it replays.
//
//   node bench/memory.js [--fast] [--no-replay] [N...]   default N: 1000000 10000000
//   --fast records with `record --fast` (the in-process path: ~14 us a call here, ptrace ~75 us);
//   --no-replay measures recording only. 10M takes minutes to record.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { compileC, machine, appendResults } = require('./common');

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const flags = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')));
const sizes = process.argv.slice(2).filter((a) => !a.startsWith('--')).map(Number).filter((n) => n > 0);
const fast = flags.has('--fast');
const doReplay = !flags.has('--no-replay');
if (sizes.length === 0) sizes.push(1_000_000, 10_000_000);

/** VmHWM of a process in bytes (0 once it is gone). */
function peakRss(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The engine among `pid`'s children, or 0. */
function engineOf(pid) {
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) {
        if (fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('replaybook-engine')) return Number(c);
      }
    }
  } catch {
    // gone
  }
  return 0;
}

/** Runs the CLI, sampling the peak RSS of node and its engine until it exits. */
function measure(args, env, okCodes = [0]) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    let node = 0;
    let engine = 0;
    let enginePid = 0;
    const timer = setInterval(() => {
      node = Math.max(node, peakRss(child.pid));
      enginePid ||= engineOf(child.pid);
      if (enginePid) engine = Math.max(engine, peakRss(enginePid));
    }, 50);
    child.once('error', reject);
    child.once('close', (code) => {
      clearInterval(timer);
      if (!okCodes.includes(code)) return reject(new Error(`replaybook ${args[0]} exited ${code}: ${stderr}`));
      resolve({ node, engine, seconds: Number(process.hrtime.bigint() - t0) / 1e9, stderr, code });
    });
  });
}

const mb = (b) => `${(b / 2 ** 20).toFixed(0)} MB`;

(async () => {
  const start = machine();
  const ones = compileC('ones');
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'replaybook-bench-memory-'));
  const env = { ...process.env, REPLAYBOOK_HOME: home };
  const rows = [];
  try {
    for (const n of sizes) {
      const id = `ones-${n}`;
      const rec = await measure(['record', '--incident', id, ...(fast ? ['--fast'] : []), '--', ones, String(n)], env);
      const events = Number(/: (\d+) events/.exec(rec.stderr)?.[1] ?? n);
      // Exit 3: the replay diverged (a recording that lost events): its memory is still measured,
      // and the row says so.
      const rep = doReplay ? await measure(['replay', id, '--speed', 'max'], env, [0, 3]) : { node: 0, engine: 0, seconds: Infinity };
      if (rep.code === 3) console.log(`N=${n}: the replay diverged (its peak covers the events served up to there)`);
      rows.push({ n, events, rec, rep });
      console.log(
        `N=${n}: record node ${mb(rec.node)}, engine ${mb(rec.engine)}, ${Math.round(events / rec.seconds)} events/s` +
          (doReplay ? `; replay node ${mb(rep.node)}, engine ${mb(rep.engine)}, ${Math.round(events / rep.seconds)} events/s` : ''),
      );
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(ones, { force: true });
  }
  const base = rows[0];
  const lines = ['| N | record node | record engine | record events/s | replay node | replay engine | replay events/s |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const ratio = (a, b) => (b ? ` (${(a / b).toFixed(2)}×)` : '');
    lines.push(
      `| ${r.n} | ${mb(r.rec.node)}${ratio(r.rec.node, base.rec.node)} | ${mb(r.rec.engine)}${ratio(r.rec.engine, base.rec.engine)} | ${Math.round(r.events / r.rec.seconds)} | ` +
        (doReplay
          ? `${mb(r.rep.node)}${ratio(r.rep.node, base.rep.node)} | ${mb(r.rep.engine)}${ratio(r.rep.engine, base.rep.engine)} | ${Math.round(r.events / r.rep.seconds)} |`
          : '- | - | - |'),
    );
  }
  console.log(lines.join('\n'));
  console.log(`ratios are against N=${base.n}; goal for recording and for node while replaying: <= 1.2`);
  appendResults(`node bench/memory.js ${[...flags, ...sizes].join(' ')}`, lines, start);
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
