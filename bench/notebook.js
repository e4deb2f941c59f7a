#!/usr/bin/env node
// Notebook benchmark: kernel start (until it answers kernel_info), notebook 01 executed
// headlessly by nbconvert with Debian's Jupyter, and the time headless Chromium (Debian's
// chromium + playwright-core) takes to draw the timeline chart of a 100k-event run. Prints medians.
//   npm run build && node bench/notebook.js        (REPS=N, default 5)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

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

/** A synthetic 100k-event run: four threads of file, network, time and memory calls, a few failures and long waits. */
function syntheticRun(n) {
  const { Table, Utf8, Int32, Int64, Uint64, Binary, List, Field, vectorFromArray } = require('apache-arrow');
  const names = ['read', 'write', 'clock_gettime', 'futex', 'openat', 'mmap', 'sendto', 'recvfrom', 'epoll_wait', 'close'];
  const name = new Array(n);
  const resource = new Array(n);
  const seq = new BigUint64Array(n);
  const tid = new Int32Array(n);
  const enter = new BigInt64Array(n);
  const dur = new BigInt64Array(n);
  const ret = new BigInt64Array(n);
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < n; i++) {
    const nm = names[Math.floor(rand() * names.length)];
    name[i] = nm;
    resource[i] = nm === 'read' || nm === 'write' || nm === 'openat' || nm === 'close' ? 'file:/var/lib/app/data.db' : nm === 'sendto' || nm === 'recvfrom' || nm === 'epoll_wait' ? 'tcp:10.0.0.5:443' : '';
    seq[i] = BigInt(i);
    tid[i] = 300 + (i % 4);
    enter[i] = BigInt(i) * 100_000n;
    dur[i] = BigInt(1000 + Math.floor(rand() * 40_000));
    ret[i] = i % 1009 === 0 ? -11n : 0n;
  }
  for (const i of [20_000, 55_555, 90_001]) dur[i] = 800_000_000n; // long waits, kept as events
  const text = (values) => vectorFromArray(values, new Utf8());
  return new Table({
    incident_id: text(new Array(n).fill('bench-100k')),
    run_id: text(new Array(n).fill('run-bench')),
    seq: vectorFromArray(seq, new Uint64()),
    pid: vectorFromArray(new Int32Array(n).fill(300), new Int32()),
    tid: vectorFromArray(tid, new Int32()),
    name: text(name),
    ret: vectorFromArray(ret, new Int64()),
    enter_ns: vectorFromArray(enter, new Int64()),
    dur_ns: vectorFromArray(dur, new Int64()),
    resource: text(resource),
    kind: text(new Array(n).fill('syscall')),
    nr: vectorFromArray(new Int32Array(n), new Int32()),
    args: vectorFromArray(Array.from({ length: n }, (_, i) => [BigInt(3 + (i % 4)), 0n, 0n, 0n, 0n, 0n]), new List(new Field('item', new Uint64(), false))),
    data_in: vectorFromArray(new Array(n).fill(new Uint8Array(0)), new Binary()),
    data_out: vectorFromArray(new Array(n).fill(new Uint8Array(0)), new Binary()),
  });
}

/** Time for Chromium to draw the charts of a 100k-event run with vega-embed (timeline, causal graph, timing
 * difference against a second run), from the spec to pixels on screen. */
