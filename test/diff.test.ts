// Timing differences across runs: how calls are paired (by resource stream and order, then by
// thread and order), which timing a strict run at speed max is shown with, the chart, and the
// real payment incident replayed with a longer timeout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import type { EventRow } from '../src/events/schema';
import { latency, timeout } from '../src/inject';
import { replay, type RunResult } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { renderChart } from '../src/viz/render';
import { alignEvents, timingDiff, timingDiffSpec, type DiffInput } from '../src/viz/diff';
import { decodePng, nonBackgroundPixels } from './helpers/png';
import { eventBatch } from './helpers/store-fixtures';

type Ev = Partial<EventRow> & { name: string };
const ms = (x: number): bigint => BigInt(Math.round(x * 1e6));

/** An event table from calls in seq order; start/dur in ms. */
function table(calls: Array<Ev & { at?: number; took?: number }>, run = 'recording'): Table {
  const rows: EventRow[] = calls.map((c, i) => ({
    incident_id: 'inc',
    run_id: run,
    seq: BigInt(i),
    pid: 100,
    tid: 100,
    nr: 0,
    args: [0n, 0n, 0n, 0n, 0n, 0n],
    ret: 0n,
    enter_ns: ms(c.at ?? i),
    dur_ns: ms(c.took ?? 0.01),
    resource: '',
    data_in: new Uint8Array(0),
    data_out: new Uint8Array(0),
    kind: 'syscall',
    ...c,
  }));
  return new Table([eventBatch(rows)]);
}

const TCP = 'tcp:10.0.0.5:9000';

/** The payment client's calls, roughly: the poll lasts `pollMs` and returns `ready`. */
function payment(o: { pollMs: number; ready: boolean; pollResource?: string; tid?: number }): Array<Ev & { at?: number; took?: number }> {
  const tid = o.tid ?? 100;
  const calls: Array<Ev & { at?: number; took?: number }> = [
    { name: 'execve', resource: 'file:/srv/payment-client', at: 0, took: 0.4, tid },
    { name: 'getrandom', ret: 8n, at: 1, tid },
    { name: 'socket', resource: 'socket:tcp', ret: 3n, at: 1.5, tid },
    { name: 'connect', resource: TCP, at: 2, took: 0.1, tid },
    { name: 'write', resource: TCP, ret: 49n, data_in: Buffer.from('CHARGE order=42\n'), at: 2.2, tid },
    { name: 'clock_gettime', at: 2.3, tid },
    { name: 'poll', resource: o.pollResource ?? '', ret: o.ready ? 1n : 0n, at: 2.4, took: o.pollMs, tid },
  ];
  let t = 2.4 + o.pollMs;
  if (o.ready) calls.push({ name: 'read', resource: TCP, ret: 25n, at: t, tid });
  else calls.push({ name: 'clock_gettime', at: t, tid });
  t += 0.1;
  calls.push({ name: 'close', resource: TCP, at: t, tid });
  calls.push({ name: 'write', resource: 'stdout', ret: 20n, data_in: Buffer.from(o.ready ? 'payment ok\n' : 'payment failed\n'), at: t + 0.1, tid });
  calls.push({ name: 'exit', kind: 'exit', ret: o.ready ? 0n : 1n, at: t + 0.2, tid });
  return calls;
}

