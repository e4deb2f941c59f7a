// The notebook kernel with the real Jupyter (Debian's packages, /usr/bin/python3): every example
// notebook executed headlessly by nbconvert with its outputs checked (tables, verdicts, chart
// bundles with marks, data and a drawn PNG), and a kernel driven by jupyter_client for interrupts
// and errors.
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

const VEGALITE = 'application/vnd.vegalite.v5+json';

interface Spec {
  mark?: unknown;
  data?: { values?: unknown[] };
  layer?: Spec[];
  vconcat?: Spec[];
  hconcat?: Spec[];
  usermeta?: { replaybook?: Record<string, unknown> & { chart?: string } };
}

interface ChartOutput {
  kind: string;
  meta: Record<string, unknown>;
  spec: Spec;
  data: Record<string, unknown>;
}

function chartsOf(outputs: Output[]): ChartOutput[] {
  return outputs
    .filter((o) => o.data?.[VEGALITE])
    .map((o) => {
      const spec = o.data?.[VEGALITE] as Spec;
      const meta = spec.usermeta?.replaybook ?? {};
      return { kind: String(meta.chart), meta, spec, data: o.data as Record<string, unknown> };
    });
}

/** Every mark and every inline data set of a (possibly layered or concatenated) spec. */
function marksAndData(spec: Spec): { marks: unknown[]; rows: number } {
  let marks: unknown[] = spec.mark ? [spec.mark] : [];
  let rows = spec.data?.values?.length ?? 0;
  for (const sub of [...(spec.layer ?? []), ...(spec.vconcat ?? []), ...(spec.hconcat ?? [])]) {
    const inner = marksAndData(sub);
    marks = marks.concat(inner.marks);
    rows += inner.rows;
  }
  return { marks, rows };
}

/** One chart bundle: vega-lite + PNG + HTML + text, no SVG; marks and data; a drawing in the PNG. */
function checkChart(c: ChartOutput): void {
  expect(Object.keys(c.data).sort()).toEqual([VEGALITE, 'image/png', 'text/html', 'text/plain']);
  const { marks, rows } = marksAndData(c.spec);
  expect(marks.length).toBeGreaterThan(0);
  expect(rows).toBeGreaterThan(0);
  expect(c.spec.data?.values?.length).toBeGreaterThan(0);
  const png = decodePng(Buffer.from(text(c.data['image/png']), 'base64'));
  expect(png.width).toBeGreaterThan(200);
  expect(nonBackgroundPixels(png)).toBeGreaterThan(1000);
  expect(text(c.data['text/html'])).toContain('data:image/png;base64,');
}

