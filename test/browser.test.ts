/// <reference lib="dom" />
// What a person sees, in headless Chromium (Debian's chromium + playwright-core): notebook 01
// executed by real Jupyter and exported to HTML, opened over file:// with the network blocked; a
// notebook that tries to load things from elsewhere, exported and opened the same way; and
// notebook 01 run in a live Jupyter Notebook server on loopback. Each asserts that its charts are
// drawn (vega's SVG marks and pixels that are not background). Screenshots are kept under
// test-artifacts/browser/.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartBundle } from '../src/notebook/bundle';
import { exportNotebook } from '../src/export/export';
import { RECORDING_RUN } from '../src/events/schema';
import { openStore } from '../src/store';
import { ARTIFACTS, inspectChart, launchChromium, requireChromium, watch, type DrawnChart } from './helpers/browser';
import { NOTEBOOKS, executeNotebook, installKernel, jupyterEnv, startNotebookServer } from './helpers/jupyter';
import { processTree, processesMatching, waitGone, type Proc } from './helpers/procs';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-browser-'));
const env = jupyterEnv(work);
const NB01 = path.join(NOTEBOOKS, '01-payment-timeout.ipynb');

interface Cell {
  cell_type: string;
  source: string | string[];
}
const text = (t: string | string[]): string => (Array.isArray(t) ? t.join('') : t);

function artifact(name: string): string {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

function report(what: string, c: DrawnChart): void {
  process.stdout.write(`${what}: ${c.svgMarks} SVG marks, ${c.inkPixels} non-background pixels of ${c.width}×${c.height}; screenshot ${c.screenshot}\n`);
}

/**
 * A timeline drawn in the page shows the run its title names, as the store has it: one bar per
 * event and one red marker per failed call. Counted from the store, never fixed: the number of
 * events of the demo incident depends on the machine's libc (34 on one machine, 41 on another).
 */
async function expectOneMarkPerEvent(chart: Locator): Promise<void> {
  const title = (await chart.locator('svg .role-title-text').first().textContent()) ?? '';
  // "Syscall timeline · INCIDENT · RUN" by default; notebook 01 names it "INCIDENT — replay RUN".
  const m = /^(?:Syscall timeline · )?([A-Za-z0-9._:][A-Za-z0-9._:-]*)(?: · | — replay )?(run-[A-Za-z0-9._:-]+)?$/.exec(title.trim());
  expect(m, `timeline title ${JSON.stringify(title)}`).not.toBeNull();
  const store = await openStore(env.REPLAYBOOK_HOME);
  let events: number;
  let failed = 0;
  try {
    const t = await store.eventsTable(m![1], m![2] ?? RECORDING_RUN);
    events = t.numRows;
    const ret = t.getChild('ret')!;
    const kind = t.getChild('kind')!;
    for (let i = 0; i < events; i++) {
      if ((ret.get(i) as bigint) < 0n && !['signal', 'exit', 'late_data', 'instruction'].includes(String(kind.get(i)))) failed++;
    }
  } finally {
    await store.close();
  }
  expect(events).toBeGreaterThan(0);
  expect(await chart.locator('svg .role-mark.mark-rect > path').count()).toBe(events);
  expect(await chart.locator('svg .role-mark.mark-symbol > path').count()).toBe(failed);
}

/** Closes the browser and checks with ps that none of its processes is left. */
async function closeBrowser(browser: Browser | undefined, marker: string): Promise<void> {
  if (!browser) return;
  const tree = processTree(processesMatching(marker).map((p) => p.pid));
  await browser.close();
  expect(tree.length).toBeGreaterThan(0); // the browser process carries the marker
  expect(await waitGone(tree)).toEqual([]);
  expect(processesMatching(marker)).toEqual([]);
}

/** Waits until every interactive chart of an exported page is drawn or has failed. */
async function chartsSettled(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelectorAll('figure.rb-chart[data-interactive="pending"]').length === 0, undefined, { timeout: 30_000 });
}

beforeAll(async () => {
  await installKernel(work, env);
});

