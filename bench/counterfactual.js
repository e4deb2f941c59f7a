#!/usr/bin/env node
// Cost of a counterfactual replay against a plain one, measured in the same run (medians):
//   - the payment incident at max speed: the plain replay (strict policy throughout) against
//     the 5 s timeout fix (strict until the poll, then stream) — whole replays, start-up included;
//   - a syscall-heavy program (`dd bs=1 count=N`, ~2 syscalls per byte) replayed plainly and with
//     a 1 µs delay on its first read, which switches the rest of the run to the stream policy:
//     the cost per syscall of answering from the world model instead of from the log.
//
//   node bench/counterfactual.js       (REPS=N, default 9; COUNT=N bytes for dd, default 20000)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { openStore } = require('../dist/store');
const { record } = require('../dist/record/record');
const { replay } = require('../dist/replay/replay');
const { recordPaymentIncident } = require('../dist/demo');
const { parseInjection } = require('../dist/inject');

const REPS = Number(process.env.REPS || 9);
const COUNT = Number(process.env.COUNT || 20000);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, r };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-cf-'));
  const store = await openStore(path.join(dir, 'store'));
  try {
    await recordPaymentIncident(store, 'pay', { timeoutMs: 2000, providerDelayMs: 2500 });
    await record({ incident: 'dd', command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${COUNT}`], env: { PATH: '/usr/bin:/bin', LANG: 'C' }, cwd: '/', store });
    const fix = parseInjection('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000');
    const early = parseInjection('--inject', 'read:delay_enter=1:when=1:resource=file:/dev/zero');
    const plainPay = [], cfPay = [], plainDd = [], cfDd = [];
    let ddEvents = 0, ddPolicy = '', payOut = '';
    for (let i = 0; i < REPS; i++) {
      // Interleaved, so drift on the machine hits both sides alike.
      plainPay.push((await timed(() => replay('pay', { store, speed: 'max', ephemeral: true }))).ms);
      const c = await timed(() => replay('pay', { store, speed: 'max', ephemeral: true, injections: fix }));
      cfPay.push(c.ms);
      payOut = c.r.stdout.toString().trim();
      const p = await timed(() => replay('dd', { store, speed: 'max', ephemeral: true }));
      plainDd.push(p.ms);
      const d = await timed(() => replay('dd', { store, speed: 'max', ephemeral: true, injections: early }));
      cfDd.push(d.ms);
      ddEvents = d.r.events;
      ddPolicy = `${d.r.policy} from seq ${d.r.switchedAt ? d.r.switchedAt.seq : '-'}`;
      if (d.r.exitCode !== 0) throw new Error(`dd under the stream policy exited ${d.r.exitCode}: ${d.r.stderr}`);
    }
    const perPlain = (median(plainDd) * 1000) / ddEvents;
    const perCf = (median(cfDd) * 1000) / ddEvents;
    const lines = [
      '',
      `## Counterfactual replay — ${new Date().toISOString()}`,
      '',
      `Machine: ${os.cpus().length} × ${os.cpus()[0].model}, Linux ${os.release()}. Command: \`REPS=${REPS} COUNT=${COUNT} node bench/counterfactual.js\` (medians, whole replays at speed max, run stored: no).`,
      '',
      '| | plain replay (strict) | counterfactual | ratio |',
      '|---|---|---|---|',
      `| payment incident, 5 s timeout fix (${payOut}) | ${median(plainPay).toFixed(1)} ms | ${median(cfPay).toFixed(1)} ms | ${(median(cfPay) / median(plainPay)).toFixed(2)}× |`,
      `| dd bs=1 count=${COUNT}, ${ddEvents} events (${ddPolicy}) | ${median(plainDd).toFixed(0)} ms, ${perPlain.toFixed(1)} µs/event | ${median(cfDd).toFixed(0)} ms, ${perCf.toFixed(1)} µs/event | ${(median(cfDd) / median(plainDd)).toFixed(2)}× |`,
      '',
    ];
    console.log(lines.join('\n'));
    fs.appendFileSync(path.join(__dirname, 'RESULTS.md'), lines.join('\n'));
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