/** Executes a notebook headlessly with nbconvert; its code cells, outputs, HTML and streams. */
async function execute(name: string): Promise<{ code: Cell[]; outputs: Output[]; html: string; streams: string; seconds: number }> {
  const out = path.join(work, name.replace('.ipynb', '.executed.ipynb'));
  const t0 = Date.now();
  const r = await runProcess(
    '/usr/bin/python3',
    ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.timeout=300', '--output', out, path.join(ROOT, 'notebooks', name)],
    env,
  );
  const seconds = (Date.now() - t0) / 1000;
  expect(r.stderr).not.toMatch(/Traceback|CellExecutionError/);
  expect(r.code).toBe(0);
  process.stdout.write(`notebook ${name} executed headlessly in ${seconds.toFixed(1)} s; ${fs.statSync(out).size} bytes\n`);
  const nb = JSON.parse(fs.readFileSync(out, 'utf8')) as { cells: Cell[] };
  const code = nb.cells.filter((c) => c.cell_type === 'code');
  for (const c of code) expect(c.outputs?.filter((o) => o.output_type === 'error')).toEqual([]);
  const outputs = code.flatMap((c) => c.outputs ?? []);
  return {
    code,
    outputs,
    html: outputs.map((o) => text(o.data?.['text/html'])).join('\n'),
    streams: outputs.filter((o) => o.output_type === 'stream').map((o) => text(o.text)).join(''),
    seconds,
  };
}

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

  it('runs notebook 01 top to bottom: the incident, its replay, the decisive calls, the fix and its verification', async () => {
    const { code, outputs, html, streams } = await execute('01-payment-timeout.ipynb');

    // The event table: a head/tail HTML table of the recorded syscalls.
    expect(html).toContain('<table');
    for (const name of ['connect', 'poll', 'payment failed: timeout']) expect(html).toContain(name);

    // The replay's failure, the paused session before the poll, the fix, the verdict.
    expect(streams).toContain('reproduced: payment failed: timeout (exit 1), the same as in production');
    expect(html).toContain('Replay paused');
    expect(html).toMatch(/next: poll\(0x[0-9a-f]+, 1, 2000/);
    expect(streams).toContain('next: poll with a timeout of 2000 ms');
    expect(streams).toContain('fixed: payment ok: OK txn=7781 amount=19.99');
    expect(streams).toMatch(/verified: the recorded failure reproduces \(exit 1\), the fix succeeds \(exit 0\), and all 10 runs with up to 300 ms of jitter succeed \(seed 42\)/);
    expect(html).toContain('Fix verification · payment-timeout');
    expect(html).toContain('Comparison · 1 against recording');

    const charts = chartsOf(outputs);
    expect(charts.map((c) => c.kind)).toEqual(['causal-graph', 'timeline', 'timing-diff', 'outcome-matrix']);
    for (const c of charts) checkChart(c);
    expect(charts[0].meta).toMatchObject({ transactions: ['tx-1'], failures: 3 });
    expect(charts[1].spec.data?.values?.length).toBeGreaterThan(20);
    expect(charts[2].meta).toMatchObject({ baseline: 'recording', variants: ['timeout 5 s'] });
    expect(charts[3].meta).toMatchObject({ runs: 12, verified: true });

    // A run as a cell's plain value prints one line.
    const last = code[code.length - 1].outputs ?? [];
    const plain = last.map((o) => text(o.text ?? o.data?.['text/plain'])).join('');
    expect(plain.trim().split('\n')).toHaveLength(1);
    expect(plain).toMatch(/^Run\(run-\S+ of payment-timeout: exit 1, stdout "payment failed: timeout\\n", reproduced\)/);
  });

  it('runs notebook 02: timeouts and latencies side by side, and where their timing moves', async () => {
    const { outputs, html, streams } = await execute('02-compare-injection-variants.ipynb');
    const charts = chartsOf(outputs);
    expect(charts.map((c) => c.kind)).toEqual(['variant-comparison', 'variant-comparison', 'timing-diff']);
    for (const c of charts) checkChart(c);
    expect(charts[0].meta).toMatchObject({ variants: 3, failures: 1 });
    expect(charts[1].meta).toMatchObject({ variants: 9, failures: 4 });
    expect(charts[2].meta).toMatchObject({ variants: ['timeout 3 s · latency 0 ms', 'timeout 3 s · latency 100 ms', 'timeout 3 s · latency 600 ms'] });
    expect(streams).toContain('5 of 9 variants succeed');
    expect(streams).toMatch(/timeout 3 s · latency 600 ms: exit 1; poll 3\.0\d s; stream policy from seq \d+/);
    expect(html).toContain('Query result');
    expect(html).toMatch(/\d+ runs of payment-timeout/);
    expect(html).toContain('timeout env:PAYMENT_TIMEOUT_MS=3000 + latency tcp:*=');
  });

  it('runs notebook 03: a post-mortem with its timeline, causal graph, root cause and verified fix', async () => {
    const { outputs, html, streams } = await execute('03-post-mortem-template.ipynb');
    const charts = chartsOf(outputs);
    expect(charts.map((c) => c.kind)).toEqual(['timeline', 'causal-graph', 'outcome-matrix', 'timing-diff']);
    for (const c of charts) checkChart(c);
    expect(streams).toContain('outcome:  exit 1');
    expect(streams).toMatch(/tx-1: outgoing tcp:127\.0\.0\.1:\d+ — no answer after 2\d{3} ms/); // the 2 s poll timeout, however loaded the machine recording it
    expect(streams).toMatch(/^verified: /m);
    expect(html).toContain('reproduced: same syscalls, same output, same exit status');
    expect(html).toContain('1 row × 5 columns');
  });

  it('runs notebook 04: SQL over the event log, results as Arrow tables and charts', async () => {
    const { outputs, html, streams } = await execute('04-querying-the-event-log.ipynb');
    const charts = chartsOf(outputs);
    expect(charts.map((c) => c.kind)).toEqual(['table', 'table']);
    for (const c of charts) checkChart(c);
    expect(html).toContain('15 rows × 7 columns'); // DESCRIBE TABLE events
    expect(html).toContain('10 rows × 5 columns'); // the slowest calls
    expect(html).toContain('1 transaction in payment-timeout');
    expect(streams).toMatch(/10 rows; columns: seq \(Uint64\), name \(Utf8\), resource \(Utf8\), ret \(Int64\), duration_ms \(Float64\)/);
    expect(streams).toMatch(/the slowest call took 2\d{3}\.\d ms/); // the 2 s poll
    // The hostile id went as a parameter: the text has a placeholder, the count is 0.
    expect(streams).toContain("text: 'SELECT count() FROM events WHERE incident_id = {rb_p0:String}'");
    const counted = outputs.map((o) => text(o.data?.['text/plain'])).find((t) => t.includes('rows=0'));
    expect(counted).toBeDefined();
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
