// The timeline chart: its spec from an Arrow event table, its rendering to SVG and PNG, the
// binning that keeps a large log's chart small, and charts of query results.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePng } from './helpers/png';
import { makeData, RecordBatch, Struct, Table, tableFromArrays, vectorFromArray } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { eventSchema, type EventRow } from '../src/events/schema';
import { CLASS_COLORS, FAILURE_COLOR, syscallClass } from '../src/viz/classes';
import { renderChart, writeChart } from '../src/viz/render';
import { timelineSpec, type TimelineSpec } from '../src/viz/timeline';
import { fieldType, plotSpec } from '../src/viz/plot';

type Ev = Pick<EventRow, 'tid' | 'name'> & Partial<EventRow>;

/** An Arrow table with exactly the event schema. */
function eventTable(events: Ev[]): Table {
  const rows: EventRow[] = events.map((e, i) => ({
    incident_id: 'inc-test',
    run_id: 'recording',
    seq: BigInt(i),
    pid: 100,
    nr: 0,
    args: [0n, 0n, 0n, 0n, 0n, 0n],
    ret: 0n,
    enter_ns: 0n,
    dur_ns: 1000n,
    resource: '',
    data_in: new Uint8Array(0),
    data_out: new Uint8Array(0),
    kind: 'syscall',
    ...e,
  }));
  const children = eventSchema.fields.map((f) => {
    const values = rows.map((r) => r[f.name as keyof EventRow]);
    return vectorFromArray(values as never, f.type).data[0];
  });
  const data = makeData({ type: new Struct(eventSchema.fields), length: rows.length, nullCount: 0, children });
  return new Table(eventSchema, new RecordBatch(eventSchema, data));
}

/** Set to a directory to keep the rendered charts for a look. */
const KEEP_CHARTS = process.env.REPLAYBOOK_CHART_DIR;

const ms = (x: number): bigint => BigInt(Math.round(x * 1e6));

/** The canonical incident, roughly: start-up, a request, a 2 s poll that times out, the exit. */
function incidentEvents(): Ev[] {
  const ev: Ev[] = [];
  let t = 0;
  const call = (name: string, durMs: number, extra: Partial<EventRow> = {}, tid = 100): void => {
    ev.push({ tid, name, enter_ns: ms(t), dur_ns: ms(durMs), ...extra });
    t += durMs + 0.02;
  };
  call('execve', 0.4, { resource: 'file:/usr/bin/payment-client' });
  call('brk', 0.002);
  call('mmap', 0.003);
  call('access', 0.004, { ret: -2n, resource: 'file:/etc/ld.so.preload' });
  call('openat', 0.005, { ret: 3n, resource: 'file:/etc/ld.so.cache' });
  call('fstat', 0.002, { resource: 'file:/etc/ld.so.cache' });
  call('mmap', 0.003);
  call('close', 0.001, { resource: 'file:/etc/ld.so.cache' });
  call('openat', 0.006, { ret: 3n, resource: 'file:/lib/x86_64-linux-gnu/libc.so.6' });
  call('read', 0.003, { ret: 832n, resource: 'file:/lib/x86_64-linux-gnu/libc.so.6' });
  for (let i = 0; i < 6; i++) call(i % 2 ? 'mprotect' : 'mmap', 0.003);
  call('close', 0.001, { resource: 'file:/lib/x86_64-linux-gnu/libc.so.6' });
  call('arch_prctl', 0.001);
  call('set_tid_address', 0.001);
  call('set_robust_list', 0.001);
  call('rseq', 0.001);
  call('prlimit64', 0.001);
  call('clone3', 0.05, { ret: 101n });
  call('getrandom', 0.004, { ret: 8n });
  call('socket', 0.01, { ret: 3n, resource: 'tcp:127.0.0.1:9000' });
  call('connect', 0.08, { resource: 'tcp:127.0.0.1:9000' });
  call('write', 0.02, { ret: 49n, resource: 'tcp:127.0.0.1:9000' });
  call('clock_gettime', 0.001);
  const pollAt = t;
  call('poll', 2000.1, { ret: 0n, resource: 'tcp:127.0.0.1:9000' });
  call('clock_gettime', 0.001);
  call('close', 0.01, { resource: 'tcp:127.0.0.1:9000' });
  call('write', 0.01, { ret: 24n, resource: 'stdout' });
  call('exit_group', 0.01, { kind: 'exit' });
  // A helper thread waiting on a futex and reading its config meanwhile.
  for (let i = 0; i < 10; i++) {
    const at = pollAt + 100 + i * 180;
    ev.push({ tid: 101, name: 'futex', enter_ns: ms(at), dur_ns: ms(150), ret: i === 9 ? -110n : 0n });
    ev.push({ tid: 101, name: 'openat', enter_ns: ms(at + 160), dur_ns: ms(0.01), ret: -2n, resource: 'file:/etc/payment.conf' });
  }
  ev.sort((a, b) => Number((a.enter_ns ?? 0n) - (b.enter_ns ?? 0n)));
  return ev;
}

