// What display() shows for query results, divergences, paused replays, stored runs, comparisons
// and transactions: tables that escape what the service wrote, bounded for large results.
import { Table, tableFromArrays } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import type { Transaction } from '../src/analysis/transactions';
import { timeout } from '../src/inject';
import {
  arrowTableBundle,
  comparisonBundle,
  divergenceBundle,
  isDivergence,
  isSessionState,
  sessionStateBundle,
  storedRunsBundle,
  transactionsBundle,
} from '../src/notebook/bundle';
import { injectionsLabel, storedRun } from '../src/notebook/runs';
import type { Divergence } from '../src/replay/replay';
import type { SessionState } from '../src/replay/session';
import { timingDiff } from '../src/viz/diff';
import { eventBatch, runInfo, syntheticEvents } from './helpers/store-fixtures';

const EVIL = '<script>alert("owned")</script>';
const count = (s: string, sub: string): number => s.split(sub).length - 1;
const html = (b: Record<string, string | object>): string => String(b['text/html']);

describe('query results', () => {
  it('shows the shape, head and tail, the column types, and escapes the values', () => {
    const n = 100;
    const t = tableFromArrays({
      name: Array.from({ length: n }, (_, i) => (i === 0 ? EVIL : `call ${i}`)),
      total_ms: Float64Array.from({ length: n }, (_, i) => i / 3),
      calls: BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 10n ** 15n),
    });
    const b = arrowTableBundle(t, { title: 'per call' });
    const h = html(b);
    expect(h).toContain('100 rows × 3 columns');
    expect(h).toContain('… 80 more rows …');
    expect(count(h.split('<tbody>')[1], '<tr')).toBe(21);
    expect(h).not.toContain('<script>');
    expect(h).toContain('&lt;script&gt;');
    expect(h).toContain('99000000000000000'); // bigints exactly
    expect(h).toContain('columns: name Dictionary&lt;Int32, Utf8&gt;, total_ms Float64, calls Int64');
    expect(String(b['text/plain']).split('\n')[0]).toBe('per call: 100 rows × 3 columns');
  });

  it('says so for an empty result, and shows event tables as event logs', () => {
    expect(arrowTableBundle(tableFromArrays({ a: Int32Array.from([]) }))['text/plain']).toBe('Query result: 0 rows × 1 column');
    const events = new Table([eventBatch(syntheticEvents('inc-1', 30))]);
    expect(String(arrowTableBundle(events)['text/plain'])).toMatch(/^Events of inc-1: 30 events/);
  });
});

describe('a divergence and a paused replay', () => {
  const d: Divergence = {
    seq: 34,
    tid: 4242,
    reason: 'poll argument 3 differs: recorded 2000, now 5000',
    ip: 0x401234n,
    expected: { name: 'poll', nr: 7, args: [1n, 1n, 2000n], resource: 'tcp:10.0.0.5:9000', data_in: Buffer.from(EVIL) },
    actual: { name: 'poll', nr: 7, args: [1n, 1n, 5000n], resource: 'tcp:10.0.0.5:9000', data_in: Buffer.from('') },
  };

  it('shows where a run left the log, expected against actual', () => {
    expect(isDivergence(d)).toBe(true);
    expect(isDivergence({ seq: 1 })).toBe(false);
    const b = divergenceBundle(d);
    const h = html(b);
    expect(h).toContain('diverged at seq 34 (thread 4242): poll argument 3 differs');
    expect(h).toContain('expected (the log)');
    expect(h).toContain('1, 1, 5000');
    expect(h).not.toContain('<script>');
    expect(h).toContain('0x401234');
    expect(b['text/plain']).toBe('Divergence at seq 34 (tid 4242): poll argument 3 differs: recorded 2000, now 5000; expected poll tcp:10.0.0.5:9000, got poll tcp:10.0.0.5:9000');
    expect(divergenceBundle({ ...d, expected: null })['text/plain']).toContain('expected nothing');
  });

  it('shows the next call with its arguments, the virtual clock, threads and registers', () => {
    const s: SessionState = {
      paused: true,
      seq: 34,
      served: 34,
      speed: 'max',
      virtualNs: 2_200_901n,
      next: { name: 'poll', tid: 4242, resource: '', args: [0x7fffffffe6f0n, 1n, 2000n] },
      threads: [{ tid: 4242, realTid: 9639, state: 'waiting_turn' }],
      registers: { rip: 0x401000n, rsp: 0x7fffffffe6b8n, rax: 7n },
    };
    expect(isSessionState(s)).toBe(true);
    expect(isSessionState({ ...s, virtualNs: 1 })).toBe(false);
    const b = sessionStateBundle(s);
    expect(b['text/plain']).toBe('next: poll(0x7fffffffe6f0, 1, 2000) in thread 4242 (seq 34 · 34 events served · virtual clock 2.2 ms · paused · speed max)');
    const h = html(b);
    expect(h).toContain('waiting_turn');
    expect(h).toContain('0x401000');
    expect(sessionStateBundle({ ...s, next: null, threads: [], registers: null })['text/plain']).toMatch(/^the replay has ended/);
  });
});

