// The notebook's display bundles: which MIME types a chart carries, that its PNG holds a drawing,
// that the vega scripts ride on the first chart only and work as inlined, that every table
// escapes what the service wrote, and that a large event log shows a bounded number of rows.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { Table } from 'apache-arrow';
import { beforeEach, describe, expect, it } from 'vitest';
import { ReplaybookError } from '../src/errors';
import type { EventRow } from '../src/events/schema';
import {
  VEGALITE_MIME,
  chartBundle,
  errorBundle,
  eventLogBundle,
  incidentsBundle,
  resetChartScripts,
  runBundle,
} from '../src/notebook/bundle';
import { escapeBytes, previewBytes } from '../src/notebook/html';
import type { Divergence, RunResult } from '../src/replay/replay';
import { REPRODUCED } from '../src/replay/describe';
import { timelineSpec } from '../src/viz/timeline';
import { decodePng } from './helpers/png';
import { eventBatch, incidentInfo } from './helpers/store-fixtures';

const CHART_KEYS = [VEGALITE_MIME, 'image/png', 'text/html', 'text/plain'].sort();
const EVIL = '<script>alert("owned")</script>';

function row(i: number, over: Partial<EventRow> = {}): EventRow {
  return {
    incident_id: 'inc-1',
    run_id: 'recording',
    seq: BigInt(i),
    pid: 100,
    tid: 100 + (i % 2),
    nr: 0,
    name: 'read',
    args: [0n, 0n, 0n, 0n, 0n, 0n],
    ret: 0n,
    enter_ns: 1_000_000_000n + BigInt(i) * 1_000_000n,
    dur_ns: 5_000n,
    resource: 'file:/etc/app.conf',
    data_in: new Uint8Array(0),
    data_out: new Uint8Array(0),
    kind: 'syscall',
    ...over,
  };
}

function table(rows: EventRow[], batchSize = 1000): Table {
  const batches = [eventBatch([])].slice(rows.length ? 1 : 0);
  for (let i = 0; i < rows.length; i += batchSize) batches.push(eventBatch(rows.slice(i, i + batchSize)));
  return new Table(batches);
}

const barSpec = (title = 'syscalls by name'): object => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title,
  width: 300,
  height: 120,
  data: {
    values: [
      { name: 'read', n: 40 },
      { name: 'write', n: 25 },
      { name: 'poll', n: 3 },
    ],
  },
  mark: 'bar',
  encoding: { x: { field: 'name', type: 'nominal' }, y: { field: 'n', type: 'quantitative' } },
});

/** The bodies of the <script> elements of an HTML fragment: the vega libraries', or the others. */
function scripts(html: string, libraries: boolean): string[] {
  return [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)]
    .filter((m) => m[1].includes('data-replaybook=') === libraries)
    .map((m) => m[2]);
}

const count = (s: string, sub: string): number => s.split(sub).length - 1;

