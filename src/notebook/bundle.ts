// Display bundles for the notebook: what a chart, an incident list, an event log, a replay run or
// an error looks like in Jupyter. Each is one MIME bundle that shows everywhere (DESIGN.md, "The
// notebook"): charts as vega-lite JSON + PNG + HTML (the PNG as an <img>, replaced by an
// interactive vega-embed view where scripts run), never SVG; tables as inline-styled HTML; and a
// short text/plain line for consoles and logs.
import { randomBytes } from 'node:crypto';
import { DataType, type Table, type Vector } from 'apache-arrow';
import { ReplaybookError } from '../errors';
import type { IncidentInfo } from '../events/schema';
import type { Transaction } from '../analysis/transactions';
import type { Divergence, DivergentCall, RunResult } from '../replay/replay';
import type { SessionState } from '../replay/session';
import type { Frame, FrameVariables, ThreadFrames } from '../replay/inspect';
import type { TimingDiff } from '../viz/diff';
import { formatBytes, formatDeltaMs, formatDuration, formatMs } from '../format';
import type { StoredRun } from './runs';
import type { ManyRuns, RunSummary, Verdict } from '../replay/verify';
import { EXE_CHANGED, exitStatus, fixDescription, jitterText, runList, runVerdict } from '../replay/describe';
import { formatRet } from '../viz/classes';
import { renderChart } from '../viz/render';
import { vegaScriptTags } from '../viz/scripts';
import { frontendMimeTypes } from '../widgets/frontend';
import { escapeHtml, jsonForScript } from '../escape';
import { MONO, escapeBytes, note, previewBytes, section, table, text, type Cell } from './html';

/** MIME type -> data; binary data as base64 strings, as Jupyter wants. */
export type MimeBundle = Record<string, string | object>;

export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

// ---------------------------------------------------------------------------------------------
// Charts

let scriptsSent = false;

/** Forget that this process already sent the vega scripts (for tests and fresh notebooks). */
export function resetChartScripts(): void {
  scriptsSent = false;
}

function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

function specTitle(spec: Record<string, unknown>): string | null {
  const t = spec.title;
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { text?: unknown }).text === 'string') return (t as { text: string }).text;
  return null;
}

function specShape(spec: Record<string, unknown>): string {
  const mark = spec.mark;
  const markName = typeof mark === 'string' ? mark : mark && typeof mark === 'object' ? String((mark as { type?: unknown }).type) : null;
  const kind = markName ?? (spec.layer ? 'layered' : spec.hconcat || spec.vconcat || spec.concat ? 'concatenated' : spec.facet ? 'faceted' : 'vega-lite');
  const values = (spec.data as { values?: unknown } | undefined)?.values;
  return Array.isArray(values) ? `${kind} chart, ${values.length} data rows` : `${kind} chart`;
}

/**
 * One chart as one display bundle: the vega-lite spec, its PNG, HTML with the PNG as an <img>
 * plus an interactive vega-embed view that replaces it where scripts run, and a one-line text.
 * The first chart of a process carries the vega scripts; later ones use what it defined. In a
 * front end that draws vega-lite itself, the spec, the PNG and the text (see below).
 */
export async function chartBundle(spec: object, opts: { title?: string } = {}): Promise<MimeBundle> {
  const plain = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
  const { png } = await renderChart(plain);
  const pngB64 = png.toString('base64');
  const { width, height } = pngSize(png);
  const title = opts.title ?? specTitle(plain) ?? 'chart';
  const line = `${title}: ${specShape(plain)} (${width}×${height} PNG)`;
  // A front end with its own vega-lite renderer (JupyterLab 4, Notebook 7: @jupyterlab/vega5-extension)
  // ranks text/html above it (50 against 57), so it would show the HTML: where the front end
  // said it renders the spec (widgets' frontendMimeTypes), the bundle leaves the HTML out and
  // the front end draws the spec. The PNG stays for Notebook 6 and exports, which have no
  // vega-lite 5 renderer.
  if (frontendMimeTypes()?.includes(VEGALITE_MIME)) return { [VEGALITE_MIME]: plain, 'image/png': pngB64, 'text/plain': line };
  const id = `replaybook-chart-${randomBytes(6).toString('hex')}`;

  let html =
    `<div class="replaybook-chart" style="max-width:100%;overflow-x:auto">` +
    `<img id="${id}-img" src="data:image/png;base64,${pngB64}" width="${width}" height="${height}" ` +
    `style="max-width:100%;height:auto" alt="${escapeHtml(title)}">` +
    `<div id="${id}-view"></div>`;
  const scripts = vegaScriptTags();
  if (scripts !== null) {
    if (!scriptsSent) {
      html += scripts;
      scriptsSent = true;
    }
    // Waits a little for the view element and vegaEmbed (an output may be attached after its
    // scripts run); on success the interactive view replaces the PNG, on failure the PNG stays.
    html +=
      `<script>(function(){var spec=${jsonForScript(plain)};var n=0;function show(){` +
      `var el=document.getElementById('${id}-view'),img=document.getElementById('${id}-img');` +
      `if(!el||typeof window.vegaEmbed!=='function'){if(++n<50)setTimeout(show,100);return;}` +
      `function fail(e){el.innerHTML='';if(window.console)console.warn('replaybook chart:',e);}` +
      `try{window.vegaEmbed(el,spec,{actions:false,renderer:'svg'}).then(function(){if(img)img.style.display='none';},fail);}` +
      `catch(e){fail(e);}}show();})();</script>`;
  }
  html += `</div>`;

  return {
    [VEGALITE_MIME]: plain,
    'image/png': pngB64,
    'text/html': html,
    'text/plain': line,
  };
}

