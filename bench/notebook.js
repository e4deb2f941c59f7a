#!/usr/bin/env node
// Notebook benchmark: kernel start (until it answers kernel_info) and notebook 01 executed
// headlessly by nbconvert, with Debian's Jupyter. Prints medians.
//   npm run build && node bench/notebook.js        (REPS=N, default 5)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPS = Number(process.env.REPS || 5);
const ROOT = path.resolve(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-nb-'));
const env = {
  ...process.env,
  REPLAYBOOK_HOME: path.join(work, 'store'),
  JUPYTER_PATH: path.join(work, 'jupyter', 'share', 'jupyter'),
  JUPYTER_RUNTIME_DIR: path.join(work, 'runtime'),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const START = `
import os, sys, time
from jupyter_client.manager import KernelManager
t0 = time.monotonic()
km = KernelManager(kernel_name="replaybook"); km.start_kernel()
kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)
print(time.monotonic() - t0)
kc.stop_channels(); km.shutdown_kernel(now=True)
sys.stdout.flush(); os._exit(0)  # skip jupyter_client's noisy finalizers
`;

try {
  execFileSync(process.execPath, [path.join(ROOT, 'bin', 'replaybook.js'), 'kernel', 'install', '--prefix', path.join(work, 'jupyter')], { env, stdio: 'ignore' });
  const starts = [];
  for (let i = 0; i < REPS; i++) {
    starts.push(Number(execFileSync('/usr/bin/python3', ['-c', START], { env, encoding: 'utf8' }).trim().split('\n').pop()));
  }
  console.log(`kernel start (to kernel_info reply): median ${median(starts).toFixed(2)} s of ${REPS} [${starts.map((s) => s.toFixed(2)).join(', ')}]`);
  const runs = [];
  let size = 0;
  for (let i = 0; i < REPS; i++) {
    const out = path.join(work, `01-${i}.ipynb`);
    const t0 = process.hrtime.bigint();
    execFileSync('/usr/bin/python3', ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--output', out, path.join(ROOT, 'notebooks', '01-payment-timeout.ipynb')], { env, stdio: 'ignore' });
    runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
    size = fs.statSync(out).size;
  }
  console.log(`notebook 01 headless (nbconvert --execute; the first run also records the demo incident): median ${median(runs).toFixed(2)} s of ${REPS} [${runs.map((s) => s.toFixed(2)).join(', ')}]`);
  console.log(`executed notebook 01: ${size} bytes`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