describe('chartBundle', () => {
  beforeEach(() => resetChartScripts());

  it('carries vega-lite, PNG, HTML and text, never SVG, and the PNG holds the drawing', async () => {
    const b = await chartBundle(barSpec());
    expect(Object.keys(b).sort()).toEqual(CHART_KEYS);
    expect(Object.keys(b).some((k) => k.includes('svg'))).toBe(false);

    const spec = b[VEGALITE_MIME] as { mark: unknown; data: { values: unknown[] } };
    expect(spec.mark).toBe('bar');
    expect(spec.data.values).toHaveLength(3);

    const png = Buffer.from(b['image/png'] as string, 'base64');
    const { width, height, rgba } = decodePng(png);
    expect(width).toBeGreaterThan(300);
    expect(height).toBeGreaterThan(120);
    let ink = 0;
    let barBlue = 0;
    for (let i = 0; i < rgba.length; i += 4) {
      const [r, g, bl] = [rgba[i], rgba[i + 1], rgba[i + 2]];
      if (r < 200 || g < 200 || bl < 200) ink++;
      // vega's default bar colour #4c78a8
      if (Math.abs(r - 0x4c) < 8 && Math.abs(g - 0x78) < 8 && Math.abs(bl - 0xa8) < 8) barBlue++;
    }
    expect(ink / (width * height)).toBeGreaterThan(0.02);
    expect(barBlue).toBeGreaterThan(1000);

    // The HTML shows the same PNG as an <img>, sized as rendered.
    const html = b['text/html'] as string;
    expect(html).toContain(`src="data:image/png;base64,${b['image/png'] as string}"`);
    expect(html).toContain(`width="${width}" height="${height}"`);
    expect(b['text/plain']).toBe(`syscalls by name: bar chart, 3 data rows (${width}×${height} PNG)`);
    expect(b['text/plain']).not.toContain('\n');
  });

  it('renders a timeline spec of a real event table', async () => {
    const events = table(Array.from({ length: 50 }, (_, i) => row(i, { name: i % 7 ? 'read' : 'poll', ret: i === 21 ? -110n : 0n })));
    const b = await chartBundle(timelineSpec(events, { title: 'timeline' }), { title: 'Syscall timeline' });
    expect(Object.keys(b).sort()).toEqual(CHART_KEYS);
    expect((b[VEGALITE_MIME] as { data: { values: unknown[] } }).data.values.length).toBe(50);
    expect(b['text/plain']).toMatch(/^Syscall timeline: .*50 data rows/);
    decodePng(Buffer.from(b['image/png'] as string, 'base64'));
  });

  it('inlines the vega scripts in the first chart of a process only', async () => {
    const embedSource = fs.readFileSync(path.join(path.dirname(require.resolve('vega-embed')), 'vega-embed.min.js'), 'utf8');
    const marker = embedSource.slice(0, 200);
    const first = (await chartBundle(barSpec('first')))['text/html'] as string;
    const second = (await chartBundle(barSpec('second')))['text/html'] as string;
    const third = (await chartBundle(barSpec('third')))['text/html'] as string;
    expect(first).toContain(marker);
    expect(first).toContain('data-replaybook="vega"');
    expect(first).toContain('data-replaybook="vegaLite"');
    expect(first).toContain('data-replaybook="vegaEmbed"');
    for (const later of [second, third]) {
      expect(later).not.toContain(marker);
      expect(later).not.toContain('data-replaybook=');
      expect(later).toContain('window.vegaEmbed');
      expect(later.length * 20).toBeLessThan(first.length);
    }
    console.log(`chart HTML: first ${first.length} bytes, later ${second.length} bytes`);

    resetChartScripts();
    expect((await chartBundle(barSpec('again')))['text/html']).toContain(marker);
  });

  it('defines the globals once, hiding AMD define, and swaps the PNG for the interactive view', async () => {
    const first = (await chartBundle(barSpec('first')))['text/html'] as string;
    const second = (await chartBundle(barSpec('second')))['text/html'] as string;
    const imgs = new Map<string, { style: { display: string } }>();
    const views = new Map<string, { innerHTML: string }>();
    const embeds: Array<{ el: unknown; spec: { title: string }; opts: unknown }> = [];
    let amdCalls = 0;
    const define = Object.assign(() => amdCalls++, { amd: {} });
    const sandbox: Record<string, unknown> = {
      define,
      // what the UMD builds touch when they load, as a browser has it
      console,
      setTimeout,
      clearTimeout,
      setInterval,
      clearInterval,
      structuredClone,
      URL,
      TextEncoder,
      TextDecoder,
      document: {
        getElementById(id: string) {
          if (id.endsWith('-img')) return imgs.get(id) ?? imgs.set(id, { style: { display: '' } }).get(id);
          return views.get(id) ?? views.set(id, { innerHTML: '' }).get(id);
        },
      },
    };
    sandbox.window = sandbox;
    sandbox.self = sandbox;
    const ctx = vm.createContext(sandbox);
    const run = (html: string, libraries: boolean): void => {
      for (const s of scripts(html, libraries)) vm.runInContext(s, ctx);
    };

    run(first, true);
    expect(amdCalls).toBe(0);
    expect(sandbox.define).toBe(define);
    expect(typeof sandbox.vega).toBe('object');
    expect(typeof sandbox.vegaLite).toBe('object');
    expect(typeof sandbox.vegaEmbed).toBe('function');
    expect((sandbox.vegaLite as { version: string }).version).toBe('5.23.0');

    // A second copy of the library scripts (the first chart's output shown twice) changes nothing.
    const vega = sandbox.vega;
    const vegaEmbed = sandbox.vegaEmbed;
    run(first, true);
    expect(sandbox.vega).toBe(vega);
    expect(sandbox.vegaEmbed).toBe(vegaEmbed);

    // Each chart calls window.vegaEmbed with its spec; on success its PNG is hidden. (The real
    // vegaEmbed needs a DOM: record the calls instead.)
    sandbox.vegaEmbed = (el: unknown, spec: { title: string }, opts: unknown) => {
      embeds.push({ el, spec, opts });
      return Promise.resolve({});
    };
    run(first, false);
    run(second, false);
    await new Promise((r) => setTimeout(r, 10));
    expect(embeds.map((e) => e.spec.title)).toEqual(['first', 'second']);
    const last = embeds.at(-1)!;
    expect(last.spec.title).toBe('second');
    expect(last.opts).toEqual({ actions: false, renderer: 'svg' });
    const id = /id="(replaybook-chart-[0-9a-f]+)-img"/.exec(second)![1];
    expect(last.el).toBe(views.get(`${id}-view`));
    expect(imgs.get(`${id}-img`)!.style.display).toBe('none');
  });

  it('keeps a spec from closing its <script>', async () => {
    await chartBundle(barSpec()); // the scripts go out with this one
    const html = (await chartBundle(barSpec(`</script>${EVIL}<!--`)))['text/html'] as string;
    expect(count(html, '<script')).toBe(1);
    expect(scripts(html, false)).toHaveLength(1);
    expect(count(html, '</script>')).toBe(1);
    expect(html).not.toContain('alert("owned")</');
    // The title is still there for vega-embed, as JSON escapes.
    expect(html).toContain('\\u003c/script\\u003e');
    expect(html).toContain(`alt="&lt;/script&gt;&lt;script&gt;alert(&quot;owned&quot;)`);
  });
});