describe('stored runs', () => {
  const fix = timeout('env:PAYMENT_TIMEOUT_MS', 5000);
  const labelled = timeout('env:PAYMENT_TIMEOUT_MS', 3000, { label: 'three-seconds' });

  it('reads a runs row: injections, their labels, seed, outcome', () => {
    const r = storedRun(runInfo('inc-1', 'run-a', { injections: JSON.stringify([fix]), seed: 7, exit_code: 0, label: '' }));
    expect(r).toMatchObject({ runId: 'run-a', seed: 7, outcome: 'exit 0', label: 'timeout env:PAYMENT_TIMEOUT_MS=5000 · jitter seed 7', divergedAt: null });
    expect(r.changes).toEqual(['environment variable PAYMENT_TIMEOUT_MS becomes 5000 (5 s)']);
    expect(r.stdout).toBe('ok\u0000\ufffd\n');
    expect(injectionsLabel([labelled, fix])).toBe('three-seconds + timeout env:PAYMENT_TIMEOUT_MS=5000');
    expect(injectionsLabel([])).toBe('replay');
    // A name given to the run wins over what was changed.
    expect(storedRun(runInfo('inc-1', 'run-n', { injections: JSON.stringify([fix]), label: 'timeout 5 s' })).label).toBe('timeout 5 s');
    const diverged = storedRun(runInfo('inc-1', 'run-b', { injections: '[]', seed: 0, label: '', divergence: JSON.stringify({ type: 'divergence', seq: 12 }) }));
    expect(diverged).toMatchObject({ outcome: 'diverged at seq 12', divergedAt: 12, label: 'replay' });
    expect(storedRun(runInfo('inc-1', 'run-c', { injections: 'not json' })).injections).toEqual([]);
  });

  it('lists them in a table with a count per outcome', () => {
    const list = [
      storedRun(runInfo('inc-1', 'run-a', { injections: '[]', exit_code: 1 })),
      storedRun(runInfo('inc-1', 'run-b', { injections: JSON.stringify([fix]), exit_code: 0, stdout: Buffer.from(EVIL) })),
      storedRun(runInfo('inc-1', 'run-c', { injections: JSON.stringify([fix]), exit_code: 0 })),
    ];
    const b = storedRunsBundle('inc-1', list);
    expect(b['text/plain']).toBe('3 runs of inc-1: 1 exit 1, 2 exit 0');
    const h = html(b);
    expect(count(h.split('<tbody>')[1], '<tr')).toBe(3);
    expect(h).not.toContain('<script>');
    expect(storedRunsBundle('inc-1', [])['text/plain']).toBe('no runs of inc-1');
  });
});

describe('comparisons and transactions', () => {
  it('shows one row per variant against the baseline', () => {
    const base = new Table([eventBatch(syntheticEvents('inc-1', 20))]);
    const other = new Table([eventBatch(syntheticEvents('inc-1', 18, 2))]);
    const b = comparisonBundle(timingDiff({ label: 'recording', events: base, outcome: 'exit 1' }, [{ label: EVIL, events: other, outcome: 'exit 0', switchSeq: 3 }]));
    const h = html(b);
    expect(h).toContain('baseline: recording (exit 1), 20 calls');
    expect(h).toContain('stream policy from seq 3');
    expect(h).not.toContain('<script>');
    expect(String(b['text/plain']).split('\n')).toHaveLength(2);
  });

  it('lists transactions with how to open one', () => {
    const tx: Transaction = {
      id: 'tx-1',
      kind: 'outgoing',
      resource: 'tcp:10.0.0.5:9000',
      pid: 1,
      tid: 1,
      fd: 3,
      firstSeq: 30,
      lastSeq: 36,
      startNs: 1_900_000n,
      endNs: 2_004_000_000n,
      bytesSent: 49,
      bytesReceived: 0,
      request: EVIL,
      response: '',
      outcome: 'no answer',
      events: 5,
    };
    const b = transactionsBundle('pay', [tx]);
    expect(b['text/plain']).toBe('1 transaction in pay: tx-1 outgoing tcp:10.0.0.5:9000 (no answer)');
    expect(html(b)).toContain('session(&#39;pay&#39;, { at: &#39;tx-1&#39; })');
    // Each transaction offers the call that opens the replay panel there.
    expect(html(b)).toContain('open in replay');
    expect(html(b)).toContain('panel(&quot;pay&quot;, { at: &#39;tx-1&#39; })');
    expect(html(b)).not.toContain('<script>');
  });
});
