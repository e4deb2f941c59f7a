// The notebook kernel with the real Jupyter (Debian's packages, /usr/bin/python3): notebook 01
// executed headlessly by nbconvert, and a kernel driven by jupyter_client for interrupts and
// errors.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { buildFixtures } from '../src/fixtures';
import { openStore } from '../src/store';
import { decodePng, nonBackgroundPixels } from './helpers/png';
import { runProcess } from './helpers/run';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'replaybook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-nb-'));
const home = path.join(work, 'store');
const prefix = path.join(work, 'jupyter');
const env = {
  ...process.env,
  REPLAYBOOK_HOME: home,
  JUPYTER_PATH: path.join(prefix, 'share', 'jupyter'),
  JUPYTER_RUNTIME_DIR: path.join(work, 'runtime'),
  JUPYTER_CONFIG_DIR: path.join(work, 'config'),
  JUPYTER_PLATFORM_DIRS: '1',
};

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}

const text = (t: string | string[] | unknown): string => (Array.isArray(t) ? t.join('') : String(t ?? ''));

beforeAll(async () => {
  const r = await runProcess(process.execPath, [CLI, 'kernel', 'install', '--prefix', prefix], env);
  expect(r.stderr).toBe('');
  expect(r.stdout).toContain('installed the Jupyter kernel "replaybook (TypeScript)"');
  expect(r.code).toBe(0);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('replaybook kernel', () => {
  it('registers a kernelspec that launches tslab with the library preloaded', () => {
    const spec = JSON.parse(fs.readFileSync(path.join(prefix, 'share', 'jupyter', 'kernels', 'replaybook', 'kernel.json'), 'utf8')) as {
      argv: string[];
      display_name: string;
    };
    expect(spec.display_name).toBe('replaybook (TypeScript)');
    expect(spec.argv).toEqual([process.execPath, path.join(ROOT, 'kernel', 'launcher.js'), '{connection_file}']);
  });

  it('runs notebook 01 top to bottom: events table, the reproduced failure, a chart bundle', async () => {
    const out = path.join(work, '01-executed.ipynb');
    const t0 = Date.now();
    const r = await runProcess(
      '/usr/bin/python3',
      ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=300', '--output', out, path.join(ROOT, 'notebooks', '01-payment-timeout.ipynb')],
      env,
    );
    const seconds = (Date.now() - t0) / 1000;
    expect(r.stderr).not.toMatch(/Traceback|CellExecutionError/);
    expect(r.code).toBe(0);
    process.stdout.write(`notebook 01 executed headlessly in ${seconds.toFixed(1)} s; ${fs.statSync(out).size} bytes\n`);
    const nb = JSON.parse(fs.readFileSync(out, 'utf8')) as { cells: Cell[] };
    const code = nb.cells.filter((c) => c.cell_type === 'code');
    for (const c of code) expect(c.outputs?.filter((o) => o.output_type === 'error')).toEqual([]);
    const outputs = code.flatMap((c) => c.outputs ?? []);

    // The event table: a head/tail HTML table of the recorded syscalls.
    const html = outputs.map((o) => text(o.data?.['text/html'])).join('\n');
    expect(html).toContain('<table');
    for (const name of ['connect', 'poll', 'payment failed: timeout']) expect(html).toContain(name);

    // The replay's failure line.
    const streams = outputs.filter((o) => o.output_type === 'stream').map((o) => text(o.text)).join('');
    expect(streams).toContain('reproduced: payment failed: timeout (exit 1), the same as in production');

    // The chart: one bundle with the vega-lite spec, a PNG, and HTML; no SVG.
    const charts = outputs.filter((o) => o.data?.['application/vnd.vegalite.v5+json']);
    expect(charts.length).toBe(1);
    const chart = charts[0].data!;
    expect(Object.keys(chart).sort()).toEqual(['application/vnd.vegalite.v5+json', 'image/png', 'text/html', 'text/plain']);
    const spec = chart['application/vnd.vegalite.v5+json'] as { mark?: unknown; layer?: { mark?: unknown }[]; data?: { values?: unknown[] } };
    expect(spec.mark ?? spec.layer?.[0]?.mark).toBeDefined();
    expect(spec.data?.values?.length).toBeGreaterThan(20);
    const png = decodePng(Buffer.from(text(chart['image/png']), 'base64'));
    expect(png.width).toBeGreaterThan(200);
    expect(nonBackgroundPixels(png)).toBeGreaterThan(1000);
    expect(text(chart['text/html'])).toContain('data:image/png;base64,');

    // A run as a cell's plain value prints one line.
    const last = code[code.length - 1].outputs ?? [];
    const plain = last.map((o) => text(o.text ?? o.data?.['text/plain'])).join('');
    expect(plain.trim().split('\n')).toHaveLength(1);
    expect(plain).toMatch(/^Run\(run-\S+ of payment-timeout: exit 1, stdout "payment failed: timeout\\n", reproduced\)/);
  });

  it('stops a replay when the cell is interrupted, reports errors in one line, and keeps answering', async () => {
    // A uniquely named copy of the client, so the process scan sees only this test's tracee.
    const bins = await buildFixtures();
    const tracee = `nbi${process.pid}`.slice(0, 15);
    const exe = path.join(work, tracee);
    fs.copyFileSync(bins.paymentClient, exe);
    fs.chmodSync(exe, 0o755);
    const store = await openStore(home);
    try {
      await recordPaymentIncident(store, 'nb-interrupt', { exe });
    } finally {
      await store.close();
    }
    const raw = execFileSync('/usr/bin/python3', [path.join(__dirname, 'helpers', 'kernel_client.py'), 'nb-interrupt', tracee], {
      env,
      encoding: 'utf8',
      timeout: 180_000,
    });
    const r = JSON.parse(raw) as Record<string, { status: string; stdout: string; stderr: string; error: string; seconds: number }> & {
      start_seconds: number;
      tracees_after_interrupt: number[];
    };
    process.stdout.write(`kernel start: ${r.start_seconds} s\n`);
    expect(r.first.stdout.trim()).toBe('2');
    expect(r.interrupted.status).toBe('error');
    expect(r.tracees_after_interrupt).toEqual([]);
    expect(r.after_interrupt).toMatchObject({ status: 'ok' });
    expect(r.after_interrupt.stdout.trim()).toBe('3');

    expect(r.type_error.status).toBe('error');
    expect(r.type_error.stderr + r.type_error.error).toContain("Type 'string' is not assignable to type 'number'");
    expect(r.after_type_error.stdout.trim()).toBe('42');

    expect(r.store_error.status).toBe('error');
    const msg = (r.store_error.stderr + r.store_error.error).trim();
    expect(msg).toBe("ReplaybookError: unknown incident 'no-such-incident': incidents() lists the recorded ones (the demo records 'payment-timeout': npm run demo)");
    expect(r.after_store_error.status).toBe('ok');
  });
});