describe('incidentsBundle', () => {
  it('lists incidents in a table and escapes what they hold', () => {
    const list = [
      incidentInfo('inc-20250601-a', { event_count: 1234, exit_code: 1 }),
      incidentInfo(EVIL, { service: `svc${EVIL}`, exit_code: null, exit_signal: 'SIGKILL', event_count: 7, duration_ns: 1_500_000n }),
    ];
    const b = incidentsBundle(list);
    expect(Object.keys(b).sort()).toEqual(['text/html', 'text/plain']);
    const html = b['text/html'] as string;
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;');
    expect(html).toContain('2025-06-15T15:06:40.000Z');
    expect(html).toContain('exit 1');
    expect(html).toContain('killed by SIGKILL');
    expect(html).toContain('>1234<');
    expect(html).toContain('2.00 s');
    expect(html).toContain('1.5 ms');
    expect(count(html, '<tr')).toBe(3);
    const plain = b['text/plain'] as string;
    expect(plain.split('\n')[0]).toBe('2 incidents:');
    expect(plain).toContain('inc-20250601-a  payment-client  2025-06-15T15:06:40.000Z  exit 1  1234 events  2.00 s');
  });

  it('says so when there are none', () => {
    expect(incidentsBundle([])['text/plain']).toBe('No incidents recorded yet.');
  });
});

