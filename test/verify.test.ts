// Many runs and fix verification on the canonical payment incident, with real parts: recorded
// under ptrace into chDB on disk (provider answering after 2.5 s, client giving up after 2 s),
// replayed with injections and seeded jitter, the provider stopped.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { InjectionApplyError, parseInjection, timeout } from '../src/inject';
import { VEGALITE_MIME, manyRunsBundle, verdictBundle, type MimeBundle } from '../src/notebook/bundle';
import { replay, type RunResult } from '../src/replay/replay';
import { describeSuccess, runMany, runSeed, successTest, verifyFix, type RunSummary, type Verdict } from '../src/replay/verify';
import { openStore, type ChdbStore } from '../src/store';
import { renderChart } from '../src/viz/render';
import { outcomeMatrixSpec, variantComparisonSpec, variantRows } from '../src/viz/verdict';
import { decodePng, nonBackgroundPixels } from './helpers/png';
import { watchPort } from './helpers/replay-check';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-verify-'));
const ID = 'pay';
const OK = 'payment ok: OK txn=7781 amount=19.99\n';
const FAILED = 'payment failed: timeout\n';
let store: ChdbStore;
let providerPort = 0;

const t = (ms: number) => parseInjection('--timeout', `env:PAYMENT_TIMEOUT_MS=${ms}`);
/** What must be equal between two batches with the same seed (never wall times or run ids). */
const outcomes = (runs: RunSummary[]) => runs.map((r) => ({ index: r.index, seed: r.seed, status: r.status, success: r.success, stdout: r.stdout, policy: r.policy }));

beforeAll(async () => {
  store = await openStore(home);
  providerPort = (await recordPaymentIncident(store, ID)).providerPort;
});