async function chartDrawing() {
  const chromiumPath = process.env.REPLAYBOOK_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(chromiumPath)) throw new Error(`Chromium is not installed (${chromiumPath} is missing): run scripts/install-system-deps.sh`);
  const { chromium } = require('playwright-core');
  const { timelineSpec } = require(path.join(ROOT, 'dist', 'viz', 'timeline.js'));
  const { causalGraph, causalGraphSpec } = require(path.join(ROOT, 'dist', 'viz', 'causal.js'));
  const { timingDiff, timingDiffSpec } = require(path.join(ROOT, 'dist', 'viz', 'diff.js'));
  const N = 100_000;
  const table = syntheticRun(N);
  const build = (make) => {
    const t0 = process.hrtime.bigint();
    const spec = make();
    return { spec, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  const charts = [
    ['timeline', build(() => timelineSpec(table))],
    ['causal graph', build(() => causalGraphSpec(causalGraph(table)))],
    ['timing difference (100k vs 100k)', build(() => timingDiffSpec(timingDiff({ label: 'baseline', events: table }, [{ label: 'variant', events: syntheticRun(N) }])))],
  ];
  const spec = charts[0][1].spec;
  const specMs = charts[0][1].ms;
  // The page the export writes, reduced to its scripts: the vega builds inlined, nothing loaded.
  const scripts = [['vega', 'vega.min.js'], ['vega-lite', 'vega-lite.min.js'], ['vega-embed', 'vega-embed.min.js']]
    .map(([pkg, file]) => `<script>${fs.readFileSync(path.join(path.dirname(require.resolve(pkg)), file), 'utf8').replace(/<\/(script)/gi, '<\\/$1')}</script>`)
    .join('\n');
  const page = path.join(work, 'chart.html');
  fs.writeFileSync(page, `<!DOCTYPE html><html><head><meta charset="utf-8">${scripts}</head><body><div id="view"></div></body></html>`);
  const browser = await chromium.launch({ executablePath: chromiumPath });
  const version = browser.version();
  const times = { svg: [], canvas: [] };
  const others = charts.slice(1).map(() => []);
  let marks = 0;
  try {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await tab.route('**', (r) => (r.request().url().startsWith('file:') ? r.continue() : r.abort()));
    for (const renderer of ['svg', 'canvas']) {
      for (let i = 0; i < REPS; i++) {
        await tab.goto(pathToFileURL(page).href); // a fresh page each time: nothing cached in vega
        const r = await tab.evaluate(
          async ({ spec, renderer }) => {
            const t = performance.now();
            await window.vegaEmbed(document.getElementById('view'), spec, { actions: false, renderer });
            await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))); // laid out and painted
            return { ms: performance.now() - t, marks: document.querySelectorAll('#view svg .role-mark > path').length };
          },
          { spec, renderer },
        );
        times[renderer].push(r.ms);
        if (renderer === 'svg') marks = r.marks;
      }
    }
    for (let c = 1; c < charts.length; c++) {
      for (let i = 0; i < REPS; i++) {
        await tab.goto(pathToFileURL(page).href);
        const ms = await tab.evaluate(async (spec) => {
          const t = performance.now();
          await window.vegaEmbed(document.getElementById('view'), spec, { actions: false, renderer: 'svg' });
          await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
          return performance.now() - t;
        }, charts[c][1].spec);
        others[c - 1].push(ms);
      }
    }
  } finally {
    await browser.close();
  }
  const meta = spec.usermeta.replaybook;
  const fmt = (xs) => `median ${median(xs).toFixed(0)} ms of ${REPS} [${xs.map((x) => x.toFixed(0)).join(', ')}]`;
  console.log(`timeline spec of a ${N.toLocaleString('en-US')}-event run: ${specMs.toFixed(0)} ms; ${meta.rows} rows (binned per ${meta.bin_ms.toFixed(2)} ms), ${marks} SVG marks, ${(JSON.stringify(spec).length / 1e6).toFixed(2)} MB of JSON`);
  console.log(`timeline chart of a ${N.toLocaleString('en-US')}-event run drawn in Chromium ${version} (vega-embed, SVG renderer as in notebooks and exports): ${fmt(times.svg)}`);
  console.log(`  the same with vega's canvas renderer: ${fmt(times.canvas)}`);
  for (let c = 1; c < charts.length; c++) {
    console.log(`${charts[c][0]} of the same run: spec ${charts[c][1].ms.toFixed(0)} ms; drawn in Chromium (SVG): ${fmt(others[c - 1])}`);
  }
}

async function main() {
  await chartDrawing();
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
}

main()
  .catch((err) => {
    console.error(`bench/notebook.js: ${err && err.message ? err.message : err}`);
    process.exitCode = 1;
  })
  .finally(() => fs.rmSync(work, { recursive: true, force: true }));