describe('eventLogBundle', () => {
  it('shows head and tail of a large log, the number left out, and counts over all of it', () => {
    const names = ['read', 'write', 'poll', 'openat'];
    const rows = Array.from({ length: 5000 }, (_, i) =>
      row(i, {
        name: i === 4000 ? 'SIGPIPE' : names[i % 4],
        kind: i === 4000 ? 'signal' : 'syscall',
        ret: i % 100 === 3 ? -110n : 1n,
        data_in: new Uint8Array(i % 3),
        data_out: new Uint8Array(i % 5),
      }),
    );
    const bytesIn = rows.reduce((s, r) => s + r.data_in.length, 0);
    const bytesOut = rows.reduce((s, r) => s + r.data_out.length, 0);
    const b = eventLogBundle(table(rows, 700));
    const html = b['text/html'] as string;
    const bodyRows = html.split('<tbody>')[1];
    expect(count(bodyRows, '<tr')).toBe(21);
    expect(html).toContain('… 4980 more events …');
    expect(html).toContain('>0<');
    expect(html).toContain('>4999<');
    expect(html).not.toContain('>10<');
    expect(html).not.toContain('>4989<');
    expect(html).toContain('>4990<');
    // time relative to the first event, the errno name on failures
    expect(html).toContain('>4999.000<');
    expect(html).toContain('-110 ETIMEDOUT');

    const plain = b['text/plain'] as string;
    expect(plain.startsWith('Events of inc-1: 5000 events (syscall 4999, signal 1)')).toBe(true);
    expect(plain).toContain('top syscalls: openat 1250, poll 1250, write 1250, read 1249');
    expect(plain).toContain('50 failed');
    expect(bytesIn).toBe(4999);
    expect(plain).toContain(`${(bytesIn / 1000).toFixed(1)} kB in, ${(bytesOut / 1000).toFixed(1)} kB out`);
    expect(plain.split('\n')).toHaveLength(1);
  });

  it('shows every row of a short log with no marker, and honours head/tail', () => {
    const t = table(Array.from({ length: 12 }, (_, i) => row(i)));
    const all = eventLogBundle(t, { title: 'short' })['text/html'] as string;
    expect(count(all.split('<tbody>')[1], '<tr')).toBe(12);
    expect(all).not.toContain('more events');
    const few = eventLogBundle(t, { head: 2, tail: 1 })['text/html'] as string;
    expect(count(few.split('<tbody>')[1], '<tr')).toBe(4);
    expect(few).toContain('… 9 more events …');
  });

  it('previews data as escaped text, binary as \\xNN', () => {
    const t = table([
      row(0, { data_in: new Uint8Array([0x00, 0xff, 0x41, 0x3c, 0x62, 0x3e, 0x0a]), resource: `file:/tmp/${EVIL}` }),
      row(1, { data_out: Buffer.from('caf\u00e9 \\ ok'), name: 'write' }),
      row(2, { data_out: new Uint8Array(500).fill(0x7a) }),
    ]);
    const html = eventLogBundle(t)['text/html'] as string;
    expect(html).not.toContain('<script');
    expect(html).toContain('\\x00\\xffA&lt;b&gt;\\n');
    expect(html).toContain('caf\u00e9 \\\\ ok');
    expect(html).toContain(`${'z'.repeat(60)}<span style="opacity:.6">… 500 B</span>`);
    expect(html).not.toContain('z'.repeat(61));
  });

  it('says so for an empty log', () => {
    expect(eventLogBundle(table([]), { title: 'nothing' })['text/plain']).toBe('nothing: no events');
  });
});

describe('byte previews', () => {
  it('escape control bytes, broken UTF-8 and invisible characters, and stop at the limit', () => {
    expect(previewBytes(new Uint8Array([0x00, 0xff, 0xc3, 0x28, 0x09]))).toBe('\\x00\\xff\\xc3(\\t');
    expect(previewBytes(Buffer.from('a\u202eb\u00e9'))).toBe('a\\u{202e}b\u00e9');
    expect(previewBytes(new Uint8Array(100).fill(0), 60)).toBe(`${'\\x00'.repeat(15)}…`);
    const e = escapeBytes(Buffer.from('line 1\nline 2\r\n'), 100, true);
    expect(e).toEqual({ text: 'line 1\nline 2\\r\n', bytes: 15, truncated: false });
  });
});

