#!/usr/bin/env node
// Replay panel benchmark: in JupyterLab 4 (the project's .venv-jupyter) in headless Chromium, the
// time from a click on the panel's timeline to the panel showing the clicked event, for an
// incident of ~100k events (dd copying 50,000 single bytes: a read and a write each), measured
// in the page (performance.now() from the click to the header naming the event). Prints the
// median and p95 of 20 clicks and, as the baseline measured in the same run, the median time the kernel
// spent on the same jumps (engine jump + state read), with their ratio. Then the same for clicks on
// the marks of timeline(incident) shown in the panel (p.show: drawn by JupyterLab's vega renderer,
// binned at this size, a bin jumping to its first event), against the timeline clicks as baseline.
//   npm run build && node bench/panel.js      (CLICKS=N, default 20; BYTES=N, default 50000;
//   SERVER_LOG=FILE keeps JupyterLab's log and the page's console there)
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CLICKS = Number(process.env.CLICKS || 20);
const BYTES = Number(process.env.BYTES || 50_000);
const VENV_BIN = path.join(process.env.REPLAYBOOK_JUPYTER_VENV || path.join(ROOT, '.venv-jupyter'), 'bin');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-bench-panel-'));
const env = {
  ...process.env,
  REPLAYBOOK_HOME: path.join(work, 'store'),
  JUPYTER_PATH: path.join(work, 'jupyter', 'share', 'jupyter'),
  JUPYTER_RUNTIME_DIR: path.join(work, 'runtime'),
  JUPYTER_CONFIG_DIR: path.join(work, 'config'),
  JUPYTER_DATA_DIR: path.join(work, 'data'),
  PATH: `${VENV_BIN}:${process.env.PATH}`,
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The nearest-rank 95th percentile. */
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.95 * xs.length) - 1)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function main() {
  if (!fs.existsSync(path.join(VENV_BIN, 'jupyter-lab'))) throw new Error(`${VENV_BIN}/jupyter-lab is missing: run scripts/install-jupyter.sh`);
  const { record, openStore } = require(path.join(ROOT, 'dist'));
  const store = await openStore(env.REPLAYBOOK_HOME);
  const incident = 'bench-panel-dd';
  let events;
  try {
    const t0 = Date.now();
    const r = await record({ incident, command: ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${BYTES}`], store, env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' } });
    events = r.events ?? (await store.eventsTable(incident)).numRows;
    process.stdout.write(`recorded ${incident}: ${events} events in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  } finally {
    await store.close();
  }
  execFileSync(process.execPath, [path.join(ROOT, 'bin', 'replaybook.js'), 'kernel', 'install', '--prefix', path.join(work, 'jupyter')], { env, stdio: 'ignore' });

  const token = crypto.randomBytes(16).toString('hex');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const server = spawn(path.join(VENV_BIN, 'jupyter-lab'), ['--no-browser', '--ip=127.0.0.1', `--port=${port}`, `--ServerApp.root_dir=${work}`, `--IdentityProvider.token=${token}`, '--LabApp.news_url=', ...(process.getuid() === 0 ? ['--allow-root'] : [])], { env, stdio: process.env.SERVER_LOG ? ['ignore', fs.openSync(process.env.SERVER_LOG, 'w'), fs.openSync(process.env.SERVER_LOG, 'a')] : 'ignore' });
  let browser;
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}api/status`, { headers: { Authorization: `token ${token}` } })).ok) break;
      } catch {}
      if (i > 400) throw new Error('jupyter lab did not start');
      await sleep(250);
    }
    const cells = [
      `const p = await panel(${JSON.stringify(incident)})`,
      'console.log(JSON.stringify(p.timings.filter((t) => t.command === "jump").map((t) => t.ms)))',
      `await p.show(await timeline(await fetchIncident(${JSON.stringify(incident)})))`,
    ];
    const nb = { nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'replaybook', display_name: 'replaybook (TypeScript)', language: 'typescript' } }, cells: cells.map((source, i) => ({ cell_type: 'code', id: `c${i}`, source, metadata: {}, outputs: [], execution_count: null })) };
    await fetch(`${url}api/contents/bench.ipynb`, { method: 'PUT', headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'notebook', format: 'json', content: nb }) });
    const { chromium } = require('playwright-core');
    browser = await chromium.launch({ executablePath: process.env.REPLAYBOOK_CHROMIUM || '/usr/bin/chromium', headless: true });
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    if (process.env.SERVER_LOG) page.on('console', (m) => fs.appendFileSync(process.env.SERVER_LOG, `[console.${m.type()}] ${m.text()}\n`));
    await page.goto(`${url}lab/tree/bench.ipynb?token=${token}`);
    const runCell = async (i) => {
      const cell = page.locator('.jp-Notebook .jp-Cell.jp-CodeCell').nth(i);
      for (let attempt = 0; attempt < 6; attempt++) {
        await cell.locator('.jp-InputArea-editor').click();
        await page.keyboard.press('Shift+Enter');
        try {
          await cell.locator('.jp-InputArea-prompt').filter({ hasText: /\[(\*|\d+)\]/ }).waitFor({ timeout: 5000 });
          return cell;
        } catch {}
      }
      throw new Error(`cell ${i} did not run`);
    };
    await page.locator('[data-status="idle"]').first().waitFor({ state: 'attached', timeout: 60_000 });
    const t0 = Date.now();
    await runCell(0);
    const panel = page.locator('.rb-panel').first();
    await panel.locator('.rb-cursor[data-status="paused"]').waitFor({ timeout: 300_000 });
    await panel.locator('svg.rb-timeline-svg').waitFor({ timeout: 60_000 });
    process.stdout.write(`panel open on ${events} events after ${((Date.now() - t0) / 1000).toFixed(1)} s; timeline: ${await panel.locator('.rb-tl-path').getAttribute('data-path').catch(() => '?')}\n`);
    const seqs = await panel.locator('.rb-mark').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    const last = seqs[seqs.length - 1];
    const candidates = [...new Set(seqs)].filter((s) => s > 0 && s < last);
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    /** Clicks the mark (found in the page by `pick`) standing for event seq and times it until the panel shows that event. */
    const timeClick = (seq, pick) =>
      page.evaluate(
        async ([seq, pick]) => {
          const root = document.querySelector('.rb-panel');
          const mark = new Function('root', 'seq', pick)(root, seq);
          const shown = () => root.querySelector(`.rb-cursor[data-seq="${seq}"][data-status="paused"]`);
          const t0 = performance.now();
          mark.dispatchEvent(new MouseEvent('click', { bubbles: true }));
          await new Promise((resolve, reject) => {
            const obs = new MutationObserver(() => {
              if (shown()) {
                obs.disconnect();
                resolve();
              }
            });
            obs.observe(root, { subtree: true, childList: true, attributes: true, characterData: true });
            setTimeout(() => reject(new Error(`event ${seq} not shown after 120 s`)), 120_000);
          });
          return performance.now() - t0;
        },
        [seq, pick],
      );
    const clickAll = async (candidates, pick, what) => {
      const times = [];
      for (let i = 0; i < CLICKS; i++) {
        const current = Number(await panel.locator('.rb-cursor').getAttribute('data-seq'));
        let seq;
        do seq = candidates[Math.floor(rand() * candidates.length)];
        while (seq === current);
        const ms = await timeClick(seq, pick);
        times.push(ms);
        process.stdout.write(`  ${what} click ${i + 1}: event ${seq} shown after ${ms.toFixed(0)} ms\n`);
      }
      return times;
    };
    const times = await clickAll(candidates, 'return root.querySelector(`.rb-timeline-svg [data-seq="${seq}"]`)', 'timeline');
    const cell = await runCell(1);
    await cell.locator('.jp-InputArea-prompt').filter({ hasText: /\[\d+\]/ }).waitFor({ timeout: 60_000 });
    const kernel = JSON.parse((await cell.locator('.jp-OutputArea').innerText()).trim().split('\n').pop());
    const k = kernel.slice(-CLICKS);
    const m = median(times);
    const b = median(k);
    process.stdout.write(`\nclick on the timeline -> panel shows the event (${events} events, ${CLICKS} clicks): median ${m.toFixed(0)} ms, p95 ${p95(times).toFixed(0)} ms (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)}; goal ≤ 300 ms)\n`);
    const overhead = times.map((t, i) => t - (k[i] ?? 0));
    process.stdout.write(`baseline, the kernel's own jump + state read for the same clicks: median ${b.toFixed(0)} ms, p95 ${p95(k).toFixed(0)} ms; ratio ${(m / b).toFixed(2)}x\n`);
    process.stdout.write(`per click, page time minus kernel time (comm round trip, widget updates, drawing): median ${median(overhead).toFixed(0)} ms\n`);

    // timeline(incident) in the panel: its SVG marks (vega keeps each item on its element's __data__).
    const chartCell = await runCell(2);
    await chartCell.locator('.jp-InputArea-prompt').filter({ hasText: /\[\d+\]/ }).waitFor({ timeout: 120_000 });
    await panel.locator('.rb-chart-ext[data-clickable="true"] svg g.mark-rect path').first().waitFor({ timeout: 120_000 });
    const seqOf = 'var d = el.__data__ && el.__data__.datum; return d ? (typeof d.seq === "number" ? d.seq : d.first_seq) : null;';
    const chartSeqs = await panel.locator('.rb-chart-ext svg g.mark-rect path').evaluateAll((els, f) => els.map((el) => new Function('el', f)(el)), seqOf);
    const chartCandidates = [...new Set(chartSeqs)].filter((s) => typeof s === 'number' && s > 0 && s < last);
    const pickChart = `var els = root.querySelectorAll('.rb-chart-ext svg g.mark-rect path'); for (var i = 0; i < els.length; i++) { var el = els[i]; if ((function(el){ ${seqOf} })(el) === seq) return el; }`;
    const chartTimes = await clickAll(chartCandidates, pickChart, 'chart');
    const cm = median(chartTimes);
    process.stdout.write(`\nclick on a mark of timeline(incident) in the panel (${chartSeqs.length} marks) -> panel shows the event: median ${cm.toFixed(0)} ms, p95 ${p95(chartTimes).toFixed(0)} ms; against the timeline clicks above (baseline): ratio ${(cm / m).toFixed(2)}x\n`);
  } finally {
    await browser?.close();
    try {
      await fetch(`${url}api/shutdown`, { method: 'POST', headers: { Authorization: `token ${token}` } });
    } catch {}
    await sleep(2000);
    if (server.exitCode === null) server.kill('SIGTERM');
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
