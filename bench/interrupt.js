#!/usr/bin/env node
// How fast Ctrl-C stops `replaybook replay`, whatever the replay is doing. The payment incident is
// recorded into a scratch store, then `replaybook replay` runs at 1x again and again and gets a
// SIGINT in one of three phases, told apart from /proc: fetching (no engine process yet: reading
// the incident and its files from the store; a SIGINT before node installed its handler counts as
// starting), spawning (the engine is there, the program is not
// yet exec'd), running (the program has run for a while). The latency is from the SIGINT until the
// CLI and every process it started are gone (up to 10 s: beyond that they count as left behind).
// Prints the medians; goal: at most 200 ms.
//
//   npx tsc -p tsconfig.json && node bench/interrupt.js        (REPS=N per phase, default 7)
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { median, machine, appendResults } = require('./common');
const { openStore } = require('../dist/store');
const { recordPaymentIncident } = require('../dist/demo');

const REPS = Number(process.env.REPS || 7);
const GOAL_MS = 200;
const CLI = process.env.REPLAYBOOK_CLI || path.join(__dirname, '..', 'bin', 'replaybook.js');

/** pid -> { ppid, comm } from /proc. */
function procs() {
  const out = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const [state, ppid] = stat.slice(close + 2).split(' ');
      out.set(Number(name), { ppid: Number(ppid), comm, state });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function descendants(root, table = procs()) {
  const found = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop();
    for (const [pid, info] of table) {
      if (info.ppid === p) {
        found.push({ pid, ...info });
        stack.push(pid);
      }
    }
  }
  return found;
}

function phaseOf(cli) {
  const kids = descendants(cli);
  if (kids.some((k) => k.comm.startsWith('payment-client'))) return 'running';
  if (kids.some((k) => k.comm.includes('replaybook') || k.comm.includes('engine'))) return 'spawning';
  return 'fetching';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function trial(home, target) {
  const child = spawn(process.execPath, [CLI, 'replay', 'pay'], { env: { ...process.env, REPLAYBOOK_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal, at: process.hrtime.bigint() })));
  const t0 = Date.now();
  let seen = 'fetching';
  let runningSince = 0;
  for (;;) {
    if (child.exitCode !== null) return { phase: 'missed', ms: NaN };
    seen = phaseOf(child.pid);
    // Node and chDB take a few hundred ms to start: before that SIGINT kills node outright.
    if (target === 'fetching' && seen !== 'fetching') return { phase: 'missed', ms: NaN };
    if (target === 'fetching' && Date.now() - t0 >= 900) break;
    if (target === 'spawning' && seen === 'spawning') break;
    if (target === 'running' && seen === 'running') {
      runningSince ||= Date.now();
      if (Date.now() - runningSince >= 500) break;
    }
    if (target !== 'fetching' && seen !== 'fetching' && seen !== target && target === 'spawning') return { phase: 'missed', ms: NaN };
    if (Date.now() - t0 > 20_000) return { phase: 'missed', ms: NaN };
    await sleep(target === 'spawning' ? 1 : 5);
  }
  const tree = descendants(child.pid);
  const sent = process.hrtime.bigint();
  child.kill('SIGINT');
  await exited;
  // Stopped means the CLI and every process it started are gone (zombies count as gone).
  const alive = () => {
    const table = procs();
    return tree.filter((p) => table.has(p.pid) && table.get(p.pid).comm === p.comm && table.get(p.pid).state !== 'Z');
  };
  let left = alive();
  while (left.length > 0 && Number(process.hrtime.bigint() - sent) / 1e6 < 10_000) {
    await sleep(2);
    left = alive();
  }
  const latency = Number(process.hrtime.bigint() - sent) / 1e6;
  // Before the CLI installs its handler SIGINT kills node outright, with nothing on stderr.
  if (seen === 'fetching' && !/interrupted/.test(stderr)) seen = 'starting';
  return { phase: seen, ms: latency, left: left.length, stderr: process.env.REPLAYBOOK_CLI ? `${Number(sent / 1000000n) % 100000} ${stderr.trim().replace(/\n/g, ' | ')}` : stderr.trim().split('\n').pop() };
}

async function main() {
  const startMachine = machine();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-interrupt-'));
  const home = path.join(work, 'store');
  const store = await openStore(home);
  await recordPaymentIncident(store, 'pay');
  await store.close();
  const byPhase = { starting: [], fetching: [], spawning: [], running: [] };
  let leftovers = 0;
  try {
    for (let i = 0; i < REPS; i++) {
      for (const target of ['fetching', 'spawning', 'running']) {
        const r = await trial(home, target);
        if (r.phase === 'missed' || !byPhase[r.phase]) continue;
        byPhase[r.phase].push(r.ms);
        leftovers += r.left;
        process.stderr.write(`interrupt: ${r.phase}: ${r.ms.toFixed(0)} ms${r.left ? `, ${r.left} processes left` : ''} (${r.stderr})\n`);
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const all = Object.values(byPhase).flat();
  const lines = [
    `| phase | runs | median ms | max ms |`,
    `|---|---|---|---|`,
    ...Object.entries(byPhase).map(([p, xs]) => `| ${p} | ${xs.length} | ${xs.length ? median(xs).toFixed(0) : '-'} | ${xs.length ? Math.max(...xs).toFixed(0) : '-'} |`),
    `| all | ${all.length} | ${median(all).toFixed(0)} | ${Math.max(...all).toFixed(0)} |`,
    '',
    `SIGINT to exit of \`replaybook replay\` at 1x; goal: median at most ${GOAL_MS} ms. Processes left behind: ${leftovers}.`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  appendResults('node bench/interrupt.js', lines, startMachine);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