describe('runBundle', () => {
  const base = (over: Partial<RunResult> = {}): RunResult => ({
    incident: 'inc-1',
    runId: 'run-20250601T120000-abcdef',
    exitCode: 1,
    signal: null,
    stdout: Buffer.from('payment failed: timeout\n'),
    stderr: Buffer.alloc(0),
    events: 120,
    wallMs: 2004.5,
    speed: 1,
    divergence: null,
    batches: [],
    recorded: { exitCode: 1, signal: null, stdout: Buffer.from('payment failed: timeout\n'), stderr: Buffer.alloc(0) },
    reproduced: true,
    localExeChanged: false,
    warnings: [],
    stored: 'stored',
    policy: 'strict',
    switchedAt: null,
    injections: [],
    injectionReport: [],
    unrecorded: [],
    commandChanges: [],
    label: null,
    ...over,
  });

  it('gives the verdict line when the run reproduced the incident', () => {
    const b = runBundle(base());
    const html = b['text/html'] as string;
    expect(html).toContain(REPRODUCED);
    expect(html).toContain('exit 1 (recorded: exit 1)');
    expect(html).toContain('payment failed: timeout');
    expect(html).not.toContain('Divergence');
    expect(b['text/plain']).toBe(
      `Replay run-20250601T120000-abcdef of inc-1: ${REPRODUCED}\n  exit 1 (recorded: exit 1) · 120 events · 2.00 s at 1× · stored`,
    );
  });

  it('shows where a run diverged, expected against actual, and escapes outputs', () => {
    const divergence: Divergence = {
      seq: 41,
      tid: 4243,
      reason: 'different syscall',
      ip: 0x401000n,
      expected: { name: 'write', nr: 1, args: [], resource: 'tcp:127.0.0.1:9000', data_in: Buffer.from('POST /pay\r\n') },
      actual: { name: 'openat', nr: 257, args: [], resource: 'file:/etc/retry.conf', data_in: Buffer.from([0x2f, 0x65, 0x00, 0xff]) },
    };
    const b = runBundle(
      base({
        divergence,
        reproduced: false,
        exitCode: null,
        signal: 'SIGSEGV',
        stdout: Buffer.from(`</pre>${EVIL}`),
      }),
    );
    const html = b['text/html'] as string;
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;/pre&gt;&lt;script&gt;');
    expect(html).toContain('not reproduced: diverged at seq 41 (tid 4243): different syscall; killed by SIGSEGV, recorded exit 1; stdout differs');
    expect(html).toContain('Divergence</b> at seq 41, tid 4243: different syscall');
    const divTable = html.slice(html.indexOf('Divergence'));
    expect(divTable).toMatch(/expected<\/td>.*>41<.*>4243<.*>write<.*tcp:127\.0\.0\.1:9000.*POST \/pay\\r\\n/);
    expect(divTable).toMatch(/actual<\/td>.*>openat<.*file:\/etc\/retry\.conf.*\/e\\x00\\xff/);
    expect(html).toContain('recorded stdout');
    expect(b['text/plain']).toContain('expected write tcp:127.0.0.1:9000 "POST /pay\\r\\n", got openat file:/etc/retry.conf "/e\\x00\\xff"');
  });

  it('copes with a divergence past the end of the log', () => {
    const html = runBundle(
      base({
        reproduced: false,
        divergence: { seq: 120, tid: 1, reason: 'the log has ended', ip: 0n, expected: null, actual: { name: 'exit_group', nr: 231, args: [], resource: '', data_in: Buffer.alloc(0) } },
      }),
    )['text/html'] as string;
    expect(html).toContain('nothing (the log had no call here)');
    expect(html).toContain('exit_group');
  });
});

describe('errorBundle', () => {
  it('shows one message, no stack', () => {
    const err = new ReplaybookError('unknown_incident', `unknown incident '${EVIL}'`);
    const b = errorBundle(err);
    const html = b['text/html'] as string;
    expect(html).not.toContain('<script');
    expect(html).not.toContain('at ');
    expect(html).toContain('unknown incident &#39;&lt;script&gt;');
    expect(b['text/plain']).toBe(`replaybook: unknown incident '${EVIL}'`);
    expect(errorBundle(new TypeError('x is not a function'))['text/plain']).toBe('TypeError: x is not a function');
  });
});