afterAll(async () => {
  await store?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('verifyFix', () => {
  let first: Verdict;

  it('verifies a 5 s timeout: the failure reproduces, the fix prints the late answer, 10 jittered runs succeed', async () => {
    first = await verifyFix(ID, { injections: t(5000) }, { store, runs: 10, jitter: { ms: 300 }, seed: 42 });
    expect(first.verified).toBe(true);
    expect(first.reason).toBe(
      'verified: the recorded failure reproduces (exit 1), the fix succeeds (exit 0), and all 10 runs with up to 300 ms of jitter succeed (seed 42)',
    );
    expect(first.checks).toEqual({ baselineFails: true, fixSucceeds: true, jitteredSucceed: true });
    expect(first.baseline).toMatchObject({ label: 'baseline', reproduced: true, success: false, exitCode: 1, stdout: FAILED, policy: 'strict', seed: null });
    expect(first.fixed).toMatchObject({ label: 'fix', success: true, exitCode: 0, stdout: OK, policy: 'stream', seed: null });
    expect(first.jittered).toHaveLength(10);
    first.jittered.forEach((r, i) => {
      expect(r).toMatchObject({ index: i + 1, seed: runSeed(42, i + 1), jitterMs: 300, success: true, exitCode: 0, stdout: OK, policy: 'stream' });
    });
    expect(first.failedRuns).toEqual([]);
    expect(first.fix.description).toEqual(['environment variable PAYMENT_TIMEOUT_MS becomes 5000 (5 s)']);
    expect(first.success).toBe('exit status 0');
    // Plain data: what --json prints is the verdict itself.
    expect(JSON.parse(JSON.stringify(first))).toMatchObject({ verified: true, seed: 42, jitterMs: 300 });

    // Every run is stored with its seed and its injections.
    const stored = new Map((await store.runs(ID)).map((r) => [r.run_id, r]));
    for (const r of first.jittered) {
      expect(stored.get(r.runId)?.seed).toBe(r.seed);
      expect(JSON.parse(stored.get(r.runId)!.injections)).toEqual(t(5000));
    }
  });

  it('gives the same outcomes and output when run again with the same seed', async () => {
    const again = await verifyFix(ID, { injections: t(5000) }, { store, runs: 10, jitter: { ms: 300 }, seed: 42, ephemeral: true });
    expect(again.reason).toBe(first.reason);
    expect(outcomes(again.jittered)).toEqual(outcomes(first.jittered));
    expect(outcomes([again.baseline, again.fixed])).toEqual(outcomes([first.baseline, first.fixed]));
    expect(again.jittered.map((r) => r.stored)).toEqual(new Array(10).fill('not stored'));
  });

  it('does not verify a 2.6 s timeout against a 2.5 s answer with 300 ms of jitter, and names the failed runs', async () => {
    // Seed 4 is one for which this batch has both outcomes (not every seed does).
    const v = await verifyFix(ID, { injections: t(2600) }, { store, runs: 10, jitter: { ms: 300 }, seed: 4, ephemeral: true });
    const failed = v.jittered.filter((r) => !r.success);
    const succeeded = v.jittered.filter((r) => r.success);
    expect(failed.length).toBeGreaterThan(0);
    expect(succeeded.length).toBeGreaterThan(0);
    expect(v.verified).toBe(false);
    // Without jitter the answer (2.5 s) comes before the new timeout (2.6 s): the fix itself works.
    expect(v.checks).toEqual({ baselineFails: true, fixSucceeds: true, jitteredSucceed: false });
    expect(v.fixed.stdout).toBe(OK);
    for (const r of failed) expect(r).toMatchObject({ exitCode: 1, stdout: FAILED });
    for (const r of succeeded) expect(r).toMatchObject({ exitCode: 0, stdout: OK });
    const numbers = failed.map((r) => r.index);
    expect(v.failedRuns).toEqual(numbers);
    expect(v.reason).toBe(`not verified: ${numbers.length} of 10 jittered runs failed (runs ${numbers.join(', ')})`);
  });

  it('says why when the baseline does not fail or the fix does not help', async () => {
    // Per this predicate the recorded outcome is a success: nothing to fix.
    const v = await verifyFix(ID, { injections: t(5000) }, { store, runs: 1, seed: 1, success: { stdoutIncludes: 'payment' }, ephemeral: true });
    expect(v.verified).toBe(false);
    expect(v.checks.baselineFails).toBe(false);
    expect(v.reason).toBe(
      'not verified: the recorded outcome is not a failure (exit 1: payment failed: timeout meets stdout contains "payment"), so there is nothing to fix',
    );
    // A "fix" that keeps the 2 s timeout fails every run.
    const same = await verifyFix(ID, { injections: t(2000) }, { store, runs: 2, seed: 1, ephemeral: true });
    expect(same.verified).toBe(false);
    expect(same.reason).toBe('not verified: the fixed replay fails (exit 1: payment failed: timeout); 2 of 2 jittered runs failed (runs 1, 2)');
  });

  it('refuses a fix that cannot apply before anything runs', async () => {
    const before = (await store.runs(ID)).length;
    await expect(verifyFix(ID, {}, { store })).rejects.toThrow('verifyFix needs a fix');
    await expect(verifyFix(ID, { injections: parseInjection('--timeout', 'arg:--max-time=5') }, { store })).rejects.toBeInstanceOf(InjectionApplyError);
    await expect(verifyFix(ID, { binary: path.join(home, 'no-such-binary') }, { store })).rejects.toThrow('does not exist');
    await expect(verifyFix(ID, { injections: t(5000) }, { store, runs: -1 })).rejects.toThrow('number of runs');
    await expect(verifyFix(ID, { injections: t(5000) }, { store, seed: 1.5 })).rejects.toThrow('seed');
    expect((await store.runs(ID)).length).toBe(before);
  });

  it('contacts no one: with no network namespace, the provider port sees no connection', async () => {
    const listener = await watchPort(providerPort);
    try {
      const ok = await verifyFix(ID, { injections: t(5000) }, { store, runs: 10, seed: 9, isolateNetwork: false, ephemeral: true });
      const barely = await verifyFix(ID, { injections: t(2600) }, { store, runs: 10, seed: 4, isolateNetwork: false, ephemeral: true });
      expect(ok.verified).toBe(true);
      expect(barely.verified).toBe(false);
      expect(listener.contacts()).toBe(0);
    } finally {
      await listener.close();
    }
  });
});

describe('runMany', () => {
  it('is reproducible from its seed, and run i has the same seed whatever the batch size', async () => {
    const a = await runMany(ID, { store, runs: 6, jitter: { ms: 300 }, seed: 4, injections: t(2600), ephemeral: true });
    const b = await runMany(ID, { store, runs: 6, jitter: { ms: 300 }, seed: 4, injections: t(2600), ephemeral: true });
    expect(outcomes(b.runs)).toEqual(outcomes(a.runs));
    expect(a.runs.map((r) => r.seed)).toEqual([1, 2, 3, 4, 5, 6].map((i) => runSeed(4, i)));
    expect(a.failedRuns).toEqual(a.runs.filter((r) => !r.success).map((r) => r.index));
    expect(a.succeeded + a.failed).toBe(6);
    expect(a).toMatchObject({ kind: 'runs', incident: ID, seed: 4, jitterMs: 300, speed: 'max', success: 'exit status 0' });
    // The same seeds as verifyFix's jittered runs: the first 6 of the 2.6 s verification above.
    const v = await verifyFix(ID, { injections: t(2600) }, { store, runs: 6, seed: 4, ephemeral: true });
    expect(outcomes(v.jittered)).toEqual(outcomes(a.runs));
    // One run alone: replay() with that run's seed.
    for (const r of [a.runs.find((x) => x.success)!, a.runs.find((x) => !x.success)!]) {
      const alone = await replay(ID, { store, speed: 'max', ephemeral: true, injections: t(2600), jitter: { ms: 300, seed: r.seed! } });
      expect(alone.stdout.toString()).toBe(r.stdout);
    }
    // Another seed draws other delays.
    const c = await runMany(ID, { store, runs: 6, jitter: { ms: 300 }, seed: 5, injections: t(2600), ephemeral: true });
    expect(c.runs.map((r) => r.seed)).not.toEqual(a.runs.map((r) => r.seed));
  });

  it('derives run seeds from SHA-256 of "seed:i"', () => {
    expect(runSeed(42, 1)).toBe(runSeed(42, 1));
    expect(runSeed(42, 1)).not.toBe(runSeed(42, 2));
    expect(runSeed(42, 1)).toBe(require('node:crypto').createHash('sha256').update('42:1').digest().readUInt32BE(0));
    expect(runSeed(0, 1)).toBeGreaterThanOrEqual(0);
    expect(runSeed(0, 1)).toBeLessThan(2 ** 32);
  });

  it('reports progress before and after every run, and chooses a seed when none is given', async () => {
    const seen: string[] = [];
    const m = await runMany(ID, {
      store,
      runs: 2,
      ephemeral: true,
      onProgress: (p) => seen.push(`${p.stage} ${p.index}/${p.total} ${p.run ? p.run.status : 'start'}`),
    });
    expect(seen).toEqual(['run 1/2 start', 'run 1/2 exit 1', 'run 2/2 start', 'run 2/2 exit 1']);
    expect(Number.isSafeInteger(m.seed)).toBe(true);
    expect(m.jitterMs).toBe(0);
    expect(m.runs.every((r) => r.stdout === FAILED && r.reproduced && !r.success)).toBe(true);
  });

  it('counts success by the predicate: exit status, stdout text, or a function', async () => {
    const base = { store, runs: 1, ephemeral: true } as const;
    expect((await runMany(ID, base)).runs[0].success).toBe(false);
    expect((await runMany(ID, { ...base, success: { exitCode: 1 } })).runs[0].success).toBe(true);
    expect((await runMany(ID, { ...base, success: { stdoutIncludes: 'payment failed' } })).runs[0].success).toBe(true);
    expect((await runMany(ID, { ...base, success: { stdoutIncludes: 'payment ok' } })).runs[0].success).toBe(false);
    expect((await runMany(ID, { ...base, injections: t(5000), success: { stdoutIncludes: 'payment ok' } })).runs[0].success).toBe(true);
    const m = await runMany(ID, { ...base, success: (r: RunResult) => r.stdout.toString().includes('timeout') });
    expect(m.runs[0].success).toBe(true);
    expect(describeSuccess({ exitCode: 3 })).toBe('exit status 3');
    expect(describeSuccess({ stdoutIncludes: 'ok' })).toBe('stdout contains "ok"');
    expect(describeSuccess(function paid(r: RunResult) { return r.exitCode === 0; })).toBe('the test paid()');
    expect(() => successTest({ exit: 0 } as never)).toThrow('success must be');
  });

  it('does not count a run that diverged as a success, whatever it printed', async () => {
    const run = await replay(ID, { store, speed: 'max', ephemeral: true });
    const diverged: RunResult = { ...run, exitCode: 0, divergence: { seq: 3, tid: 1, reason: 'x', ip: 0n, expected: null, actual: { name: 'read', nr: 0, args: [], resource: '', data_in: Buffer.alloc(0) } } };
    expect(successTest(undefined)(diverged)).toBe(false);
    expect(successTest({ stdoutIncludes: 'payment' })(diverged)).toBe(false);
    expect(successTest((r) => r.exitCode === 0)(diverged)).toBe(true);
  });
});

describe('charts and tables of many runs', () => {
  let verdict: Verdict;

  beforeAll(async () => {
    verdict = await verifyFix(ID, { injections: t(2600) }, { store, runs: 10, seed: 4, ephemeral: true });
  });

  it('draws the outcome matrix of a verdict: one column per run, its outcome, seed and wall time', async () => {
    const spec = outcomeMatrixSpec(verdict);
    expect(spec.usermeta.replaybook).toEqual({
      chart: 'outcome-matrix',
      runs: 12,
      failures: verdict.failedRuns.length + 1, // the baseline fails, as it must
      unexpected: verdict.failedRuns.length,
      verified: false,
    });
    const outcomeRow = spec.data.values.filter((c) => c.row === 'outcome');
    expect(outcomeRow.map((c) => c.run)).toEqual(['baseline', 'fix', ...Array.from({ length: 10 }, (_, i) => String(i + 1))]);
    expect(outcomeRow.map((c) => c.fill)).toEqual([verdict.baseline, verdict.fixed, ...verdict.jittered].map((r) => (r.success ? 'success' : 'failure')));
    // The baseline's failure is what it must do; a failed jittered run is not.
    expect(outcomeRow[0].expected).toBe(true);
    for (const n of verdict.failedRuns) expect(outcomeRow[n + 1].expected).toBe(false);
    const seeds = spec.data.values.filter((c) => c.row === 'seed').map((c) => c.text);
    expect(seeds).toEqual(['–', '–', ...verdict.jittered.map((r) => String(r.seed))]);
    expect(JSON.stringify(spec.title)).toContain(verdict.reason);
    const png = decodePng((await renderChart(spec)).png);
    expect(png.width).toBeGreaterThan(600);
    expect(nonBackgroundPixels(png)).toBeGreaterThan(5000);
  });

  it('shows a verdict and a batch as HTML tables', async () => {
    const b = verdictBundle(verdict);
    const html = String(b['text/html']);
    expect(html).toContain(verdict.reason);
    expect(html.split('<tbody>')[1].split('<tr').length - 1).toBe(12);
    expect(html).toContain('environment variable PAYMENT_TIMEOUT_MS becomes 2600 (2.6 s)');
    expect(String(b['text/plain']).split('\n')[0]).toBe(`Verdict for ${ID}: ${verdict.reason}`);
    const m = await runMany(ID, { store, runs: 3, seed: 4, jitter: { ms: 300 }, injections: t(2600), ephemeral: true });
    const mb = manyRunsBundle(m);
    expect(String(mb['text/html']).split('<tbody>')[1].split('<tr').length - 1).toBe(3);
    expect(String(mb['text/plain'])).toContain(`3 runs of ${ID}`);
  });

  it('compares injection variants: outcome, the wait the program saw, wall time', async () => {
    const variants = [];
    for (const ms of [2000, 2600, 5000]) {
      variants.push({ label: `timeout ${ms} ms`, run: await replay(ID, { store, speed: 'max', ephemeral: true, injections: ms === 2000 ? [] : t(ms) }) });
    }
    variants.push({
      label: 'timeout 3 s, provider 1 s slower',
      run: await replay(ID, { store, speed: 'max', ephemeral: true, injections: [...t(3000), ...parseInjection('--latency', 'tcp:*:*=1000000')] }),
    });
    const recorded = await store.eventsTable(ID);
    const rows = variantRows(variants, { recorded });
    expect(rows.map((r) => [r.label, r.outcome, r.status])).toEqual([
      ['timeout 2000 ms', 'failure', 'exit 1'],
      ['timeout 2600 ms', 'success', 'exit 0'],
      ['timeout 5000 ms', 'success', 'exit 0'],
      ['timeout 3 s, provider 1 s slower', 'failure', 'exit 1'],
    ]);
    // The poll as the program saw it: the recorded 2 s timeout, the 2.5 s answer, a 3 s timeout.
    expect(rows.map((r) => r.wait_call)).toEqual(['poll', 'poll', 'poll', 'poll']);
    expect(rows[0]).toMatchObject({ wait_from: 'recording', policy: 'strict' });
    // Recorded times: a loaded machine adds to them, never takes away.
    expect(rows[0].wait_ms).toBeGreaterThanOrEqual(2000);
    expect(rows[0].wait_ms).toBeLessThan(2400);
    // The answer comes 2.5 s after the request was sent, and the poll starts a little after the
    // send: its wait is 2.5 s less that gap, which a loaded machine widens (2497.6 ms was seen).
    expect(rows[1].wait_ms).toBeGreaterThan(2400);
    expect(rows[1].wait_ms).toBeLessThan(2900);
    expect(rows[3].wait_ms).toBeCloseTo(3000, 0);
    const spec = variantComparisonSpec(variants, { recorded });
    expect(spec.usermeta.replaybook).toEqual({ chart: 'variant-comparison', variants: 4, failures: 2 });
    const png = decodePng((await renderChart(spec)).png);
    expect(nonBackgroundPixels(png)).toBeGreaterThan(3000);
  });
});

describe('in the notebook', () => {
  it('has runMany and verifyFix as globals; display(verdict) shows the table and the matrix chart', async () => {
    process.env.REPLAYBOOK_HOME = home;
    delete process.env.REPLAYBOOK_CLICKHOUSE_URL;
    const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: unknown };
    const sent: Array<{ data: MimeBundle; transient: { display_id?: string }; update: boolean }> = [];
    const saved = jupyter.lastWriteDisplayData;
    jupyter.lastWriteDisplayData = (msg: { data: MimeBundle; transient: { display_id?: string } }, update: boolean) => sent.push({ ...msg, update });
    const nb = await import('../src/notebook');
    const g = {} as Record<string, unknown>;
    try {
      nb.installGlobals(g as unknown as typeof globalThis, { kernel: true });
      expect(nb.GLOBAL_NAMES).toContain('runMany');
      expect(nb.GLOBAL_NAMES).toContain('verifyFix');
      // Every global is a function, except `widgets`: the namespace of the widget builders.
      for (const name of nb.GLOBAL_NAMES) expect(typeof g[name]).toBe(name === 'widgets' ? 'object' : 'function');
      expect(typeof (g.widgets as Record<string, unknown>).slider).toBe('function');

      const v = await nb.verifyFix(ID, timeout('env:PAYMENT_TIMEOUT_MS', 5000), { runs: 3, seed: 42 });
      expect(v.verified).toBe(true);
      // Progress: one output, rewritten in place after its first showing.
      const progress = sent.filter((m) => m.transient.display_id);
      expect(progress.length).toBe(10);
      expect(new Set(progress.map((m) => m.transient.display_id)).size).toBe(1);
      expect(progress.map((m) => m.update)).toEqual([false, ...new Array(9).fill(true)]);
      expect(String(progress[9].data['text/plain'])).toMatch(/^\[5\/5\] run 3\/3 \(seed \d+\): exit 0, success/);

      sent.length = 0;
      nb.display(v);
      expect(sent).toHaveLength(2);
      expect(String(sent[0].data['text/html'])).toContain(v.reason);
      expect(Object.keys(sent[1].data).sort()).toEqual([VEGALITE_MIME, 'image/png', 'text/html', 'text/plain'].sort());
      expect((sent[1].data[VEGALITE_MIME] as { usermeta: unknown }).usermeta).toEqual({ replaybook: { chart: 'outcome-matrix', runs: 5, failures: 1, unexpected: 0, verified: true } });
      expect(nonBackgroundPixels(decodePng(Buffer.from(String(sent[1].data['image/png']), 'base64')))).toBeGreaterThan(3000);
      // As a cell's value: one line.
      expect(require('node:util').inspect(v)).toBe(`Verdict(${ID}: ${v.reason})`);

      sent.length = 0;
      const m = await nb.runMany(ID, { runs: 2, seed: 1, jitter: { ms: 300 }, injections: t(5000) });
      sent.length = 0;
      nb.display(m);
      expect(sent).toHaveLength(2);
      expect(String(sent[0].data['text/plain'])).toContain('2 of 2 runs succeeded');
    } finally {
      jupyter.lastWriteDisplayData = saved;
      await (await nb.notebookStore()).close();
    }
  });
});