/**
 * A chart as a picture only (PNG, and HTML holding it), for an output redrawn while work runs:
 * the vega scripts and the interactive view go with the final chart, the one that stays.
 */
export async function livePreviewBundle(spec: object, line: string): Promise<MimeBundle> {
  const { png } = await renderChart(JSON.parse(JSON.stringify(spec)) as object);
  const pngB64 = png.toString('base64');
  const { width, height } = pngSize(png);
  return {
    'image/png': pngB64,
    'text/html': `<div class="replaybook-chart" style="max-width:100%;overflow-x:auto"><img src="data:image/png;base64,${pngB64}" width="${width}" height="${height}" style="max-width:100%;height:auto" alt="${escapeHtml(line)}"></div>`,
    'text/plain': line,
  };
}

// ---------------------------------------------------------------------------------------------
// Incidents

function isoOfNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ns) : d.toISOString();
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The incident list as a table: id, service, start, outcome, events, duration. */
export function incidentsBundle(list: IncidentInfo[]): MimeBundle {
  if (list.length === 0) {
    return {
      'text/html': section(null, note('No incidents recorded yet.')),
      'text/plain': 'No incidents recorded yet.',
    };
  }
  const rows: Cell[][] = list.map((i) => [
    text(i.incident_id, { mono: true }),
    text(i.service),
    text(isoOfNs(i.started_at_ns), { style: 'white-space:nowrap' }),
    text(incidentOutcome(i), { style: 'white-space:nowrap' }),
    text(i.event_count, { num: true }),
    text(formatDuration(i.duration_ns), { num: true }),
  ]);
  const html = section(
    plural(list.length, 'incident'),
    table(['id', 'service', 'started', 'outcome', { text: 'events', num: true }, { text: 'duration', num: true }], rows),
  );
  const SHOWN = 20;
  const lines = list
    .slice(0, SHOWN)
    .map((i) => `  ${i.incident_id}  ${i.service}  ${isoOfNs(i.started_at_ns)}  ${incidentOutcome(i)}  ${i.event_count} events  ${formatDuration(i.duration_ns)}`);
  if (list.length > SHOWN) lines.push(`  … ${list.length - SHOWN} more`);
  return { 'text/html': html, 'text/plain': [`${plural(list.length, 'incident')}:`, ...lines].join('\n') };
}

// ---------------------------------------------------------------------------------------------
// Event logs

const decoder = new TextDecoder();

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return decoder.decode(v);
  return v == null ? '' : String(v);
}

function asBytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  return new Uint8Array(0);
}

function asBig(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  return 0n;
}

/** Total length of a variable-width column, from its offsets when it has them. */
function totalBytes(v: Vector | null): number {
  if (!v) return 0;
  let total = 0;
  for (const d of v.data) {
    const offs = d.valueOffsets as ArrayLike<number | bigint> | undefined;
    if (!offs || offs.length <= d.length) {
      total = 0;
      for (const x of v) total += asBytes(x).length;
      return total;
    }
    total += Number(offs[d.length]) - Number(offs[0]);
  }
  return total;
}

/** Smallest value of an integer column, or 0n. */
function minBig(v: Vector | null): bigint {
  if (!v || v.length === 0) return 0n;
  let min: bigint | null = null;
  for (const d of v.data) {
    const vals = d.values as ArrayLike<bigint | number>;
    for (let i = 0; i < d.length; i++) {
      const x = asBig(vals[i]);
      if (min === null || x < min) min = x;
    }
  }
  return min ?? 0n;
}

export interface EventCounts {
  total: number;
  byKind: Array<[string, number]>;
  /** Syscall names by count, most frequent first. */
  bySyscall: Array<[string, number]>;
  /** Syscalls that returned an error (-4095..-1). */
  failed: number;
  /** Bytes handed to the kernel (data_in) and returned by it (data_out). */
  bytesIn: number;
  bytesOut: number;
  startNs: bigint;
}

const sortCounts = (m: Map<string, number>): Array<[string, number]> =>
  [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));

/**
 * A text column as small integer codes plus the distinct strings, decoding each distinct value
 * once: a log has millions of rows but a few dozen syscall names. Works on the raw offsets and
 * bytes of Utf8/Binary chunks; other layouts go through the values.
 */
function encodeText(v: Vector | null, n: number, fallback: string): { codes: Int32Array; values: string[] } {
  const codes = new Int32Array(n);
  const values: string[] = [];
  if (!v) {
    values.push(fallback);
    return { codes, values };
  }
  const byText = new Map<string, number>();
  const code = (s: string): number => {
    let c = byText.get(s);
    if (c === undefined) {
      c = values.length;
      values.push(s);
      byText.set(s, c);
    }
    return c;
  };
  // Distinct byte strings by hash, each with the bytes it stands for.
  const byHash = new Map<number, Array<{ bytes: Uint8Array; code: number }>>();
  let row = 0;
  for (const d of v.data) {
    const offs = d.valueOffsets as Int32Array | undefined;
    const bytes = d.values as Uint8Array | undefined;
    if (!(offs instanceof Int32Array) || !(bytes instanceof Uint8Array) || d.nullCount > 0) {
      for (let i = 0; i < d.length; i++, row++) codes[row] = code(asText(v.get(row)) || fallback);
      continue;
    }
    for (let i = 0; i < d.length; i++) {
      const a = offs[i];
      const b = offs[i + 1];
      let h = 0x811c9dc5 ^ (b - a);
      for (let k = a; k < b; k++) h = Math.imul(h ^ bytes[k], 0x01000193);
      let bucket = byHash.get(h);
      let found = -1;
      if (bucket) {
        for (const e of bucket) {
          if (e.bytes.length !== b - a) continue;
          let same = true;
          for (let k = 0; k < e.bytes.length; k++) {
            if (e.bytes[k] !== bytes[a + k]) {
              same = false;
              break;
            }
          }
          if (same) {
            found = e.code;
            break;
          }
        }
      } else byHash.set(h, (bucket = []));
      if (found < 0) {
        const slice = bytes.slice(a, b);
        found = code(decoder.decode(slice) || fallback);
        bucket.push({ bytes: slice, code: found });
      }
      codes[row++] = found;
    }
  }
  return { codes, values };
}

