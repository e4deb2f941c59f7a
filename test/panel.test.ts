// The replay panel in current Jupyter: JupyterLab 4 and Notebook 7 from the project's venv on
// loopback with the replaybook kernel, driven in Debian's Chromium. Each control is used as a
// person would (play, pause, step, speed, the position slider, a click on the timeline) and each
// time the event the panel shows is checked against the engine's state read in a following cell.
// Also: the kernel's comms and widget protocol through jupyter_client (comm_info_request,
// a widget's state both ways, echo_update, request_state, a button's click), execution counts,
// charts in JupyterLab's own vega renderer, and the static view in Debian's Notebook 6.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { openStore } from '../src/store';
import { ARTIFACTS, launchChromium, watch, type Watch } from './helpers/browser';
import { installKernel, jupyterEnv } from './helpers/jupyter';
import { startJupyter, type Frontend, type JupyterServer } from './helpers/jupyter-server';
import { cellOutput, cells, kernelIdle, runCell, waitShown } from './helpers/panel-page';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-panel-'));
const env = jupyterEnv(work);
const INCIDENT = 'panel-demo';
const SHOTS = path.join(path.dirname(ARTIFACTS), 'panel');
let browser: Browser | null = null;

beforeAll(async () => {
  await installKernel(work, env);
  const store = await openStore(env.REPLAYBOOK_HOME);
  try {
    await recordPaymentIncident(store, INCIDENT);
  } finally {
    await store.close();
  }
  browser = await launchChromium(`panel-${process.pid}`);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

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

async function drivePanel(kind: Frontend): Promise<void> {
  const server = await startJupyter(kind, work, env);
  try {
    const { page, w } = await openNotebook(server, `panel-${kind}.ipynb`, [`const p = await panel(${JSON.stringify(INCIDENT)})`, STATE_CELL]);
    try {
      await drive(page, w, kind);
    } catch (e) {
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, `${kind}-failure.png`) }).catch(() => undefined);
      throw new Error(`${(e as Error).stack}\npage errors: ${w.errors.join('\n')}\nserver log (end):\n${server.log().slice(-12000)}`);
    }
  } finally {
    await server.stop();
  }
}

/** Errors JupyterLab's own debugger sidebar raises for a kernel without a debugger. */
const notOurs = (e: string): boolean => /No active debugger session/.test(e);

async function drive(page: Page, w: Watch, kind: Frontend): Promise<void> {
  await runCell(page, 0);
  const panel: Locator = page.locator('.rb-panel').first();
  await panel.waitFor({ timeout: 90_000 });
  let s = await waitShown(panel, (x) => x.status === 'paused');
  let e = await engineState(page);
  expect(e.paused).toBe(true);
  expect(s.seq).toBe(e.seq);
  // The timeline was drawn by its module: one mark per time slice with events, and the cursor.
  const tl = panel.locator('.rb-timeline svg.rb-timeline-svg');
  await tl.waitFor({ timeout: 30_000 });
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

  // the position slider: dragged to about a quarter, the replay jumps (backwards) where it was released
  const track = panel.locator('.rb-position .noUi-base');
  const handle = panel.locator('.rb-position .noUi-handle');
  const tb = (await track.boundingBox())!;
  const hb = (await handle.boundingBox())!;
  await page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
  await page.mouse.down();
  await page.mouse.move(tb.x + tb.width * 0.15, hb.y + hb.height / 2, { steps: 8 });
  await page.mouse.up();
  const readout = async (): Promise<number> => Number((await panel.locator('.rb-position .widget-readout').innerText()).trim());
  let target = await readout();
  expect(target).not.toBe(s.seq);
  s = await waitShown(panel, (x) => x.seq === target && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(target);

  // a click on the timeline: the mark's first event
  const marks = tl.locator('.rb-mark');
  const n = await marks.count();
  const mark = marks.nth(Math.floor(n * 0.7));
  target = Number(await mark.getAttribute('data-seq'));
  expect(target).not.toBe(s.seq);
  await mark.click();
  s = await waitShown(panel, (x) => x.seq === target && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(target);

  // the event box: type an event, Enter
  await panel.locator('.rb-jump input').fill('3');
  await panel.locator('.rb-jump input').press('Enter');
  s = await waitShown(panel, (x) => x.seq === 3 && x.status === 'paused');
  e = await engineState(page);
  expect(e.seq).toBe(3);

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
