// The replay panel in current Jupyter: JupyterLab 4 and Notebook 7 from the project's venv on
// loopback with the replaybook kernel, driven in Debian's Chromium. Each control is used as a
// person would (play, pause, step, speed, the position slider, a click on the timeline) and each
// time the event the panel shows is checked against the engine's state read in a following cell.
// Also: the kernel's comms and widget protocol through jupyter_client (comm_info_request,
// a widget's state both ways, echo_update, request_state, a button's click), execution counts,
// the timeline through replaybook's extension (and its HTML fallback), charts drawn by
// JupyterLab's own vega renderer, interrupts that stop one cell's panels, and the static view
// in Debian's Notebook 6.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { openStore } from '../src/store';
import { ReplayPanel } from '../src/panel/panel';
import { renderChart } from '../src/viz/render';
import { timelineSpec, type TimelineSpec } from '../src/viz/timeline';
import { ARTIFACTS, launchChromium, watch, type Watch } from './helpers/browser';
import { PYTHON, installKernel, jupyterEnv, startNotebookServer } from './helpers/jupyter';
import { runProcess } from './helpers/run';
import { VENV_BIN, requireVenv, startJupyter, type Frontend, type JupyterServer } from './helpers/jupyter-server';
import { cellOutput, cells, kernelIdle, runCell, shown, waitShown } from './helpers/panel-page';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-panel-'));
const env = jupyterEnv(work);
const INCIDENT = 'panel-demo';
/** A second incident: its timeline's marks are no events of INCIDENT's replay. */
const OTHER = 'panel-other';
const SHOTS = path.join(path.dirname(ARTIFACTS), 'panel');
let browser: Browser | null = null;

beforeAll(async () => {
  await installKernel(work, env);
  const store = await openStore(env.REPLAYBOOK_HOME);
  try {
    await recordPaymentIncident(store, INCIDENT);
    await recordPaymentIncident(store, OTHER);
  } finally {
    await store.close();
  }
  browser = await launchChromium(`panel-${process.pid}`);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Writes a notebook of these cells for the replaybook kernel into the test's folder; returns its path. */
function writeNotebook(name: string, cells: object[]): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'replaybook', display_name: 'replaybook (TypeScript)', language: 'typescript' } }, cells }));
  return file;
}

const STATE_CELL = 'const st = await p.state(); console.log(JSON.stringify({ seq: st.seq, paused: st.paused, speed: st.speed }))';

/** The engine's state, read by running the state cell again. */
async function engineState(page: Page): Promise<{ seq: number; paused: boolean; speed: number | string }> {
  await runCell(page, 1);
  // The prompt shows [n] again only once this run finishes: wait for the output to change.
  const out = await cellOutput(page, 1);
  return JSON.parse(out.split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}');
}

async function openNotebook(server: JupyterServer, name: string, source: string[]): Promise<{ page: Page; w: Watch }> {
  await server.putNotebook(name, source);
  const context = await browser!.newContext({ viewport: { width: 1300, height: 1000 } });
  const w = await watch(context, (url) => url.startsWith(server.url) || url.startsWith('ws://127.0.0.1') || url.startsWith('data:') || url.startsWith('blob:'), !process.env.RB_NOROUTE);
  const page = await context.newPage();
  if (process.env.RB_DEBUG) page.on('console', (m) => process.stdout.write(`[console.${m.type()}] ${m.text()}\n`));
  await page.goto(server.notebookUrl(name));
  await cells(page).first().waitFor({ timeout: 60_000 });
  await kernelIdle(page);
  return { page, w };
}

/** Opens a notebook of these cells in a fresh `kind` server and runs `body` on its page; a failure keeps a screenshot and the server's log. */
async function inNotebook(kind: Frontend, name: string, source: string[], body: (page: Page, w: Watch) => Promise<void>): Promise<void> {
  const server = await startJupyter(kind, work, env);
  try {
    const { page, w } = await openNotebook(server, `${name}.ipynb`, source);
    try {
      await body(page, w);
    } catch (e) {
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, `${name}-failure.png`), fullPage: true }).catch(() => undefined);
      throw new Error(`${(e as Error).stack}\npage errors: ${w.errors.join('\n')}\nserver log (end):\n${server.log().slice(-12000)}`);
    }
  } finally {
    await server.stop();
  }
}

async function drivePanel(kind: Frontend): Promise<void> {
  const cellsSource = [`const p = await panel(${JSON.stringify(INCIDENT)})`, STATE_CELL, `display(await timeline(await fetchIncident(${JSON.stringify(INCIDENT)})))`];
  const syscalls = await syscallSeqs(); // (read before the kernel holds the store)
  await inNotebook(kind, `panel-${kind}`, cellsSource, (page, w) => drive(page, w, kind, syscalls));
}

/**
 * Errors the front ends raise on their own: JupyterLab's debugger sidebar for a kernel without a
 * debugger, and Notebook 7's settings code as its page loads (both seen with a notebook holding
 * nothing but `1+1`).
 */