/** Counts over a whole event table, column by column, without building row objects. */
export function eventCounts(events: Table): EventCounts {
  const n = events.numRows;
  const kinds = encodeText(events.getChild('kind') as Vector | null, n, 'syscall');
  const names = encodeText(events.getChild('name') as Vector | null, n, '');
  const kindN = new Float64Array(kinds.values.length);
  const nameN = new Float64Array(names.values.length);
  const syscallCode = kinds.values.indexOf('syscall');
  let failed = 0;
  let row = 0;
  const retV = events.getChild('ret') as Vector | null;
  const retChunks = retV ? retV.data.map((d) => ({ length: d.length, values: d.values as ArrayLike<bigint | number> })) : [{ length: n, values: null }];
  for (const chunk of retChunks) {
    for (let i = 0; i < chunk.length; i++, row++) {
      const k = kinds.codes[row];
      kindN[k]++;
      if (k !== syscallCode) continue;
      nameN[names.codes[row]]++;
      if (chunk.values) {
        const ret = chunk.values[i];
        if (ret < 0 && ret >= -4095) failed++;
      }
    }
  }
  const tally = (values: string[], counts: Float64Array): Map<string, number> => {
    const m = new Map<string, number>();
    values.forEach((s, i) => {
      if (counts[i] > 0) m.set(s, (m.get(s) ?? 0) + counts[i]);
    });
    return m;
  };
  return {
    total: n,
    byKind: sortCounts(tally(kinds.values, kindN)),
    bySyscall: sortCounts(tally(names.values, nameN)),
    failed,
    bytesIn: totalBytes(events.getChild('data_in') as Vector | null),
    bytesOut: totalBytes(events.getChild('data_out') as Vector | null),
    startNs: minBig(events.getChild('enter_ns') as Vector | null),
  };
}

const TOP_SYSCALLS = 8;

function countsLine(c: EventCounts): string {
  const kinds = c.byKind.map(([k, n]) => `${k} ${n}`).join(', ');
  const top = c.bySyscall
    .slice(0, TOP_SYSCALLS)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return (
    `${plural(c.total, 'event')}${kinds ? ` (${kinds})` : ''}` +
    `${top ? `; top syscalls: ${top}` : ''}` +
    `; ${c.failed} failed; ${formatBytes(c.bytesIn)} in, ${formatBytes(c.bytesOut)} out`
  );
}

/** The shown rows of an event log: row indexes, with null where the `… N more events …` row goes. */
function shownRows(n: number, head: number, tail: number): Array<number | null> {
  if (n <= head + tail) return Array.from({ length: n }, (_, i) => i);
  const rows: Array<number | null> = [];
  for (let i = 0; i < head; i++) rows.push(i);
  rows.push(null);
  for (let i = n - tail; i < n; i++) rows.push(i);
  return rows;
}

function bytesCell(data: Uint8Array): Cell {
  if (data.length === 0) return { html: '' };
  const e = escapeBytes(data, 60);
  const more = e.truncated ? `<span style="opacity:.6">… ${escapeHtml(formatBytes(data.length))}</span>` : '';
  return { html: `${escapeHtml(e.text)}${more}`, mono: true, style: 'white-space:pre' };
}

/**
 * An event log: its counts, and its first `head` and last `tail` rows (default 10 + 10) with the
 * number of rows left out between them. Only the shown rows are read as values.
 */