describe('pairing calls', () => {
  it('pairs identical runs one to one, with no difference', () => {
    const t = table(payment({ pollMs: 2000, ready: false }));
    const d = timingDiff({ label: 'a', events: t }, [{ label: 'b', events: t }]);
    const v = d.variants[0];
    expect(v).toMatchObject({ matched: 11, onlyBaseline: 0, onlyVariant: 0, changed: 0, firstDifference: null, switchPoint: null, endDeltaMs: 0 });
    expect(d.rows.every((r) => r.status === 'matched' && r.dur_delta_ms === 0 && r.start_delta_ms === 0)).toBe(true);
    expect(alignEvents(t, t).map((p) => [p.base, p.variant])).toEqual(Array.from({ length: 11 }, (_, i) => [i, i]));
  });

  it('pairs by stream and order, then by thread for calls without a resource, and keeps the rest apart', () => {
    // The baseline's poll has no resource (as recorded); the variant's names its socket (as a
    // stream-policy run does): they still pair, through the thread.
    const base = table(payment({ pollMs: 2000, ready: false }));
    const variant = table(payment({ pollMs: 2500, ready: true, pollResource: TCP }));
    const pairs = alignEvents(base, variant);
    const byName = (name: string) => pairs.filter((p) => p.name === name);
    expect(byName('poll')).toEqual([{ base: 6, variant: 6, name: 'poll' }]);
    // The first clock read pairs; the second (after the poll, baseline only) has no partner.
    expect(byName('clock_gettime')).toEqual([
      { base: 5, variant: 5, name: 'clock_gettime' },
      { base: 7, variant: null, name: 'clock_gettime' },
    ]);
    // The read exists in the variant only, placed after the call it follows (the poll).
    const readAt = pairs.findIndex((p) => p.name === 'read');
    expect(pairs[readAt]).toEqual({ base: null, variant: 7, name: 'read' });
    expect(pairs[readAt - 1].name).toBe('poll');
    expect(byName('write')).toEqual([
      { base: 4, variant: 4, name: 'write' },
      { base: 9, variant: 9, name: 'write' },
    ]);

    const d = timingDiff({ label: 'recording', events: base }, [{ label: 'timeout 5 s', events: variant, outcome: 'exit 0' }]);
    const v = d.variants[0];
    expect(v).toMatchObject({ matched: 10, onlyBaseline: 1, onlyVariant: 1, outcome: 'exit 0' });
    expect(v.biggest).toMatchObject({ name: 'poll', deltaMs: 500, baseMs: 2000, varMs: 2500 });
    expect(v.firstDifference).toMatchObject({ seq: 6, name: 'poll', why: 'poll returned 1 (baseline 0)' });
    expect(v.endDeltaMs).toBeCloseTo(500, 3);
    const close = d.rows.find((r) => r.name === 'close');
    expect(close).toMatchObject({ status: 'matched', start_delta_ms: 500, dur_delta_ms: 0 });
    // stdout: the same call, other bytes.
    expect(d.rows.find((r) => r.stream === 'stdout')).toMatchObject({ changed: true, base_ret: '20', var_ret: '20' });
  });

  it('pairs threads by order of appearance, whatever their ids', () => {
    const a = table([...payment({ pollMs: 10, ready: true, tid: 100 }), { name: 'futex', at: 20, tid: 101 }, { name: 'futex', at: 21, tid: 101 }]);
    const b = table([...payment({ pollMs: 10, ready: true, tid: 500 }), { name: 'futex', at: 20, tid: 501 }, { name: 'futex', at: 25, tid: 501 }]);
    const d = timingDiff({ label: 'a', events: a }, [{ label: 'b', events: b }]);
    expect(d.variants[0]).toMatchObject({ matched: 13, onlyBaseline: 0, onlyVariant: 0 });
    expect(d.rows.filter((r) => r.name === 'futex').map((r) => [r.stream, r.start_delta_ms])).toEqual([
      ['thread 2', 0],
      ['thread 2', 4],
    ]);
  });

  it('leaves late data out, and refuses two runs with one label', () => {
    const withLate = table([...payment({ pollMs: 2000, ready: false }), { name: 'late_data', kind: 'late_data', resource: TCP, ret: 25n, at: 2600 }]);
    const d = timingDiff({ label: 'a', events: withLate }, [{ label: 'b', events: table(payment({ pollMs: 2000, ready: false })) }]);
    expect(d.baseline.events).toBe(11);
    expect(d.variants[0].onlyBaseline).toBe(0);
    expect(() => timingDiff({ label: 'x', events: withLate }, [{ label: 'x', events: withLate }])).toThrow(/labelled 'x'/);
  });

  it('shows a strict run at speed max with the recorded timing, up to where it switched', () => {
    const recorded = table(payment({ pollMs: 2000, ready: false }));
    // At max speed the strict calls took no time and started whenever the replay got to them;
    // from seq 6 (the switch) the run carries the virtual clock.
    const run = payment({ pollMs: 2500, ready: true, pollResource: TCP }).map((c, i) => (i < 6 ? { ...c, at: 0.001 * i, took: 0 } : c));
    const input: DiffInput = { label: 'fix', events: table(run, 'run-1'), recorded, speed: 'max', switchSeq: 6, outcome: 'exit 0' };
    const d = timingDiff({ label: 'recording', events: recorded }, [input]);
    const v = d.variants[0];
    expect(v.recordedTiming).toBe(6);
    expect(d.rows.filter((r) => r.var_seq !== null && r.var_seq < 6).every((r) => r.dur_delta_ms === 0 && r.start_delta_ms === 0)).toBe(true);
    expect(v.switchPoint).toMatchObject({ seq: 6, name: 'poll', why: 'stream policy from seq 6', pos: 6 });
    expect(v.biggest).toMatchObject({ name: 'poll', deltaMs: 500 });

    // A stored run does not say where it switched: the first call at exactly its recorded time
    // is where the virtual clock starts.
    const stored = timingDiff({ label: 'recording', events: recorded }, [{ ...input, switchSeq: null }]);
    expect(stored.variants[0].recordedTiming).toBe(6);
    expect(stored.variants[0].biggest).toMatchObject({ name: 'poll', deltaMs: 500 });

    // At 1x the run's own timing stands.
    const real = timingDiff({ label: 'recording', events: recorded }, [{ ...input, speed: 1 }]);
    expect(real.variants[0].recordedTiming).toBe(0);
    expect(real.rows.find((r) => r.name === 'execve')?.dur_delta_ms).toBeCloseTo(-0.4, 6);
  });
});