afterAll(() => {
  // Whatever a failed test left running is ended here; the tests themselves assert it is nothing.
  for (const p of processesMatching(work)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  fs.rmSync(work, { recursive: true, force: true });
});

describe('an exported notebook in headless Chromium, offline', () => {
  it('executes notebook 01 through Jupyter, exports it, and draws its chart over file:// with the network blocked', async () => {
    requireChromium(); // fails, saying to run scripts/install-system-deps.sh, when Chromium is missing
    const executed = path.join(work, '01-executed.ipynb');
    const { seconds } = await executeNotebook(NB01, executed, env);
    process.stdout.write(`notebook 01 executed headlessly in ${seconds.toFixed(1)} s\n`);

    const out = path.join(work, 'export', '01-payment-timeout.html');
    fs.mkdirSync(path.dirname(out));
    const r = await exportNotebook(executed, { out });
    // Every chart the executed notebook holds is in the page, each drawable offline.
    const chartsIn = (JSON.parse(fs.readFileSync(executed, 'utf8')) as { cells: { outputs?: { data?: Record<string, unknown> }[] }[] }).cells
      .flatMap((c) => c.outputs ?? [])
      .filter((o) => o.data?.['application/vnd.vegalite.v5+json'] !== undefined).length;
    expect(chartsIn).toBeGreaterThanOrEqual(3);
    expect(r).toMatchObject({ path: out, charts: chartsIn, interactive: chartsIn, warnings: [] });
    const html = fs.readFileSync(out, 'utf8');

    // Nothing in the markup outside the inlined scripts points at the network or a file.
    const markup = html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, '<script></script>');
    expect(markup).not.toMatch(/file:\/\//i);
    expect(markup).not.toMatch(/<link\b/i);
    for (const m of markup.matchAll(/\s(src|srcset|poster|data|background)\s*=\s*["']?([^"'\s>]*)/gi)) expect(m[2], m[0]).toMatch(/^data:/);
    for (const m of markup.matchAll(/\shref\s*=\s*["']?([^"'\s>]*)/gi)) expect(m[1], m[0]).toMatch(/^#/);
    expect(html.match(/<script\b[^>]*\bsrc\s*=/gi)).toBeNull();
    expect(html).toContain('http-equiv="Content-Security-Policy"');
    // The vega builds are inlined once, not once per chart.
    expect(html.match(/data-replaybook="vegaEmbed"/g)).toHaveLength(1);

    const marker = path.join(work, 'browser-a');
    let browser: Browser | undefined;
    try {
      browser = await launchChromium(marker);
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const w = await watch(context, (url) => url.startsWith('file:'));
      const page = await context.newPage();
      await page.goto(pathToFileURL(out).href);
      await chartsSettled(page);

      // No request other than the page itself, none refused, no load stopped by the policy.
      expect(w.refused).toEqual([]);
      expect(w.requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
      expect(w.requests.filter((u) => u.startsWith('file:'))).toEqual([pathToFileURL(out).href]);
      expect(await w.violations(page)).toEqual([]);
      expect(w.errors).toEqual([]);

      // Every cell is there: Markdown rendered, code shown, outputs under it.
      const nb = JSON.parse(fs.readFileSync(NB01, 'utf8')) as { cells: Cell[] };
      expect(await page.locator('section.rb-cell').count()).toBe(nb.cells.length);
      const shown = await page.locator('main').innerText();
      for (const c of nb.cells) {
        const line = text(c.source).split('\n')[0];
        // Markdown is rendered (no #, * or ` left); code is shown as written.
        const first = c.cell_type === 'markdown' ? line.replace(/^#+\s*/, '').replace(/[*`]/g, '') : line;
        expect(shown).toContain(first);
      }
      expect(await page.locator('section.rb-markdown h1').innerText()).toBe('The payment timeout: replay it, find the cause, prove the fix');
      expect(await page.locator('section.rb-markdown strong').first().innerText()).toBe('2 s');
      expect(shown).toContain('reproduced: payment failed: timeout (exit 1), the same as in production');
      expect(shown).toContain('fixed: payment ok: OK txn=7781 amount=19.99');
      expect(await page.locator('.rb-html table').count()).toBeGreaterThanOrEqual(2);

      // Every chart is drawn by vega-embed as SVG with its marks, the PNG fallback hidden.
      const figures = page.locator('figure.rb-chart');
      expect(await figures.count()).toBe(chartsIn);
      for (let i = 0; i < chartsIn; i++) {
        expect(await figures.nth(i).getAttribute('data-interactive')).toBe('drawn');
        expect(await figures.nth(i).locator('img.rb-chart-png').isVisible()).toBe(false);
        expect(await figures.nth(i).locator('svg .role-mark').count()).toBeGreaterThan(0);
      }
      // The replay's timeline: the figure whose marks include the 2 s poll.
      const figure = figures.filter({ has: page.locator('svg .role-mark.mark-rect path[aria-label*="syscall: poll;"]') }).first();
      const chart = await inspectChart(figure.locator('.rb-chart-view'), artifact('export-01-chart.png'));
      report('exported notebook 01, timeline chart', chart);
      await expectOneMarkPerEvent(figure.locator('.rb-chart-view'));
      expect(chart.width).toBeGreaterThan(600);
      expect(chart.inkPixels).toBeGreaterThan(5000);
      // Interactive: hovering the 2 s poll shows its tooltip with the decoded call.
      await figure.locator('svg .role-mark.mark-rect path[aria-label*="syscall: poll;"]').hover();
      await page.waitForSelector('#vg-tooltip-element.visible', { timeout: 5000 });
      const tooltip = await page.locator('#vg-tooltip-element').innerText();
      expect(tooltip).toMatch(/syscall\s+poll/);
      expect(tooltip).toMatch(/duration \(ms\)\s+2,00\d\.\d+/);

      const full = artifact('export-01-page.png');
      await page.screenshot({ path: full, fullPage: true });
      process.stdout.write(`exported notebook 01, whole page: screenshot ${full}\n`);
    } finally {
      await closeBrowser(browser, marker);
    }
  }, 300_000);

  it('keeps a notebook that refers to the network and to files offline: inlined, disabled, or shown as text', async () => {
    requireChromium(); // fails, saying to run scripts/install-system-deps.sh, when Chromium is missing
    const dir = path.join(work, 'odd');
    fs.mkdirSync(dir);
    const chart = await chartBundle({
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: 'latency by variant',
      data: { values: [{ v: 'timeout 2 s', ms: 2000 }, { v: 'timeout 3 s', ms: 2510 }, { v: 'timeout 5 s', ms: 2505 }] },
      mark: 'bar',
      encoding: { x: { field: 'v', type: 'nominal' }, y: { field: 'ms', type: 'quantitative' } },
    });
    const png = Buffer.from(String(chart['image/png']), 'base64');
    fs.writeFileSync(path.join(dir, 'local.png'), png);
    const nb = {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: 'replaybook', display_name: 'replaybook (TypeScript)', language: 'typescript' } },
      cells: [
        {
          cell_type: 'markdown',
          metadata: {},
          source: [
            '# Odd notebook\n',
            '\n',
            'A local image ![local](local.png), a remote one ![remote](https://example.com/r.png), an attachment ![att](attachment:a.png).\n',
            '\n',
            '| variant | wall |\n|---|--:|\n| timeout 2 s | 2.00 s |\n',
            '\n',
            '- one\n- two\n',
            '\n',
            '<img src="http://example.com/tracker.gif"><link rel="stylesheet" href="https://cdn.example.com/x.css">\n',
          ],
          attachments: { 'a.png': { 'image/png': chart['image/png'] } },
        },
        {
          cell_type: 'code',
          execution_count: 3,
          metadata: {},
          source: 'display(chart)',
          outputs: [
            // A chart without its PNG, and one whose data is a URL (cannot be drawn offline).
            { output_type: 'display_data', metadata: {}, data: { 'application/vnd.vegalite.v5+json': chart['application/vnd.vegalite.v5+json'], 'text/plain': 'chart' } },
            {
              output_type: 'display_data',
              metadata: {},
              data: { 'application/vnd.vegalite.v5+json': { data: { url: 'https://example.com/data.json' }, mark: 'point' }, 'image/png': chart['image/png'] },
            },
            {
              output_type: 'display_data',
              metadata: {},
              data: {
                'text/html':
                  '<script src="https://cdn.example.com/lib.js"></script><div style="background:url(https://example.com/bg.png)">styled</div>' +
                  '<style>@import url("https://example.com/a.css"); .x{background:url(/etc/passwd)}</style><iframe src="file:///etc/hostname"></iframe>' +
                  '<img src="local.png" id="inlined"><a href="https://example.com/docs">docs</a>',
              },
            },
            { output_type: 'stream', name: 'stderr', text: ['progress 10%\rprogress 100%\n', '\x1b[31mred\x1b[0m text\n'] },
            { output_type: 'error', ename: 'ReplaybookError', evalue: 'boom', traceback: ['\x1b[1;31mReplaybookError\x1b[0m: boom'] },
          ],
        },
      ],
    };
    const file = path.join(dir, 'odd.ipynb');
    fs.writeFileSync(file, JSON.stringify(nb));
    const r = await exportNotebook(file);
    expect(r.path).toBe(path.join(dir, 'odd.html'));
    expect(r.charts).toBe(2);
    expect(r.interactive).toBe(1);
    const warnings = r.warnings.join('\n');
    for (const ref of ['https://example.com/r.png', 'http://example.com/tracker.gif', 'https://cdn.example.com/x.css', 'https://cdn.example.com/lib.js', 'https://example.com/bg.png', 'https://example.com/a.css', '/etc/passwd', 'file:///etc/hostname', 'loads its data from a URL']) {
      expect(warnings).toContain(ref);
    }

    const marker = path.join(work, 'browser-c');
    let browser: Browser | undefined;
    try {
      browser = await launchChromium(marker);
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      const w = await watch(context, (url) => url.startsWith('file:'));
      const page = await context.newPage();
      await page.goto(pathToFileURL(r.path).href);
      await chartsSettled(page);
      // The exporter disabled every reference: nothing was even attempted, so the policy had nothing to stop.
      expect(w.requests.filter((u) => !u.startsWith('data:'))).toEqual([pathToFileURL(r.path).href]);
      expect(await w.violations(page)).toEqual([]);
      expect(w.errors).toEqual([]);

      // Local images and attachments are inlined and decoded; the remote one is its alt text.
      for (const sel of ['img[alt="local"]', 'img[alt="att"]', 'img#inlined']) {
        expect(await page.locator(sel).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), sel).toBe(true);
      }
      expect(await page.locator('.rb-missing-image').innerText()).toBe('[image: remote]');
      expect(await page.locator('.rb-markdown table td').first().innerText()).toBe('timeout 2 s');
      expect(await page.locator('.rb-markdown ul li').count()).toBe(2);
      expect(await page.locator('a[href="https://example.com/docs"]').count()).toBe(1);
      const outputs = await page.locator('.rb-outputs').innerText();
      expect(outputs).toContain('progress 100%');
      expect(outputs).not.toContain('progress 10%');
      expect(outputs).toContain('ReplaybookError: boom');
      expect(await page.locator('.rb-out-stderr span[style*="color"]').innerText()).toBe('red');

      // The chart without a PNG is drawn from its spec; the one that needs the network shows its PNG.
      const figures = page.locator('figure.rb-chart');
      expect(await figures.nth(0).getAttribute('data-interactive')).toBe('drawn');
      const drawn = await inspectChart(figures.nth(0).locator('.rb-chart-view'), artifact('export-odd-chart.png'));
      report('exported notebook with a spec-only bar chart', drawn);
      expect(drawn.svgMarks).toBe(3);
      expect(drawn.inkPixels).toBeGreaterThan(1000);
      expect(await figures.nth(1).getAttribute('data-static')).toBe('true');
      expect(await figures.nth(1).locator('img.rb-chart-png').evaluate((img: HTMLImageElement) => img.naturalWidth > 0)).toBe(true);
    } finally {
      await closeBrowser(browser, marker);
    }
  }, 120_000);
});

describe('a live Jupyter Notebook server in headless Chromium', () => {
  it('runs notebook 01 in the classic UI on loopback and draws its chart, then leaves no process behind', async () => {
    requireChromium(); // fails, saying to run scripts/install-system-deps.sh, when Chromium is missing
    const dir = path.join(work, 'live');
    fs.mkdirSync(dir);
    // A copy: the UI autosaves outputs into the notebook it has open.
    fs.copyFileSync(NB01, path.join(dir, '01-payment-timeout.ipynb'));
    const marker = path.join(work, 'browser-b');
    const server = await startNotebookServer(dir, env);
    let browser: Browser | undefined;
    let serverTree: Proc[] = [];
    try {
      browser = await launchChromium(marker);
      const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
      const w = await watch(context, (url) => url.startsWith(server.url));
      const page = await context.newPage();
      const t0 = Date.now();
      await page.goto(server.notebookUrl('01-payment-timeout.ipynb'));
      await page.waitForFunction(
        () => {
          const nb = (window as unknown as { Jupyter?: { notebook?: { kernel?: { is_connected(): boolean } } } }).Jupyter?.notebook;
          return nb?.kernel?.is_connected() === true;
        },
        undefined,
        { timeout: 90_000 },
      );
      process.stdout.write(`live UI: kernel connected after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

      // Cell > Run All, as a person does.
      const t1 = Date.now();
      await page.click('#celllink');
      await page.click('#run_all_cells > a');
      const last = page.locator('.cell.code_cell').last().locator('.output_area');
      await last.filter({ hasText: /Run\(run-\S+ of payment-timeout/ }).first().waitFor({ timeout: 240_000 });
      await page.waitForFunction(() => document.querySelectorAll('.cell.code_cell.running').length === 0, undefined, { timeout: 60_000 });
      process.stdout.write(`live UI: notebook 01 ran (Run All) in ${((Date.now() - t1) / 1000).toFixed(1)} s\n`);

      expect(await page.locator('.output_error').count()).toBe(0);
      const outputs = await page.locator('#notebook-container').innerText();
      expect(outputs).toContain('reproduced: payment failed: timeout (exit 1), the same as in production');
      expect(await page.locator('.output_html table').count()).toBeGreaterThanOrEqual(2);

      // Every chart bundle's HTML ran in the page: vega-embed drew the SVG and hid the PNG.
      const charts = page.locator('.output_html .replaybook-chart');
      const n = await charts.count();
      expect(n).toBeGreaterThanOrEqual(3);
      for (let i = 0; i < n; i++) {
        await charts.nth(i).locator('div[id$="-view"] svg .role-mark').first().waitFor({ state: 'attached', timeout: 30_000 });
        expect(await charts.nth(i).locator('img').isVisible()).toBe(false);
      }
      // The replay's timeline: the chart whose marks include the 2 s poll.
      const chartEl = charts.filter({ has: page.locator('svg .role-mark.mark-rect path[aria-label*="syscall: poll;"]') }).first();
      const view = chartEl.locator('div[id$="-view"]');
      const chart = await inspectChart(view, artifact('live-01-chart.png'));
      report('live Jupyter Notebook, notebook 01 timeline chart', chart);
      await expectOneMarkPerEvent(view);
      expect(chart.inkPixels).toBeGreaterThan(5000);

      // The classic UI scrolls inside its own element, not the page: make the window as tall as the notebook.
      const height = await page.evaluate(() => (document.querySelector('#notebook-container')?.scrollHeight ?? 900) + 160);
      await page.setViewportSize({ width: 1280, height: Math.min(height, 10_000) });
      await page.evaluate(() => document.querySelector('#site')?.scrollTo(0, 0));
      const full = artifact('live-01-page.png');
      await page.screenshot({ path: full });
      process.stdout.write(`live Jupyter Notebook, whole page: screenshot ${full}\n`);

      // The page talked to the loopback server only.
      expect(w.refused).toEqual([]);
      expect(w.errors).toEqual([]);
      serverTree = processTree([server.pid]);
    } finally {
      try {
        await closeBrowser(browser, marker);
      } finally {
        await server.stop();
      }
    }
    // The server and its kernel (a child of it) are gone, and nothing else that names this test's folder runs.
    expect(serverTree.map((p) => p.args).join('\n')).toContain(path.join('kernel', 'launcher.js'));
    expect(await waitGone(serverTree, 10_000)).toEqual([]);
    expect(processesMatching(work)).toEqual([]);
  }, 400_000);
});