export function eventLogBundle(events: Table, opts: { title?: string; head?: number; tail?: number } = {}): MimeBundle {
  const head = Math.max(0, Math.floor(opts.head ?? 10));
  const tail = Math.max(0, Math.floor(opts.tail ?? 10));
  const n = events.numRows;
  const col = (name: string): Vector | null => events.getChild(name) as Vector | null;
  const get = (name: string, i: number): unknown => col(name)?.get(i);

  let title = opts.title;
  if (title === undefined) {
    const incident = n > 0 ? asText(get('incident_id', 0)) : '';
    const run = n > 0 ? asText(get('run_id', 0)) : '';
    title = incident ? `Events of ${incident}${run && run !== 'recording' ? ` (${run})` : ''}` : 'Events';
  }
  const c = eventCounts(events);
  const summary = countsLine(c);
  if (n === 0) {
    return { 'text/html': section(title, note('No events.')), 'text/plain': `${title}: no events` };
  }

  const rows: Cell[][] = shownRows(n, head, tail).map((i) => {
    if (i === null) {
      const left = n - head - tail;
      return [{ html: `… ${left} more events …`, full: true, style: 'text-align:center;opacity:.7' }];
    }
    const kind = asText(get('kind', i)) || 'syscall';
    const name = asText(get('name', i));
    const ret = asBig(get('ret', i));
    const failed = kind === 'syscall' && ret < 0n && ret >= -4095n;
    const ms = Number(asBig(get('enter_ns', i)) - c.startNs) / 1e6;
    return [
      text(String(get('seq', i) ?? i), { num: true }),
      text(String(get('tid', i) ?? ''), { num: true }),
      text(ms.toFixed(3), { num: true }),
      text(kind === 'syscall' ? name : `${name} (${kind})`, { mono: true }),
      text(asText(get('resource', i)), { mono: true }),
      text(kind === 'syscall' ? formatRet(ret) : String(ret), { num: true, mono: true, style: failed ? 'color:#d62728' : undefined }),
      text(formatDuration(asBig(get('dur_ns', i))), { num: true }),
      bytesCell(asBytes(get('data_in', i))),
      bytesCell(asBytes(get('data_out', i))),
    ];
  });
  const headers = [
    { text: 'seq', num: true },
    { text: 'tid', num: true },
    { text: 'time (ms)', num: true },
    'syscall',
    'resource',
    { text: 'ret', num: true },
    { text: 'duration', num: true },
    'data_in',
    'data_out',
  ];
  const html = section(title, note(summary) + table(headers, rows));
  return { 'text/html': html, 'text/plain': `${title}: ${summary}` };
}

// ---------------------------------------------------------------------------------------------
// Replay runs

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const OUTPUT_MAX_CHARS = 8000;

function outputBlock(label: string, data: Uint8Array): string {
  if (data.length === 0) return `<div style="margin:4px 0"><b>${escapeHtml(label)}</b> <span style="opacity:.6">(empty)</span></div>`;
  const e = escapeBytes(data, OUTPUT_MAX_CHARS, true);
  const more = e.truncated ? `\n… ${formatBytes(data.length - e.bytes)} more` : '';
  return (
    `<div style="margin:4px 0"><b>${escapeHtml(label)}</b> <span style="opacity:.6">(${escapeHtml(formatBytes(data.length))})</span>` +
    `<pre style="${MONO};margin:2px 0;padding:4px 6px;max-height:20em;overflow:auto;white-space:pre-wrap;` +
    `background:rgba(128,128,128,.08);border-radius:3px">${escapeHtml(e.text + more)}</pre></div>`
  );
}

function callCells(c: DivergentCall | null): Cell[] {
  if (!c) return [{ html: '<span style="opacity:.6">nothing (the log had no call here)</span>', style: 'font-style:italic' }, { html: '' }, { html: '' }];
  return [text(c.name, { mono: true }), text(c.resource, { mono: true }), bytesCell(c.data_in)];
}

/** A replay run: verdict, exit status against the recording, outputs, and where it diverged. */
export function runBundle(run: RunResult): MimeBundle {
  const verdict = runVerdict(run);
  const ok = run.reproduced;
  const now = exitStatus(run.exitCode, run.signal);
  const then = exitStatus(run.recorded.exitCode, run.recorded.signal);
  const speed = run.speed === 'max' ? 'max speed' : `${run.speed}×`;
  const facts = `${now} (recorded: ${then}) · ${plural(run.events, 'event')} · ${formatDuration(Math.round(run.wallMs * 1e6))} at ${speed} · ${run.stored}`;

  let html =
    `<div style="margin:2px 0 6px;padding:4px 8px;border-left:4px solid ${ok ? '#2ca02c' : '#d62728'};` +
    `background:${ok ? 'rgba(44,160,44,.08)' : 'rgba(214,39,40,.08)'}"><b>${escapeHtml(verdict)}</b></div>` +
    note(facts);
  if (run.localExeChanged) {
    html += note(`${EXE_CHANGED[0].toUpperCase()}${EXE_CHANGED.slice(1)}.`);
  }
  const d = run.divergence;
  if (d) {
    html +=
      `<div style="margin:6px 0 2px"><b>Divergence</b> at seq ${escapeHtml(String(d.seq))}, tid ${escapeHtml(String(d.tid))}: ${escapeHtml(d.reason)}</div>` +
      table(['', 'seq', 'tid', 'syscall', 'resource', 'data_in'], [
        [text('expected', { style: 'font-weight:600' }), text(d.seq, { num: true }), text(d.tid, { num: true }), ...callCells(d.expected)],
        [text('actual', { style: 'font-weight:600' }), text(d.seq, { num: true }), text(d.tid, { num: true }), ...callCells(d.actual)],
      ]);
  }
  html += outputBlock('stdout', run.stdout);
  if (!sameBytes(run.stdout, run.recorded.stdout)) html += outputBlock('recorded stdout', run.recorded.stdout);
  html += outputBlock('stderr', run.stderr);
  if (!sameBytes(run.stderr, run.recorded.stderr)) html += outputBlock('recorded stderr', run.recorded.stderr);

  const lines = [`Replay ${run.runId} of ${run.incident}: ${verdict}`, `  ${facts}`];
  if (d) {
    const show = (c: DivergentCall | null): string => (c ? `${c.name}${c.resource ? ` ${c.resource}` : ''}${c.data_in.length ? ` "${previewBytes(c.data_in, 40)}"` : ''}` : 'nothing');
    lines.push(`  expected ${show(d.expected)}, got ${show(d.actual)}`);
  }
  return {
    'text/html': section(`Replay ${run.runId} of ${run.incident}`, html),
    'text/plain': lines.join('\n'),
  };
}