function countColor(img: { rgba: Uint8Array }, hex: string, tolerance = 10): number {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  let n = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    const px = img.rgba;
    if (Math.abs(px[i] - r) <= tolerance && Math.abs(px[i + 1] - g) <= tolerance && Math.abs(px[i + 2] - b) <= tolerance) n++;
  }
  return n;
}

describe('syscall classes', () => {
  it('classifies by name, and fd-generic calls by their resource', () => {
    expect(syscallClass('openat')).toBe('file');
    expect(syscallClass('connect')).toBe('network');
    expect(syscallClass('clock_gettime')).toBe('time');
    expect(syscallClass('clone3')).toBe('process');
    expect(syscallClass('mmap')).toBe('memory');
    expect(syscallClass('getrandom')).toBe('other');
    expect(syscallClass('read', 'tcp:10.0.0.5:443')).toBe('network');
    expect(syscallClass('read', 'file:/etc/app.conf')).toBe('file');
    expect(syscallClass('write', 'stdout')).toBe('file');
    expect(syscallClass('poll', '')).toBe('network');
    expect(syscallClass('SIGTERM', '', 'signal')).toBe('process');
    expect(syscallClass('frobnicate')).toBe('other');
  });
});

describe('timeline chart', () => {
  const events = incidentEvents();
  const table = eventTable(events);

  it('builds the table with the event schema', () => {
    expect(table.numRows).toBe(events.length);
    expect(table.numRows).toBeGreaterThanOrEqual(45);
    expect(table.schema.fields.map((f) => f.name)).toEqual(eventSchema.fields.map((f) => f.name));
  });

  it('has one row per event, one lane per thread, and the marks', () => {
    const spec = timelineSpec(table, { title: 'payment-client' });
    const rows = spec.data.values;
    expect(rows).toHaveLength(events.length);
    expect(new Set(rows.map((r) => r.lane))).toEqual(new Set(['100', '101']));
    expect(spec.usermeta.replaybook).toMatchObject({ events: events.length, rows: events.length, lanes: ['100', '101'], binned: false });
    const layer = spec.layer as Array<{ mark: { type: string } }>;
    expect(layer.map((l) => l.mark.type)).toEqual(['rect', 'point', 'text']);
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec); // plain JSON: no bigints, no classes

    // The 2 s poll stands out: labelled, and far longer than anything else on its thread.
    const poll = rows.find((r) => r.name === 'poll');
    expect(poll).toMatchObject({ cls: 'network', resource: 'tcp:127.0.0.1:9000', ret: '0', dur_ms: 2000.1, failed: false });
    expect(poll?.label).toMatch(/^poll = 0 · 2\.00 s$/);
    // Failures carry errno names; the shortest call still gets a visible width.
    const enoent = rows.find((r) => r.name === 'access');
    expect(enoent).toMatchObject({ failed: true, ret: '-2 ENOENT', cls: 'file' });
    const tiny = rows.find((r) => r.name === 'brk');
    expect(tiny && tiny.x2_ms - tiny.start_ms).toBeGreaterThan(tiny?.dur_ms ?? 0);
    expect(rows.find((r) => r.name === 'futex' && r.failed)?.ret).toBe('-110 ETIMEDOUT');
  });

  it('renders to SVG and a PNG with visible bars, failure marks and labels', async () => {
    const spec = timelineSpec(table, { title: 'payment-client' });
    const { svg, png } = await renderChart(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('payment-client');
    expect(svg).toContain('poll = 0');
    const img = decodePng(png);
    expect(img.width).toBeGreaterThan(700);
    expect(img.height).toBeGreaterThan(100);
    let ink = 0;
    for (let i = 0; i < img.rgba.length; i += 4) if (img.rgba[i] < 240 || img.rgba[i + 1] < 240 || img.rgba[i + 2] < 240) ink++;
    expect(ink).toBeGreaterThan(5000);
    expect(countColor(img, CLASS_COLORS.network)).toBeGreaterThan(1000); // the 2 s poll bar
    expect(countColor(img, FAILURE_COLOR)).toBeGreaterThan(20); // failure markers

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'replaybook-viz-'));
    const out = await writeChart(spec, path.join(dir, 'charts', 'timeline'));
    expect(out.specPath).toBe(path.join(dir, 'charts', 'timeline.vl.json'));
    expect(JSON.parse(await fs.readFile(out.specPath, 'utf8'))).toEqual(spec);
    expect((await fs.readFile(out.pngPath)).subarray(1, 4).toString()).toBe('PNG');
    await fs.rm(dir, { recursive: true, force: true });
    if (KEEP_CHARTS) await writeChart(spec, path.join(KEEP_CHARTS, 'timeline-incident'));
  });

  it('bins a large log, keeping the long calls and failures as events', async () => {
    const big: Ev[] = [];
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const names = ['read', 'write', 'clock_gettime', 'futex', 'openat', 'mmap', 'sendto', 'recvfrom'];
    for (let i = 0; i < 20000; i++) {
      const tid = 200 + (i % 4);
      const name = names[Math.floor(rand() * names.length)];
      big.push({
        tid,
        pid: 200,
        name,
        enter_ns: BigInt(i) * 250_000n,
        dur_ns: BigInt(1000 + Math.floor(rand() * 20000)),
        ret: i % 997 === 0 ? -11n : 0n,
        resource: name === 'read' || name === 'write' ? 'file:/var/log/app.log' : '',
      });
    }
    big[12345] = { ...big[12345], name: 'epoll_wait', dur_ns: 1_500_000_000n, resource: 'tcp:10.0.0.5:443' };
    const spec: TimelineSpec = timelineSpec(eventTable(big));
    const meta = spec.usermeta.replaybook;
    expect(meta.binned).toBe(true);
    expect(meta.events).toBe(20000);
    expect(meta.lanes).toEqual(['200', '201', '202', '203']);
    const rows = spec.data.values;
    expect(rows.length).toBeLessThan(5000);
    expect(rows.length).toBe(meta.rows);
    // Every event is accounted for, once.
    expect(rows.reduce((s, r) => s + r.n, 0)).toBe(20000);
    const longCall = rows.find((r) => r.name === 'epoll_wait');
    expect(longCall).toMatchObject({ n: 1, dur_ms: 1500, seq: 12345, cls: 'network' });
    expect(longCall?.label).toContain('epoll_wait');
    expect(rows.filter((r) => r.n === 1 && r.failed).length).toBe(Math.floor(19999 / 997) + 1);
    expect(JSON.stringify(spec).length).toBeLessThan(2_000_000);
    // A click on a row jumps to first_seq: an event's own seq; a bin's first event, one of its lane
    // inside its interval.
    for (const r of rows) {
      if (r.seq !== null) {
        expect(r.first_seq).toBe(r.seq);
        continue;
      }
      const ev = big[r.first_seq];
      expect(String(ev.tid)).toBe(r.lane);
      const ms = Number(ev.enter_ns) / 1e6;
      expect(ms).toBeGreaterThanOrEqual(r.start_ms - 0.001);
      expect(ms).toBeLessThan(r.end_ms + 0.001);
    }

    if (KEEP_CHARTS) await writeChart(spec, path.join(KEEP_CHARTS, 'timeline-binned'));
    const img = decodePng((await renderChart(spec)).png);
    expect(countColor(img, CLASS_COLORS.file, 40)).toBeGreaterThan(500);
  });

  it('keeps a 100k-event run within its row budget, every event counted once', async () => {
    const n = 100_000;
    const big: Ev[] = [];
    for (let i = 0; i < n; i++) {
      big.push({
        tid: 10 + (i % 8),
        pid: 10,
        name: ['read', 'write', 'clock_gettime', 'futex', 'sendto', 'recvfrom', 'mmap', 'openat'][i % 8],
        enter_ns: BigInt(i) * 100_000n,
        dur_ns: BigInt(1000 + ((i * 7919) % 50_000)),
        ret: i % 1000 === 0 ? -11n : 1n,
        resource: i % 3 ? 'tcp:10.0.0.1:443' : 'file:/var/log/app.log',
      });
    }
    const spec = timelineSpec(eventTable(big));
    const meta = spec.usermeta.replaybook;
    expect(meta).toMatchObject({ events: n, binned: true });
    expect(meta.rows).toBeLessThan(5000);
    expect(spec.data.values.reduce((s, r) => s + r.n, 0)).toBe(n);
    expect(spec.data.values.filter((r) => r.n === 1 && r.failed).length).toBe(100);
    expect(JSON.stringify(spec).length).toBeLessThan(2_000_000);
    const img = decodePng((await renderChart(spec)).png);
    expect(countColor(img, CLASS_COLORS.network, 40)).toBeGreaterThan(2000);
  });

  it('gives the busiest threads a lane each and the quieter ones a shared lane', () => {
    const ev: Ev[] = [];
    for (let t = 0; t < 300; t++) {
      // Thread 1000 + t makes 300 - t calls: the first threads are the busiest.
      for (let k = 0; k < 300 - t; k++) ev.push({ tid: 1000 + t, name: 'futex', enter_ns: BigInt(k * 1000 + t) * 1000n, dur_ns: 500n });
    }
    ev.sort((a, b) => Number((a.enter_ns ?? 0n) - (b.enter_ns ?? 0n)));
    const spec = timelineSpec(eventTable(ev), { maxLanes: 25, maxRows: 2000 });
    const lanes = spec.usermeta.replaybook.lanes;
    expect(lanes).toHaveLength(25);
    expect(lanes.slice(0, 3)).toEqual(['1000', '1001', '1002']);
    expect(lanes[24]).toBe('276 other threads');
    expect(spec.usermeta.replaybook.rows).toBeLessThanOrEqual(2000);
    expect(spec.data.values.reduce((s, r) => s + r.n, 0)).toBe(ev.length);
    expect((spec.title as { subtitle: string }).subtitle).toContain('276 quieter threads share the last lane');
  });

  it('charts an empty table without failing', async () => {
    const spec = timelineSpec(eventTable([]));
    expect(spec.data.values).toEqual([]);
    const { png } = await renderChart(spec);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });
});