describe('timing-difference chart', () => {
  it('has the marks, the data and the switch points, and draws them', async () => {
    const base = table(payment({ pollMs: 2000, ready: false }));
    const d = timingDiff({ label: 'recording', events: base }, [
      { label: 'timeout 5 s', events: table(payment({ pollMs: 2500, ready: true, pollResource: TCP })), switchSeq: 6 },
      { label: 'timeout 3 s + 500 ms', events: table(payment({ pollMs: 3000, ready: false })), switchSeq: 3 },
    ]);
    const spec = timingDiffSpec(d);
    expect(spec.usermeta.replaybook).toMatchObject({ chart: 'timing-diff', baseline: 'recording', variants: ['timeout 5 s', 'timeout 3 s + 500 ms'], sampled: false });
    expect(spec.data.values.length).toBe(d.rows.length);
    const panels = spec.vconcat as Array<{ layer: Array<{ mark: { type: string }; data?: { values: Array<Record<string, unknown>> } }> }>;
    expect(panels).toHaveLength(2);
    expect(panels[0].layer.map((l) => l.mark.type)).toEqual(['rule', 'rule', 'point', 'text', 'rule', 'text']);
    const rules = panels[0].layer[4].data?.values ?? [];
    expect(rules.map((r) => [r.variant, r.pos])).toEqual([
      ['timeout 5 s', 6],
      ['timeout 3 s + 500 ms', 3],
    ]);
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
    const { svg, png } = await renderChart(spec);
    expect(svg).toContain('poll +500 ms');
    expect(svg).toContain('stream policy from seq 6');
    const img = decodePng(png);
    expect(img.width).toBeGreaterThan(700);
    expect(nonBackgroundPixels(img)).toBeGreaterThan(5000);
  });

  it('charts empty runs without failing', async () => {
    const empty = table([]);
    const d = timingDiff({ label: 'a', events: empty }, [{ label: 'b', events: empty }]);
    expect(d.variants[0]).toMatchObject({ matched: 0, firstDifference: null, biggest: null, endDeltaMs: 0 });
    expect((await renderChart(timingDiffSpec(d))).png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('keeps a large comparison small: the changed calls and a sample', async () => {
    const n = 30_000;
    const calls = (shift: number): Array<Ev & { at?: number; took?: number }> =>
      Array.from({ length: n }, (_, i) => ({ name: i % 3 ? 'read' : 'write', resource: `file:/data/${i % 7}`, at: i * 0.1 + (i > n / 2 ? shift : 0), took: i === 20_000 ? 50 + shift : 0.01, tid: 100 + (i % 4) }));
    const d = timingDiff({ label: 'a', events: table(calls(0)) }, [{ label: 'b', events: table(calls(25)) }]);
    expect(d.rows).toHaveLength(n);
    const spec = timingDiffSpec(d, { maxRows: 3000 });
    expect(spec.usermeta.replaybook.sampled).toBe(true);
    expect(spec.data.values.length).toBeLessThanOrEqual(3000);
    expect(spec.data.values.some((r) => r.base_seq === 20_000)).toBe(true);
    const { png } = await renderChart(spec);
    expect(nonBackgroundPixels(decodePng(png))).toBeGreaterThan(3000);
  });
});

describe('the payment incident, replayed with other timeouts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-diff-'));
  let store: ChdbStore;
  let recorded: Table;
  let fix: RunResult;
  let slower: RunResult;
  let plain: RunResult;

  beforeAll(async () => {
    store = await openStore(dir);
    await recordPaymentIncident(store, 'pay');
    recorded = await store.eventsTable('pay');
    plain = await replay('pay', { store, speed: 'max' });
    fix = await replay('pay', { store, speed: 'max', injections: [timeout('env:PAYMENT_TIMEOUT_MS', 5000)] });
    slower = await replay('pay', { store, speed: 'max', injections: [timeout('env:PAYMENT_TIMEOUT_MS', 3000), latency('tcp:*', 600_000)] });
  }, 60_000);
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const input = (label: string, r: RunResult): DiffInput => ({
    label,
    events: new Table(r.batches),
    recorded,
    speed: r.speed,
    switchSeq: r.switchedAt?.seq ?? null,
    divergenceSeq: r.divergence?.seq ?? null,
    outcome: `exit ${r.exitCode}`,
  });

  it('pairs the poll and shows the fix waiting half a second longer and reading the answer', () => {
    const d = timingDiff({ label: 'recording', events: recorded }, [input('replay', plain), input('timeout 5 s', fix), input('3 s + 600 ms', slower)]);
    const [same, five, three] = d.variants;
    // A plain replay at max speed follows the log: recorded timing everywhere, nothing differs.
    expect(same).toMatchObject({ onlyBaseline: 0, onlyVariant: 0, changed: 0, firstDifference: null, switchPoint: null, endDeltaMs: 0 });
    expect(same.recordedTiming).toBe(same.events);

    const pollSeq = Number(
      Array.from({ length: recorded.numRows }, (_, i) => recorded.get(i)).find((r) => r?.name === 'poll')?.seq,
    );
    expect(five.switchPoint).toMatchObject({ seq: pollSeq, name: 'poll' });
    expect(five.firstDifference).toMatchObject({ seq: pollSeq, name: 'poll' });
    expect(five.biggest?.name).toBe('poll');
    // The provider answered 2.5 s after the request; the client gave up at 2 s (both recorded
    // times, which a loaded machine can stretch by some tens of milliseconds).
    expect(five.biggest?.deltaMs).toBeGreaterThan(300);
    expect(five.biggest?.deltaMs).toBeLessThan(800);
    const read = d.rows.find((r) => r.variant === 'timeout 5 s' && r.name === 'read' && r.stream.startsWith('tcp:'));
    expect(read).toMatchObject({ status: 'only variant' });
    expect(five.endDeltaMs).toBeGreaterThan(300);

    // 2.5 s + 600 ms of latency against a 3 s deadline: the poll waits the whole 3 s and times out
    // again (with 500 ms the answer would land within a millisecond of the deadline).
    expect(three.outcome).toBe('exit 1');
    expect(three.biggest?.varMs).toBeGreaterThan(2900);
    expect(three.switchPoint?.seq).toBeLessThan(pollSeq);
  });
});