// ---------------------------------------------------------------------------------------------
// Errors

/** An error as one readable message box (no stack trace). */
export function errorBundle(err: Error): MimeBundle {
  const message = String(err?.message ?? err).trim() || 'unknown error';
  const kind = err instanceof ReplaybookError ? 'replaybook' : err?.name || 'Error';
  const html =
    `<div class="replaybook" style="font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:13px;` +
    `margin:2px 0;padding:6px 10px;border-left:4px solid #d62728;background:rgba(214,39,40,.08);white-space:pre-wrap">` +
    `<b>${escapeHtml(kind)}</b>: ${escapeHtml(message)}</div>`;
  return { 'text/html': html, 'text/plain': `${kind}: ${message}` };
}

// ---------------------------------------------------------------------------------------------
// Many runs and fix verification

interface RunLine {
  name: string;
  /** What the run must give: the baseline must fail, a fix run succeed; null: no expectation. */
  expect: 'success' | 'failure' | null;
  run: RunSummary;
}

const OK_STYLE = 'color:#2ca02c;font-weight:600';
const BAD_STYLE = 'color:#d62728;font-weight:600';

function runLines(lines: RunLine[]): string {
  const rows: Cell[][] = lines.map(({ name, expect, run }) => {
    const got = run.success ? 'success' : 'failure';
    const met = expect === null || expect === got;
    return [
      text(name, { style: 'white-space:nowrap' }),
      text(expect ?? '', { style: 'opacity:.75' }),
      text(met ? got : `${got} ✗`, { style: run.success ? OK_STYLE : BAD_STYLE }),
      text(run.seed === null ? '–' : run.seed, { num: true, mono: true }),
      text(run.status, { style: 'white-space:nowrap' }),
      text(formatDuration(Math.round(run.wallMs * 1e6)), { num: true }),
      text(run.policy === 'stream' && run.switchedAt ? `stream from seq ${run.switchedAt.seq}` : run.policy),
      text(run.stdout.length > 100 ? run.stdout.slice(0, 97) + '…' : run.stdout, { mono: true, style: 'white-space:pre' }),
      text(run.runId, { mono: true, style: 'opacity:.7' }),
    ];
  });
  return table(
    ['run', 'expected', 'outcome', { text: 'jitter seed', num: true }, 'status', { text: 'wall time', num: true }, 'policy', 'stdout', 'run id'],
    rows,
  );
}

function banner(ok: boolean, sentence: string): string {
  return (
    `<div style="margin:2px 0 6px;padding:4px 8px;border-left:4px solid ${ok ? '#2ca02c' : '#d62728'};` +
    `background:${ok ? 'rgba(44,160,44,.08)' : 'rgba(214,39,40,.08)'}"><b>${escapeHtml(sentence)}</b></div>`
  );
}

/** A verdict of verifyFix: its sentence, the fix, and every run (baseline, fix, jittered) in a table. */
export function verdictBundle(v: Verdict): MimeBundle {
  const facts =
    `success: ${v.success} · ${plural(v.jittered.length, 'jittered run')}, ${jitterText(v.jitterMs)}, ` +
    `seed ${v.seed} · ${formatDuration(Math.round(v.wallMs * 1e6))} in all`;
  const fix = v.fix.description.map((d) => `<li>${escapeHtml(d)}</li>`).join('');
  const html =
    banner(v.verified, v.reason) +
    `<div style="margin:2px 0"><b>fix</b><ul style="margin:2px 0 4px 18px;padding:0">${fix}</ul></div>` +
    note(facts) +
    runLines([
      { name: 'baseline', expect: 'failure', run: v.baseline },
      { name: 'fix', expect: 'success', run: v.fixed },
      ...v.jittered.map((run) => ({ name: String(run.index), expect: 'success' as const, run })),
    ]);
  const plain = [
    `Verdict for ${v.incident}: ${v.reason}`,
    ...v.fix.description.map((d) => `  fix: ${d}`),
    `  ${facts}`,
  ].join('\n');
  return { 'text/html': section(`Fix verification · ${v.incident}`, html), 'text/plain': plain };
}

/** The runs of runMany in a table, with how many failed. */
export function manyRunsBundle(m: ManyRuns): MimeBundle {
  const sentence = `${m.succeeded} of ${m.runs.length} runs succeeded${m.failed ? `; failed: ${runList(m.failedRuns)}` : ''}`;
  const what = fixDescription({ injections: m.injections, binary: m.binary ?? undefined });
  const facts = `success: ${m.success} · ${jitterText(m.jitterMs)}, seed ${m.seed} · ${formatDuration(Math.round(m.wallMs * 1e6))} in all`;
  const html =
    banner(m.failed === 0, sentence) +
    (what.length ? note(`changes: ${what.join('; ')}`) : note('no injections: the incident as recorded')) +
    note(facts) +
    runLines(m.runs.map((run) => ({ name: String(run.index), expect: null, run })));
  return {
    'text/html': section(`${plural(m.runs.length, 'run')} of ${m.incident}`, html),
    'text/plain': `${plural(m.runs.length, 'run')} of ${m.incident}: ${sentence} (${facts})`,
  };
}

// ---------------------------------------------------------------------------------------------
// Any Arrow table (a query result)

const EVENT_COLUMNS_SHOWN = ['seq', 'name', 'enter_ns', 'dur_ns', 'resource'];

/** Whether a table has the event columns an event log shows (then eventLogBundle suits it better). */
export function isEventTable(t: Table): boolean {
  const names = new Set(t.schema.fields.map((f) => f.name));
  return EVENT_COLUMNS_SHOWN.every((n) => names.has(n));
}

