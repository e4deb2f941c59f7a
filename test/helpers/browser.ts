/// <reference lib="dom" />
// Headless Chromium for tests: Debian's chromium driven by playwright-core, with every request the
// page tries recorded (and, outside what a test allows, refused), Content-Security-Policy
// violations and script errors collected, and checks that a chart is really drawn.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { decodePng, nonBackgroundPixels } from './png';

export const CHROMIUM = process.env.REPLAYBOOK_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts', 'browser');

/** Fails, saying how to fix it, when Chromium or playwright-core is missing. */
export function requireChromium(): void {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
  } catch {
    throw new Error(`Chromium is not installed (${CHROMIUM} is missing): run scripts/install-system-deps.sh, which installs Debian's chromium`);
  }
}

/**
 * Launches headless Chromium. `marker` goes on its command line (Chromium ignores the switch) so
 * that a test can check with ps that no browser process outlived it.
 */
export async function launchChromium(marker: string): Promise<Browser> {
  requireChromium();
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed (${(e as Error).message}): run npm ci`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [`--replaybook-test=${marker}`] });
}

export interface Watch {
  /** Every URL the page asked for, once each, in order. */
  requests: string[];
  /** The ones refused because the test does not allow them. */
  refused: string[];
  /** Uncaught exceptions and console errors. */
  errors: string[];
  /** Content-Security-Policy violations the page reported (a load the policy stopped). */
  violations(page: Page): Promise<string[]>;
}

/**
 * Routes every request of the context through `allow`: allowed ones go ahead, the others are
 * aborted; all are recorded. Also records script errors and CSP violations of each page.
 */
export async function watch(context: BrowserContext, allow: (url: string) => boolean, route = true): Promise<Watch> {
  const seen = new Set<string>();
  const w: Watch = {
    requests: [],
    refused: [],
    errors: [],
    violations: (page) => page.evaluate(() => ((window as unknown as { __rbViolations?: string[] }).__rbViolations ?? []).slice()),
  };
  const saw = (url: string): void => {
    if (seen.has(url)) return;
    seen.add(url);
    w.requests.push(url);
  };
  if (route) await context.route('**', (route) => {
    const url = route.request().url();
    saw(url);
    if (allow(url)) return route.continue();
    w.refused.push(url);
    return route.abort('blockedbyclient');
  });
  // Requests the router never sees (data: URLs, for one) still show up here.
  context.on('request', (req) => saw(req.url()));
  await context.addInitScript(() => {
    const list: string[] = [];
    (window as unknown as { __rbViolations: string[] }).__rbViolations = list;
    document.addEventListener('securitypolicyviolation', (e) => list.push(`${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'}`));
  });
  context.on('page', (page) => observe(page, w));
  return w;
}

function observe(page: Page, w: Watch): void {
  page.on('pageerror', (e) => w.errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(`console.error: ${m.text()}`);
  });
}

export interface DrawnChart {
  /** SVG elements drawn for data marks (vega's role-mark groups), and canvas elements. */
  svgMarks: number;
  canvases: number;
  /** Pixels of the chart's screenshot that differ from its background. */
  inkPixels: number;
  width: number;
  height: number;
  screenshot: string;
}

/** Counts what a vega view drew inside `chart` and screenshots it to `file`. */
export async function inspectChart(chart: Locator, file: string): Promise<DrawnChart> {
  const counts = await chart.evaluate((el) => ({
    svgMarks: el.querySelectorAll('svg .role-mark > path, svg .role-mark > rect, svg .role-mark > text, svg .role-mark > line, svg .role-mark > circle').length,
    canvases: el.querySelectorAll('canvas').length,
  }));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const png = await chart.screenshot({ path: file, animations: 'disabled' });
  const img = decodePng(png);
  return { ...counts, inkPixels: nonBackgroundPixels(img), width: img.width, height: img.height, screenshot: file };
}