const notOurs = (e: string): boolean => /No active debugger session|reading 'schema'\)|Command 'filebrowser:open-path' not registered/.test(e);

async function drive(page: Page, w: Watch, kind: Frontend, syscalls: number[]): Promise<void> {
  const lastCall = syscalls.at(-1) ?? -1;
  await runCell(page, 0);
  const panel: Locator = page.locator('.rb-panel').first();
  await panel.waitFor({ timeout: 90_000 });
  let s = await waitShown(panel, (x) => x.status === 'paused');
  let e = await engineState(page);
  expect(e.paused).toBe(true);
  expect(s.seq).toBe(e.seq);
  // The timeline was drawn by replaybook's extension (installed by `replaybook kernel install`),
  // whose model said hello to the kernel: one mark per time slice with events, and the cursor.
  await panel.locator('.rb-tl-path[data-path="extension"]').waitFor({ timeout: 30_000 });
  const tl = panel.locator('.rb-timeline.rb-timeline-ext svg.rb-timeline-svg');
  await tl.waitFor({ timeout: 30_000 });
  expect(await panel.locator('.rb-timeline-host').count()).toBe(0);
  expect(await tl.locator('.rb-mark').count()).toBeGreaterThan(3);
  expect(await tl.locator('.rb-cursor-line').count()).toBe(1);

  // step 1, step N
  await panel.locator('.rb-step1').click();
  s = await waitShown(panel, (x) => x.seq === e.seq + 1 && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(s.seq);
  await panel.locator('.rb-stepn').click();
  s = await waitShown(panel, (x) => x.seq === e.seq + 10 && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(s.seq);

  // speed: the dropdown changes the engine's speed
  await panel.locator('.rb-speed select').selectOption({ label: '0.1×' });
  await panel.locator('.rb-header').filter({ hasText: '0.1×' }).waitFor({ timeout: 30_000 });
  e = await engineState(page);
  expect(e.speed).toBe(0.1);
  expect(e.seq).toBe(s.seq);

  // the position slider: its handle dragged with the mouse past the track's left end, the replay
  // jumps (backwards) to the event it reads on release (a fraction of the track would name an
  // event that depends on the incident's length, and could be the one the replay stands at)
  const handle = panel.locator('.rb-position .noUi-handle');
  const track = panel.locator('.rb-position .noUi-base');
  const readout = async (): Promise<number> => Number((await panel.locator('.rb-position .widget-readout').innerText()).trim());
  const hb = (await handle.boundingBox())!;
  const tb = (await track.boundingBox())!;
  await page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await page.mouse.down();
  await page.mouse.move(tb.x - 20, hb.y + hb.height / 2, { steps: 12 });
  await page.mouse.up();
  let target = await readout();
  expect(target).toBe(0);
  expect(target).not.toBe(s.seq);
  s = await waitShown(panel, (x) => x.seq === target && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(target);

  // a click on the timeline: the mark's first event (one inside the run: the last events, the
  // program's exit, are no place to pause)
  const marks = tl.locator('.rb-mark');
  const seqs = await marks.evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-seq'))));
  const inside = seqs.map((q, i) => [q, i]).filter(([q]) => standsAt(syscalls, q) !== s.seq && q > 0 && q < lastCall);
  expect(inside.length).toBeGreaterThan(0);
  const mark = marks.nth(inside[Math.floor(inside.length / 2)][1]);
  target = standsAt(syscalls, Number(await mark.getAttribute('data-seq')));
  expect(target).not.toBe(s.seq);
  await mark.click();
  s = await waitShown(panel, (x) => x.seq === target && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(target);

  // the event box: type an event, Enter
  await panel.locator('.rb-jump input').fill('3');
  await panel.locator('.rb-jump input').press('Enter');
  s = await waitShown(panel, (x) => x.seq === standsAt(syscalls, 3) && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(standsAt(syscalls, 3));

  // an injection added in the box restarts the replay with it, back at the same event; removed, likewise
  await panel.locator('.rb-inject input').fill('--inject poll:delay_enter=1000');
  await panel.locator('.rb-inject input').press('Enter');
  await panel.locator('.rb-header').filter({ hasText: '1 injection ' }).waitFor({ timeout: 60_000 });
  s = await waitShown(panel, (x) => x.status === 'paused');
  expect(s.seq).toBe(3);
  expect(await panel.locator('.rb-injections select').innerText()).toContain('poll');
  e = await engineState(page);
  expect(e.seq).toBe(3);
  await panel.locator('.rb-remove').click();
  await panel.locator('.rb-header').filter({ hasText: '0 injections' }).waitFor({ timeout: 60_000 });
  s = await waitShown(panel, (x) => x.status === 'paused');
  expect(s.seq).toBe(3);

  // play at 0.1x, then pause: where it stopped is where the engine is
  await panel.locator('.rb-play').click();
  await waitShown(panel, (x) => x.status === 'playing' || x.status === 'ended');
  await page.waitForTimeout(1500);
  await panel.locator('.rb-pause').click({ timeout: 5_000 }).catch(() => undefined);
  s = await waitShown(panel, (x) => x.status === 'paused' || x.status === 'ended');
  if (s.status === 'paused') {
    e = await engineState(page);
    expect(e.paused).toBe(true);
    expect(e.seq).toBe(s.seq);
    expect(s.seq).toBeGreaterThanOrEqual(3);
  }

  // from the start to the end at max speed: the result shows
  await panel.locator('.rb-speed select').selectOption({ label: 'max' });
  await panel.locator('.rb-header').filter({ hasText: 'max speed' }).waitFor({ timeout: 30_000 });
  await panel.locator('.rb-jump input').fill('0');
  await panel.locator('.rb-jump input').press('Enter');
  await waitShown(panel, (x) => x.seq === 0 && x.status === 'paused');
  await panel.locator('.rb-play').click();
  await waitShown(panel, (x) => x.status === 'ended', 120_000);
  const outcome = panel.locator('.rb-outcome');
  await outcome.waitFor({ timeout: 30_000 });
  expect(await outcome.getAttribute('data-reproduced')).toBe('true');
  expect(await outcome.innerText()).toContain('reproduced');

  // back into the run from its end: a click on the timeline restarts the replay there
  const first = Number(await marks.nth(1).getAttribute('data-seq'));
  await marks.nth(1).click();
  s = await waitShown(panel, (x) => x.seq === first && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(first);

  fs.mkdirSync(SHOTS, { recursive: true });
  const shot = path.join(SHOTS, `${kind === 'lab' ? 'jupyterlab4' : 'notebook7'}.png`);
  await panel.screenshot({ path: shot });
  process.stdout.write(`replay panel in ${kind}: screenshot ${shot}\n`);

  // A chart in the same front end, drawn by the front end's own vega renderer
  // (@jupyterlab/vega5-extension): the front end told the kernel it renders vega-lite 5, so the
  // bundle carries no HTML (which JupyterLab ranks above vega-lite) and the spec is drawn on
  // its canvas, with something on it.
  await runCell(page, 2);
  const chart = cells(page).nth(2).locator('.jp-OutputArea');
  const vega = chart.locator('.jp-RenderedVegaCommon5.jp-RenderedVegaLite .vega-embed canvas');
  await vega.first().waitFor({ state: 'attached', timeout: 60_000 });
  expect(await chart.locator('.replaybook-chart').count()).toBe(0);
  await expect
    .poll(
      () =>
        vega.first().evaluate((c) => {
          const cv = c as HTMLCanvasElement;
          const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
          let coloured = 0;
          for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && !(px[i] > 240 && px[i + 1] > 240 && px[i + 2] > 240)) coloured++;
          return coloured;
        }),
      { timeout: 30_000 },
    )
    .toBeGreaterThan(500);
  await chart.screenshot({ path: path.join(SHOTS, `${kind === 'lab' ? 'jupyterlab4' : 'notebook7'}-chart.png`) });
  // (Execution counts: the prompts above showed [n]; the saved counts are checked with nbconvert below.)
  expect(w.errors.filter((x) => !notOurs(x))).toEqual([]);
  expect(w.refused).toEqual([]);
}

describe('replay panel in current Jupyter', () => {
  it('JupyterLab 4: every control moves the replay and the panel shows where the engine is', async () => {
    await drivePanel('lab');
  }, 300_000);

  it('Notebook 7: the same panel, the same controls', async () => {
    await drivePanel('notebook');
  }, 300_000);
});

interface Msg {
  msg_type: string;
  content: { comm_id?: string; target_name?: string; data?: Record<string, unknown> } & Record<string, unknown>;
  buffers: string[];
}

/**
 * The event a mark of a vega-lite timeline stands for, from its SVG element's aria-label (vega-lite
 * describes each mark by its tooltip fields: "…; seq: 123; …"), or null.
 */
const ariaSeq = (label: string | null): number | null => {
  const m = /(?:^|; )seq: (\d+)/.exec(label ?? '');
  return m ? Number(m[1]) : null;
};

/**
 * The seqs of INCIDENT's syscalls, in order. A replay stands only before a syscall: a jump to
 * another event (an rdtsc the loader ran, a signal) stands before the next syscall, and a jump
 * past the last one (to the program's exit) runs to the end.
 */
async function syscallSeqs(): Promise<number[]> {
  const store = await openStore(env.REPLAYBOOK_HOME);
  try {
    const events = await store.eventsTable(INCIDENT);
    const seqs = events.getChild('seq')!;
    const kinds = events.getChild('kind')!;
    const out: number[] = [];
    for (let i = 0; i < events.numRows; i++) if (String(kinds.get(i)) === 'syscall') out.push(Number(seqs.get(i)));
    return out.sort((a, b) => a - b);
  } finally {
    await store.close();
  }
}

/** Where a jump to `seq` stands: before the first syscall at or after it. */
function standsAt(syscalls: number[], seq: number): number {
  return syscalls.find((q) => q >= seq) ?? seq;
}

/** Clicks, with the mouse, a drawn mark of `chart` other than `not`'s, and before `below` (where a replay can stand); returns its event. */
async function clickChartMark(page: Page, chart: Locator, not: number, below = Infinity): Promise<number> {
  const marks = chart.locator('g.mark-rect.role-mark path');
  await expect.poll(() => marks.count(), { timeout: 30_000 }).toBeGreaterThan(3);
  const labels = await marks.evaluateAll((els) => els.map((el) => el.getAttribute('aria-label')));
  const seqs = labels.map(ariaSeq);
  const last = Math.min(below, Math.max(...seqs.filter((q): q is number => q !== null)));
  const inside = seqs.map((q, i) => [q, i] as const).filter(([q]) => q !== null && q !== not && q > 0 && q < last);
  expect(inside.length).toBeGreaterThan(0);
  // The middle one; what is on top at its centre is what the click hits (a later mark may cover it).
  for (const [, i] of [inside[Math.floor(inside.length / 2)], ...inside]) {
    await marks.nth(i).scrollIntoViewIfNeeded();
    const box = await marks.nth(i).boundingBox();
    if (!box) continue;
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    const hit = await page.evaluate(([px, py]) => {
      const el = document.elementFromPoint(px, py);
      return el && el.closest('g.mark-rect.role-mark') ? el.getAttribute('aria-label') : null;
    }, [x, y]);
    const seq = ariaSeq(hit);
    if (seq === null || seq === not || seq >= last) continue;
    await page.mouse.click(x, y);
    return seq;
  }
  throw new Error('no mark of the chart could be clicked');
}

async function chartClicks(kind: Frontend): Promise<void> {
  const syscalls = await syscallSeqs();
  const lastCall = syscalls.at(-1) ?? -1;
  const source = [
    `const run = await replay(${JSON.stringify(INCIDENT)}, { speed: 'max' }); const p = await panel(${JSON.stringify(INCIDENT)}, { charts: [await timeline(run)] })`,
    STATE_CELL,
    `await p.show(await timeline(await fetchIncident(${JSON.stringify(OTHER)})))`,
  ];
  await inNotebook(kind, `charts-${kind}`, source, async (page, w) => {
    await runCell(page, 0);
    const panel = page.locator('.rb-panel').first();
    await panel.waitFor({ timeout: 120_000 });
    let s = await waitShown(panel, (x) => x.status === 'paused', 120_000);
    await panel.locator('.rb-tl-path[data-path="extension"]').waitFor({ timeout: 30_000 });
    // The run's timeline, inside the panel, drawn by the front end's vega renderer as SVG.
    const chart = panel.locator('.rb-chart.rb-chart-ext[data-clickable="true"]').first();
    await chart.waitFor({ timeout: 60_000 });
    expect(await chart.locator('.jp-RenderedVegaLite svg').count()).toBeGreaterThan(0);
    // A click on one of its marks: the replay jumps to that mark's event, as a following cell reads it.
    const t0 = Date.now();
    const target = standsAt(syscalls, await clickChartMark(page, chart, s.seq, lastCall));
    s = await waitShown(panel, (x) => x.seq === target && x.status === 'paused');
    const ms = Date.now() - t0;
    const e = await engineState(page);
    expect(e.paused).toBe(true);
    expect(e.seq).toBe(target);
    // For comparison (printed only), a click on the panel's own timeline, forward as well, then back.
    const own = panel.locator('.rb-timeline.rb-timeline-ext svg.rb-timeline-svg .rb-mark');
    const ownSeqs = await own.evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-seq'))));
    // (one well after the cursor, whose line covers the marks beside it, and before the
    // program's last syscall: past it, at its exit, a replay has nowhere to stand and ends)
    const ahead = ownSeqs.map((q, i) => [q, i]).filter(([q]) => q > target && q < lastCall);
    const fwd = ahead.length ? ahead[Math.floor(ahead.length / 2)][1] : -1;
    let ownMs = -1;
    if (fwd >= 0) {
      const t1 = Date.now();
      await own.nth(fwd).click();
      await waitShown(panel, (x) => x.seq === standsAt(syscalls, ownSeqs[fwd]) && x.status === 'paused');
      ownMs = Date.now() - t1;
      const back = standsAt(syscalls, await clickChartMark(page, chart, standsAt(syscalls, ownSeqs[fwd]), lastCall));
      await waitShown(panel, (x) => x.seq === back && x.status === 'paused');
    }
    s = await shown(panel);
    const e2 = await engineState(page);
    expect(e2.seq).toBe(s.seq);
    process.stdout.write(`chart mark click -> panel at event ${target} in ${kind}: ${ms} ms (the panel's own timeline, forward to ${ownSeqs[fwd]}: ${ownMs} ms)\n`);
    // Another incident's timeline in the same panel: its marks are not this replay's events; the
    // header says so and the replay stays where it was.
    await runCell(page, 2);
    await cellOutput(page, 2, 60_000);
    const other = panel.locator('.rb-chart.rb-chart-ext[data-clickable="true"]').nth(1);
    await other.waitFor({ timeout: 60_000 });
    await clickChartMark(page, other, -1);
    await panel.locator('.rb-error').filter({ hasText: `is an event of ${OTHER}` }).waitFor({ timeout: 30_000 });
    const after = await engineState(page);
    expect(after.seq).toBe(s.seq);
    expect((await shown(panel)).seq).toBe(s.seq);
    expect(w.errors.filter((x) => !notOurs(x))).toEqual([]);
    expect(w.refused).toEqual([]);
  });
}

describe('charts inside the replay panel', () => {
  it('a mark jumps only to an event of this replay: the panel says why not for another incident, no single event, or beyond the log', async () => {
    const store = await openStore(env.REPLAYBOOK_HOME);
    try {
      const events = await store.eventsTable(INCIDENT);
      const chartOf = (incident: string): TimelineSpec => {
        const spec = timelineSpec(events);
        Object.assign(spec.usermeta.replaybook, { incident, run: null });
        return spec;
      };
      const p = new ReplayPanel({ incident: INCIDENT, events, transactions: [], replayOptions: (injections) => ({ store, injections }) });
      const mine = await p.show(chartOf(INCIDENT));
      const other = await p.show({ spec: chartOf(OTHER) });
      expect(p.charts).toEqual([mine, other]);
      expect(mine.origin.incident).toBe(INCIDENT);
      expect(p.unreachable(3, mine)).toBeNull();
      expect(p.unreachable(3, null)).toBeNull();
      expect(p.unreachable(3, other)).toMatch(new RegExp(`is an event of ${OTHER}: this panel replays ${INCIDENT}`));
      expect(p.unreachable(null, mine)).toMatch(/stands for no single event/);
      expect(p.unreachable(events.numRows, mine)).toMatch(new RegExp(`event ${events.numRows} of '.*' is not in ${INCIDENT}'s log \\(events 0 to ${events.numRows - 1}\\)`));
      // Without a front end, the static view carries the charts' PNGs.
      expect(p.staticHtml().match(/class="rb-static-chart"/g)).toHaveLength(2);
      await p.close();
    } finally {
      await store.close();
    }
  });

  it('a jump to an event a replay cannot stand before says where it stands instead: past the last syscall, the run ends', async () => {
    const store = await openStore(env.REPLAYBOOK_HOME);
    const events = await store.eventsTable(INCIDENT);
    const p = new ReplayPanel({ incident: INCIDENT, events, transactions: [], replayOptions: (injections) => ({ store, injections, speed: 'max' as const, ephemeral: true }) });
    try {
      const kinds = Array.from({ length: events.numRows }, (_, i) => String(events.getChild('kind')!.get(i)));
      const lastCall = kinds.lastIndexOf('syscall');
      // The payment program's log ends with its exit (and the late data after it).
      expect(lastCall).toBeLessThan(events.numRows - 1);
      await p.open();
      // A syscall near the middle (the loader's rdtsc, where it runs one, has no place to stand).
      const mid = kinds.indexOf('syscall', Math.floor(lastCall / 2));
      expect((await p.jumpTo(mid))?.seq).toBe(mid);
      expect(p.header.value).not.toContain('rb-notice');
      const exit = lastCall + 1;
      await p.jumpTo(exit);
      expect(p.header.value).toContain(`event ${exit} (${kinds[exit]}`);
      expect(p.header.value).toMatch(/comes after the program&#39;s last syscall|comes after the program's last syscall/);
      expect(p.header.value).toContain('>ended<');
      expect(p.resultView.value).toContain('data-reproduced="true"');
      // From the end, a jump back stands where asked, and the note is gone.
      expect((await p.jumpTo(mid))?.seq).toBe(mid);
      expect(p.header.value).not.toContain('rb-notice');
      expect(p.header.value).toContain('>paused<');
    } finally {
      await p.close();
      await store.close();
    }
  }, 120_000);

  for (const [kind, name] of [['lab', 'JupyterLab 4'], ['notebook', 'Notebook 7']] as const) {
    it(`${name}: a click on a mark of timeline(run) shown in the panel jumps its replay to that event`, () => chartClicks(kind), 300_000);
  }
});

describe('exported HTML: the nbconvert template `replaybook` (installed by `replaybook kernel install`)', () => {
  it('draws the vega-lite outputs JupyterLab saves (spec and PNG, no HTML) with vega-embed, offline', async () => {
    // A chart output as the kernel sends it to JupyterLab 4 (whose hello said it renders vega-lite 5).
    const store = await openStore(env.REPLAYBOOK_HOME);
    let spec: TimelineSpec;
    try {
      spec = timelineSpec(await store.eventsTable(INCIDENT), { title: `${INCIDENT} </script> timeline` });
    } finally {
      await store.close();
    }
    const { png } = await renderChart(spec);
    const nb = writeNotebook('chart-export.ipynb', [
      { cell_type: 'code', id: 'a', metadata: {}, execution_count: 1, source: 'display(await timeline(incident))', outputs: [{ output_type: 'display_data', metadata: {}, data: { 'application/vnd.vegalite.v5+json': spec, 'image/png': png.toString('base64'), 'text/plain': 'timeline' } }] },
    ]);
    // Both nbconverts: the venv's (7, with JupyterLab 4) and Debian's (6, with Notebook 6).
    for (const python of [path.join(VENV_BIN, 'python'), PYTHON]) {
      const out = path.join(work, `chart-export-${python === PYTHON ? 'debian' : 'venv'}.html`);
      const r = await runProcess(python, ['-m', 'nbconvert', '--to', 'html', '--template', 'replaybook', '--output', out, nb], env);
      expect(r.stderr).not.toMatch(/Traceback/);
      expect(r.code).toBe(0);
      const html = fs.readFileSync(out, 'utf8');
      // The spec (its title's </script> escaped), the vega builds inline, the embed code.
      const specText = /<script[^>]*class="rb-chart-spec"[^>]*>([^<]*)<\/script>/.exec(html);
      expect(specText).not.toBeNull();
      const embedded = JSON.parse(specText![1]) as TimelineSpec;
      expect(embedded.usermeta.replaybook.chart).toBe('timeline');
      expect(embedded.data.values.length).toBe(spec.data.values.length);
      expect(html).toContain('figure class="rb-chart"');
      expect(html).toContain('window.vegaEmbed(view, spec');
      expect(html).toMatch(/vegaEmbed=|vegaEmbed =|\.vegaEmbed=/);
      expect(html).not.toContain('cdn.jsdelivr.net/npm/vega');
      // In Chromium with nothing but the file: vega-embed draws one rect per row of the spec.
      const context = await browser!.newContext({ viewport: { width: 1300, height: 1000 } });
      try {
        const w = await watch(context, (url) => url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:'));
        const page = await context.newPage();
        await page.goto(`file://${out}`);
        const fig = page.locator('figure.rb-chart[data-interactive="drawn"]');
        await fig.waitFor({ timeout: 60_000 });
        expect(await fig.locator('.rb-chart-view svg g.mark-rect.role-mark').first().locator('path').count()).toBe(spec.data.values.length);
        expect(await fig.locator('img.rb-chart-png').isVisible()).toBe(false);
        // (Failed loads: the refused CDN links of the lab template itself, require.js and MathJax, not vega.)
        expect(w.errors.filter((e) => !/ERR_BLOCKED_BY_CLIENT/.test(e))).toEqual([]);
        expect(w.refused.length).toBe(w.errors.length);
        expect(w.refused.filter((u) => /vega/.test(u))).toEqual([]);
        process.stdout.write(`nbconvert --template replaybook (${python}): ${html.length} bytes, ${spec.data.values.length} marks drawn\n`);
      } finally {
        await context.close();
      }
    }
  }, 180_000);
});

describe('comms and the widget protocol in the kernel', () => {
  it('lists widget comms, keeps a widget\'s state in step both ways, delivers clicks and buffers, and counts executions', async () => {
    requireVenv();
    const r = await runProcess(path.join(VENV_BIN, 'python'), [path.join(__dirname, 'helpers', 'widget_client.py')], { ...env, RB_INCIDENT: INCIDENT });
    expect(r.stderr).not.toMatch(/Traceback/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown> & {
      info_before: { msg_type: string; content: { status: string; comms: Record<string, { target_name: string }> } };
      info_after: { msg_type: string; content: { status: string; comms: Record<string, { target_name: string }> } };
      info_all: { content: { comms: Record<string, { target_name: string }> } };
      info_closed: { content: { comms: Record<string, { target_name: string }> } };
      ids: Record<string, string>;
      opens: Msg[];
      displays: Array<Record<string, { model_id?: string; version_major?: number }>>;
      execute_input: Array<{ execution_count: number; code: string }>;
      reply_count: number;
      after_update: Msg[];
      after_request_state: Msg[];
      kernel_view: { value: number; changes: number[]; clicks: number; raw: number[] };
      kernel_set: Msg[];
      request_states: { method: string; models: Record<string, string>; slider_value: number; buffer_paths: unknown[] };
      unknown_target: Msg[];
      closed: Msg[];
      two_panels: { p1: number; p2: number; tx1: number };
      after_interrupt: { p3: boolean; p1: boolean; p2: boolean; p1paused: boolean; p1before: number; p1after: number };
      fallback: { path: string; hosts: number; models: string[] };
    };
    // comm_info_request: answered as comm_info_reply, empty before, every widget comm after.
    expect(out.info_before.msg_type).toBe('comm_info_reply');
    expect(out.info_before.content).toEqual({ status: 'ok', comms: {} });
    const slider = out.ids.IntSliderModel;
    const button = out.ids.ButtonModel;
    expect(out.info_after.content.comms[slider]).toEqual({ target_name: 'jupyter.widget' });
    expect(out.info_after.content.comms[button]).toEqual({ target_name: 'jupyter.widget' });
    expect(Object.keys(out.info_all.content.comms).length).toBeGreaterThanOrEqual(Object.keys(out.info_after.content.comms).length);
    // comm_open: protocol 2.1.0 state with its model/view names, layout and style as references.
    const open = out.opens.find((m) => m.content.comm_id === slider)!;
    const state = (open.content.data as { state: Record<string, unknown> }).state;
    expect(state).toMatchObject({ _model_module: '@jupyter-widgets/controls', _model_module_version: '2.0.0', _view_name: 'IntSliderView', value: 2, max: 10, description: 'n' });
    expect(String(state.layout)).toMatch(/^IPY_MODEL_[0-9a-f]{32}$/);
    expect(out.ids.LayoutModel).toBeDefined();
    const raw = out.opens.find((m) => m.content.comm_id === out.ids.RawModel)!;
    expect(raw.buffers).toEqual(['010203']);
    expect((raw.content.data as { buffer_paths: unknown }).buffer_paths).toEqual([['data']]);
    // The display names the box's model.
    expect(out.displays[0]['application/vnd.jupyter.widget-view+json']).toEqual({ version_major: 2, version_minor: 1, model_id: out.ids.VBoxModel });
    // A front-end update is echoed (echo_update), request_state answers the full state.
    expect(out.after_update.map((m) => m.content.data)).toEqual([{ method: 'echo_update', state: { value: 7 }, buffer_paths: [] }]);
    expect(out.after_request_state).toHaveLength(1);
    expect(out.after_request_state[0].content.data).toMatchObject({ method: 'update', state: { value: 7, max: 10, _model_name: 'IntSliderModel' } });
    // The kernel saw it all: the new value and its change event, the click, the buffer.
    expect(out.kernel_view).toEqual({ value: 7, changes: [7], clicks: 1, raw: [9, 8, 7, 6] });
    // A change made in a cell goes to the front end as an update.
    expect(out.kernel_set.map((m) => m.content.data)).toEqual([{ method: 'update', state: { value: 4 }, buffer_paths: [] }]);
    // A reconnecting front end gets every live model.
    expect(out.request_states.method).toBe('update_states');
    expect(out.request_states.models[slider]).toBe('IntSliderModel');
    expect(out.request_states.slider_value).toBe(4);
    expect(out.request_states.buffer_paths).toContainEqual([out.ids.RawModel, 'state', 'data']);
    // A target the kernel does not have is closed at once; a closed widget leaves comm_info.
    expect(out.unknown_target.map((m) => m.msg_type)).toEqual(['comm_close']);
    expect(out.closed.map((m) => m.content.comm_id)).toContain(slider);
    expect(out.info_closed.content.comms[slider]).toBeUndefined();
    // Execution counts: execute_input carries them (tslab sent none), the reply agrees.
    expect(out.execute_input).toHaveLength(1);
    expect(out.execute_input[0].execution_count).toBeGreaterThanOrEqual(1);
    expect(out.reply_count).toBe(out.execute_input[0].execution_count);
    // Two panels, two replays: one stepped to event 3, the other opened at tx-1.
    expect(out.two_panels.p1).toBe(3);
    expect(out.two_panels.p2).toBe(out.two_panels.tx1);
    // Without a front end that says hello for the timeline's model, the panel shows the timeline
    // through its HTML widget instead, in the same place.
    expect(out.fallback.path).toBe('html');
    expect(out.fallback.hosts).toBe(1);
    expect(out.fallback.models).not.toContain('TimelineModel');
    // Interrupting the cell that opened a panel while it plays stops that panel; the panels of
    // other cells stay open, their replays untouched (Jupyter signals the kernel's whole process
    // group, but each engine leads its own): the first panel is still paused and still steps.
    expect(out.after_interrupt).toMatchObject({ p3: true, p1: false, p2: false, p1paused: true });
    expect(out.after_interrupt.p1after).toBe(out.after_interrupt.p1before + 1);
  }, 180_000);
});

describe('the panel where ipywidgets 8 is missing, and executed headlessly', () => {
  it("Debian's Notebook 6 nbconvert saves the panel's widget state and its static view: tables, a PNG timeline and the calls to make", async () => {
    const nb = writeNotebook('static.ipynb', [
      { cell_type: 'code', id: 'a', metadata: {}, outputs: [], execution_count: null, source: `const p = await panel(${JSON.stringify(INCIDENT)}, { at: 'tx-1' })` },
      { cell_type: 'code', id: 'b', metadata: {}, outputs: [], execution_count: null, source: 'const st = await p.state(); console.log(st.seq, st.paused)' },
      { cell_type: 'code', id: 'c', metadata: {}, outputs: [], execution_count: null, source: 'await p.step(2); display(p)' },
    ]);
    const out = path.join(work, 'static.out.ipynb');
    const r = await runProcess(PYTHON, ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.store_widget_state=True', '--ExecutePreprocessor.timeout=120', '--output', out, nb], env);
    expect(r.stderr).not.toMatch(/Traceback|CellExecutionError/);
    expect(r.code).toBe(0);
    const done = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      cells: Array<{ execution_count: number | null; outputs: Array<{ output_type: string; data?: Record<string, unknown>; text?: string | string[] }> }>;
      metadata: { widgets?: Record<string, { state: Record<string, { model_name: string; state: Record<string, unknown> }> }> };
    };
    expect(done.cells.map((c) => c.execution_count)).toEqual([1, 2, 3]);
    const shownPanel = done.cells[0].outputs.find((o) => o.data?.['application/vnd.jupyter.widget-view+json'])!;
    expect(shownPanel).toBeDefined();
    const html = String(shownPanel.data!['text/html']);
    expect(html).toContain('rb-panel-static');
    expect(html).toMatch(/<img alt="timeline" class="rb-static-timeline" src="data:image\/png;base64,/);
    expect(html).toContain('p.step(1)');
    // Opened at tx-1: the state cell reads the engine paused there.
    const printed = ([] as string[]).concat(done.cells[1].outputs.map((o) => (Array.isArray(o.text) ? o.text.join('') : String(o.text ?? '')))).join('');
    const [seq, paused] = printed.trim().split(/\s+/);
    expect(paused).toBe('true');
    // The static view of display(p) after two steps names that event and shows the state's tables.
    const later = String(done.cells[2].outputs.find((o) => o.data?.['text/html'])!.data!['text/html']);
    expect(later).toContain(`at event ${Number(seq) + 2} of`);
    expect(later).toContain('<table');
    expect(later).toContain('next: ');
    // The widget state is saved with the notebook: the panel's models are there.
    const saved = done.metadata.widgets?.['application/vnd.jupyter.widget-state+json'];
    expect(saved).toBeDefined();
    const models = Object.values(saved!.state).map((m) => m.model_name);
    for (const m of ['VBoxModel', 'HBoxModel', 'ButtonModel', 'IntSliderModel', 'DropdownModel', 'HTMLModel', 'TextModel']) expect(models).toContain(m);
  }, 180_000);
});

describe("the panel in Debian's Notebook 6 (ipywidgets 6)", () => {
  it('shows the static view live: the PNG timeline and the calls to make', async () => {
    const dir = path.join(work, 'nb6');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'panel6.ipynb'),
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 4,
        metadata: { kernelspec: { name: 'replaybook', display_name: 'replaybook (TypeScript)', language: 'typescript' } },
        cells: [{ cell_type: 'code', metadata: {}, outputs: [], execution_count: null, source: `const p = await panel(${JSON.stringify(INCIDENT)}, { at: 'tx-1' })` }],
      }),
    );
    const server = await startNotebookServer(dir, env);
    const context = await browser!.newContext({ viewport: { width: 1280, height: 1000 } });
    try {
      const page = await context.newPage();
      await page.goto(server.notebookUrl('panel6.ipynb'));
      await page.waitForFunction(() => (window as unknown as { Jupyter?: { notebook?: { kernel?: { is_connected(): boolean } } } }).Jupyter?.notebook?.kernel?.is_connected() === true, undefined, { timeout: 90_000 });
      await page.click('#celllink');
      await page.click('#run_all_cells > a');
      const view = page.locator('.output_html .rb-panel-static').first();
      await view.waitFor({ timeout: 90_000 });
      const img = view.locator('img.rb-static-timeline');
      await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth), { timeout: 10_000 }).toBeGreaterThan(100);
      expect(await view.innerText()).toContain('p.step(1)');
      fs.mkdirSync(SHOTS, { recursive: true });
      const shot = path.join(SHOTS, 'notebook6-static.png');
      // The panel redraws its static view when the state changes (the backtrace comes after
      // the pause): a screenshot that meets the replaced element takes the new one.
      for (let attempt = 1; ; attempt++) {
        try {
          await view.screenshot({ path: shot, timeout: 15_000 });
          break;
        } catch (e) {
          if (attempt >= 4 || !/not attached/.test(String(e))) throw e;
        }
      }
      process.stdout.write(`replay panel in Notebook 6 (static view): screenshot ${shot}\n`);
    } finally {
      await context.close();
      await server.stop();
    }
  }, 180_000);
});