function cellOf(v: unknown, type: DataType): Cell {
  if (v === null || v === undefined) return { html: '<span style="opacity:.5">null</span>' };
  if (DataType.isTimestamp(type) || DataType.isDate(type)) {
    const d = new Date(Number(v));
    return text(Number.isNaN(d.getTime()) ? String(v) : d.toISOString(), { style: 'white-space:nowrap' });
  }
  if (typeof v === 'bigint') return text(v.toString(), { num: true, mono: true });
  if (typeof v === 'number') {
    const s = Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(6).replace(/\.?0+$/, '');
    return text(s, { num: true, mono: true });
  }
  if (typeof v === 'boolean') return text(String(v), { mono: true });
  if (DataType.isBinary(type) && v instanceof Uint8Array) return bytesCell(v);
  if (typeof v === 'string' || v instanceof Uint8Array) {
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    const e = escapeBytes(bytes, 80);
    return { html: escapeHtml(e.text) + (e.truncated ? '<span style="opacity:.6">…</span>' : ''), mono: true, style: 'white-space:pre' };
  }
  const list = v as { toArray?: () => ArrayLike<unknown>; length?: number };
  if (typeof list.toArray === 'function') {
    const items = Array.from(list.toArray()).slice(0, 8).map((x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? previewBytes(x, 20) : String(x)));
    const more = (list.length ?? 0) > 8 ? `, … ${(list.length ?? 0) - 8} more` : '';
    return text(`[${items.join(', ')}${more}]`, { mono: true });
  }
  const json = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return text(json && json.length > 100 ? json.slice(0, 99) + '…' : String(json), { mono: true });
}

/**
 * Any Arrow table: its shape, its first `head` and last `tail` rows (default 10 + 10) with the
 * number left out between them, and each column's type. Event tables show as event logs.
 */
export function arrowTableBundle(t: Table, opts: { title?: string; head?: number; tail?: number } = {}): MimeBundle {
  if (isEventTable(t)) return eventLogBundle(t, opts);
  const title = opts.title ?? 'Query result';
  const fields = t.schema.fields;
  const n = t.numRows;
  const shape = `${plural(n, 'row')} × ${plural(fields.length, 'column')}`;
  if (fields.length === 0 || n === 0) {
    return { 'text/html': section(title, note(`${shape}.`)), 'text/plain': `${title}: ${shape}` };
  }
  const head = Math.max(0, Math.floor(opts.head ?? 10));
  const tail = Math.max(0, Math.floor(opts.tail ?? 10));
  const cols = fields.map((f) => ({ f, v: t.getChild(f.name) as Vector | null }));
  const rows: Cell[][] = shownRows(n, head, tail).map((i) => {
    if (i === null) return [{ html: `… ${n - head - tail} more rows …`, full: true, style: 'text-align:center;opacity:.7' }];
    return cols.map(({ f, v }) => cellOf(v?.get(i), f.type));
  });
  const headers = fields.map((f) => ({
    text: `${f.name}`,
    num: DataType.isInt(f.type) || DataType.isFloat(f.type) || DataType.isDecimal(f.type),
  }));
  const types = note(`columns: ${fields.map((f) => `${f.name} ${String(f.type)}`).join(', ')}`);
  const html = section(title, note(shape) + table(headers, rows) + types);
  const lines = [`${title}: ${shape}`];
  for (const i of shownRows(n, Math.min(head, 5), 0)) {
    if (i === null) break;
    lines.push('  ' + cols.map(({ f, v }) => `${f.name}=${cellPlain(v?.get(i))}`).join(' '));
  }
  if (n > Math.min(head, 5)) lines.push(`  … ${n - Math.min(head, 5)} more`);
  return { 'text/html': html, 'text/plain': lines.join('\n') };
}

function cellPlain(v: unknown): string {
  if (v instanceof Uint8Array || typeof v === 'string') return `"${previewBytes(typeof v === 'string' ? Buffer.from(v, 'utf8') : v, 30)}"`;
  if (typeof v === 'bigint') return v.toString();
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// A divergence, a paused replay

/** Whether x is a divergence report (run.divergence). */
export function isDivergence(x: unknown): x is Divergence {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Partial<Divergence>;
  return typeof d.seq === 'number' && typeof d.tid === 'number' && typeof d.reason === 'string' && typeof d.actual === 'object' && 'expected' in d;
}

/** Where a run left the log: the reason, the expected and the actual call side by side. */
export function divergenceBundle(d: Divergence): MimeBundle {
  const html =
    banner(false, `diverged at seq ${d.seq} (thread ${d.tid}): ${d.reason}`) +
    table(['', 'syscall', 'resource', 'data_in', 'arguments'], [
      [text('expected (the log)', { style: 'font-weight:600' }), ...callCells(d.expected), text(d.expected ? d.expected.args.map(String).join(', ') : '', { mono: true })],
      [text('actual (the program)', { style: 'font-weight:600' }), ...callCells(d.actual), text(d.actual.args.map(String).join(', '), { mono: true })],
    ]) +
    note(`instruction pointer 0x${d.ip.toString(16)} · session(incident, { at: ${Math.max(0, d.seq - 1)} }) opens a replay paused just before it`);
  const show = (c: DivergentCall | null): string => (c ? `${c.name}${c.resource ? ` ${c.resource}` : ''}` : 'nothing');
  return {
    'text/html': section(`Divergence at seq ${d.seq}`, html),
    'text/plain': `Divergence at seq ${d.seq} (tid ${d.tid}): ${d.reason}; expected ${show(d.expected)}, got ${show(d.actual)}`,
  };
}

/** Whether x is the state of a paused replay (session.state(), step(), jumpTo()). */
export function isSessionState(x: unknown): x is SessionState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Partial<SessionState>;
  return typeof s.paused === 'boolean' && typeof s.seq === 'number' && typeof s.served === 'number' && typeof s.virtualNs === 'bigint' && Array.isArray(s.threads);
}