describe('charts of query results', () => {
  const t = tableFromArrays({
    name: ['poll', 'read', 'write'],
    total_ms: Float64Array.from([2001.9, 0.4, 0.1]),
    calls: BigInt64Array.from([1n, 12n, 3n]),
  });

  it('takes the field types from the Arrow schema and sorts bars by value', () => {
    const spec = plotSpec(t, { x: 'total_ms', y: 'name' });
    expect(spec.data.values).toEqual([
      { name: 'poll', total_ms: 2001.9, calls: 1 },
      { name: 'read', total_ms: 0.4, calls: 12 },
      { name: 'write', total_ms: 0.1, calls: 3 },
    ]);
    const enc = spec.encoding as Record<string, { type: string; sort?: unknown }>;
    expect(enc.x).toMatchObject({ field: 'total_ms', type: 'quantitative' });
    expect(enc.y).toMatchObject({ field: 'name', type: 'nominal', sort: '-x' });
    expect(fieldType(t, 'calls')).toBe('quantitative');
    expect(() => plotSpec(t, { x: 'nope', y: 'name' })).toThrow(/no column 'nope'/);
  });

  it('draws them', async () => {
    const { png } = await renderChart(plotSpec(t, { x: 'name', y: 'calls', mark: 'bar', title: 'calls' }));
    expect(countColor(decodePng(png), '#4e79a7')).toBeGreaterThan(1000);
  });
});