const REGISTERS_SHOWN = ['rip', 'rsp', 'rax', 'orig_rax', 'rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'];

/** A paused replay: the next call with its arguments, the virtual clock, the threads, the registers. */
export function sessionStateBundle(s: SessionState): MimeBundle {
  const clock = formatDuration(s.virtualNs);
  const head = s.next
    ? `next: ${s.next.name}(${s.next.args.map((a) => (a > 0xffffn ? '0x' + a.toString(16) : a.toString())).join(', ')})` +
      `${s.next.resource ? ` on ${s.next.resource}` : ''} in thread ${s.next.tid}`
    : 'the replay has ended';
  const facts = `seq ${s.seq} · ${plural(s.served, 'event')} served · virtual clock ${clock} · ${s.paused ? 'paused' : 'running'} · speed ${s.speed === 'max' ? 'max' : `${s.speed}×`}`;
  let html = `<div style="margin:2px 0 4px;${MONO}"><b>${escapeHtml(head)}</b></div>` + note(facts);
  if (s.threads.length) {
    html += table(
      [{ text: 'thread (recorded)', num: true }, { text: 'thread (now)', num: true }, 'state'],
      s.threads.map((t) => [text(t.tid, { num: true }), text(t.realTid, { num: true }), text(t.state)]),
    );
  }
  if (s.registers) {
    const regs = REGISTERS_SHOWN.filter((r) => s.registers && r in s.registers);
    html += table(
      regs.map((r) => ({ text: r, num: true })),
      [regs.map((r) => text('0x' + (s.registers?.[r] ?? 0n).toString(16), { num: true, mono: true }))],
    );
  }
  return { 'text/html': section('Replay paused', html), 'text/plain': `${head} (${facts})` };
}

export function isBacktrace(x: unknown): x is ThreadFrames[] {
  return Array.isArray(x) && x.length > 0 && x.every((t) => typeof t === 'object' && t !== null && typeof (t as ThreadFrames).tid === 'number' && Array.isArray((t as ThreadFrames).frames));
}

export function isFrameVariables(x: unknown): x is FrameVariables {
  if (typeof x !== 'object' || x === null) return false;
  const v = x as Partial<FrameVariables>;
  return typeof v.tid === 'number' && typeof v.frame === 'object' && Array.isArray(v.variables) && 'message' in v;
}

const where = (f: Frame): string => (f.file ? `${f.file.split('/').pop()}:${f.line ?? '?'}` : f.library ? `in ${f.library}` : '');

/** Every stopped thread's stack at the pause (session.backtrace()): one table per thread. */
export function backtraceBundle(threads: ThreadFrames[]): MimeBundle {
  let html = '';
  const plain: string[] = [];
  for (const t of threads) {
    html += note(`thread ${t.tid}`);
    html += table(
      [{ text: '#', num: true }, 'function', 'where', { text: 'address', num: true }],
      t.frames.map((f) => [text(f.level, { num: true }), text(f.function ?? '??', { mono: true }), text(where(f), { mono: true }), text('0x' + f.address.toString(16), { num: true, mono: true })]),
    );
    plain.push(`thread ${t.tid}`, ...t.frames.map((f) => `  #${f.level} ${f.function ?? '??'} ${where(f)}`));
  }
  return { 'text/html': section('Backtrace', html), 'text/plain': plain.join('\n') };
}

/** A frame's locals and arguments (session.variables()), or why there are none. */
export function variablesBundle(v: FrameVariables): MimeBundle {
  const head = `thread ${v.tid}, frame ${v.frame.level}: ${v.frame.function ?? '??'} ${where(v.frame)}`;
  let html = note(head);
  if (v.message) html += `<div style="${MONO}">${escapeHtml(v.message)}</div>`;
  if (v.variables.length) {
    html += table(
      ['name', 'type', 'value', 'kind'],
      v.variables.map((x) => [text(x.name, { mono: true }), text(x.type ?? '', { mono: true }), text(x.value, { mono: true }), text(x.argument ? 'argument' : 'local')]),
    );
  }
  const plain = [head, ...(v.message ? [v.message] : []), ...v.variables.map((x) => `  ${x.type ?? ''} ${x.name} = ${x.value}`)];
  return { 'text/html': section('Variables', html), 'text/plain': plain.join('\n') };
}

// ---------------------------------------------------------------------------------------------
// Transactions, stored runs, comparisons

/** An incident's transactions: id (tx-N, for session(incident, { at })), endpoint, timing, outcome. */
export function transactionsBundle(incident: string, list: Transaction[]): MimeBundle {
  const rows = list.map((t) => [
    text(t.id, { mono: true, style: 'font-weight:600' }),
    text(t.kind),
    text(t.resource, { mono: true }),
    text(`${t.firstSeq}–${t.lastSeq}`, { num: true }),
    text(formatDuration(t.startNs), { num: true }),
    text(formatDuration(t.endNs - t.startNs), { num: true }),
    text(`${formatBytes(t.bytesSent)} / ${formatBytes(t.bytesReceived)}`, { num: true }),
    text(t.outcome, { style: t.outcome === 'ok' ? OK_STYLE : BAD_STYLE }),
    text(t.request.slice(0, 60), { mono: true }),
    text(t.response.slice(0, 60), { mono: true }),
    text(`panel(${JSON.stringify(incident)}, { at: '${t.id}' })`, { mono: true, style: 'white-space:nowrap' }),
  ]);
  const html = table(
    ['id', 'kind', 'endpoint', { text: 'events', num: true }, { text: 'at', num: true }, { text: 'took', num: true }, { text: 'sent / received', num: true }, 'outcome', 'request', 'response', 'open in replay'],
    rows,
  );
  const plain = `${plural(list.length, 'transaction')} in ${incident}${list.length ? ': ' + list.slice(0, 4).map((t) => `${t.id} ${t.kind} ${t.resource} (${t.outcome})`).join(', ') : ''}`;
  return {
    'text/html': section(`${plural(list.length, 'transaction')} in ${incident}`, list.length ? html + note(`open one in a replay panel, paused at its first event: panel('${incident}', { at: '${list[0].id}' }) (the last column gives each one's); in code: session('${incident}', { at: '${list[0].id}' })`) : note('No transactions.')),
    'text/plain': plain,
  };
}

/** The stored runs of an incident: label, injections, seed, outcome, timing, output. */
export function storedRunsBundle(incident: string, list: StoredRun[]): MimeBundle {
  if (list.length === 0) {
    return { 'text/html': section(`Runs of ${incident}`, note('No runs stored yet: replay(incident) stores one.')), 'text/plain': `no runs of ${incident}` };
  }
  const rows: Cell[][] = list.map((r) => [
    text(r.runId, { mono: true }),
    text(r.startedAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ''), { style: 'white-space:nowrap' }),
    text(r.label),
    text(r.seed ? r.seed : '–', { num: true, mono: true }),
    text(r.speed === 'max' ? 'max' : `${r.speed}×`, { num: true }),
    text(r.outcome, { style: (r.exitCode === 0 && r.divergedAt === null ? OK_STYLE : BAD_STYLE) + ';white-space:nowrap' }),
    text(r.events, { num: true }),
    text(formatDuration(Math.round(r.wallMs * 1e6)), { num: true }),
    text(r.stdout.length > 60 ? r.stdout.slice(0, 59) + '…' : r.stdout, { mono: true, style: 'white-space:pre' }),
  ]);
  const html = table(
    ['run id', 'started', 'label', { text: 'jitter seed', num: true }, { text: 'speed', num: true }, 'outcome', { text: 'events', num: true }, { text: 'wall time', num: true }, 'stdout'],
    rows,
  );
  const counts = new Map<string, number>();
  for (const r of list) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const summary = [...counts.entries()].map(([o, k]) => `${k} ${o}`).join(', ');
  return {
    'text/html': section(`${plural(list.length, 'run')} of ${incident}`, note(summary) + html),
    'text/plain': `${plural(list.length, 'run')} of ${incident}: ${summary}`,
  };
}

/** A comparison of runs: one row per variant against the baseline. */
export function comparisonBundle(d: TimingDiff): MimeBundle {
  const rows: Cell[][] = d.variants.map((v) => [
    text(v.label, { style: 'font-weight:600;white-space:nowrap' }),
    text(v.outcome ?? ''),
    text(v.switchPoint ? `${v.switchPoint.why}${v.switchPoint.name ? ` (${v.switchPoint.name})` : ''}` : 'followed the log'),
    text(v.firstDifference ? `seq ${v.firstDifference.seq}: ${v.firstDifference.why}` : 'none'),
    text(v.biggest && Math.abs(v.biggest.deltaMs) >= 0.001 ? `${v.biggest.name} ${formatDeltaMs(v.biggest.deltaMs)} (${formatMs(v.biggest.baseMs)} → ${formatMs(v.biggest.varMs)})` : '–'),
    text(formatDeltaMs(v.endDeltaMs), { num: true }),
    text(`${v.matched} / ${v.onlyBaseline} / ${v.onlyVariant}`, { num: true }),
    text(v.changed, { num: true }),
  ]);
  const html = table(
    [
      'variant',
      'outcome',
      'policy',
      'first difference',
      'largest duration change',
      { text: 'last call Δ start', num: true },
      { text: 'paired / baseline only / variant only', num: true },
      { text: 'changed results', num: true },
    ],
    rows,
  );
  const base = d.baseline;
  const facts = `baseline: ${base.label}${base.outcome ? ` (${base.outcome})` : ''}, ${plural(base.events, 'call')}; calls paired by resource stream and order`;
  const plain = [`Comparison against ${base.label}:`, ...d.variants.map((v) => `  ${v.label}: ${v.outcome ?? ''}; ${v.switchPoint?.why ?? 'followed the log'}; last call ${formatDeltaMs(v.endDeltaMs)}`)].join('\n');
  return { 'text/html': section(`Comparison · ${d.variants.length} against ${base.label}`, note(facts) + html), 'text/plain': plain };
}

/** An incident's outcome as lists show it: its exit, or that it is still being recorded or was cut short. */
function incidentOutcome(i: IncidentInfo): string {
  if (i.state === 'recording') return 'recording';
  return exitStatus(i.exit_code, i.exit_signal) + (i.state === 'cut short' ? ` (cut short: ${i.state_reason ?? ''})` : '');
}
