// Timing differences across runs: the same incident replayed several ways (a longer timeout, a
// slower provider...) next to a baseline (the recording, or a plain replay), call by call.
//
// Alignment. Calls are paired by resource stream and order: the k-th `write` on
// tcp:10.0.0.5:443 in the baseline with the k-th `write` on tcp:10.0.0.5:443 in the variant.
// Calls with no resource (clock reads, memory, poll on several fds), and calls a stream did not
// pair, are then paired by thread and order: the k-th remaining `poll` of the first thread with
// the k-th remaining `poll` of the first thread (threads by order of appearance, since a replay's
// threads are the recording's). What is left over exists in one run only. Late data (bytes the
// recorder read after the service gave up) is not a call of the program and is left out.
//
// Timing. A call's start is its enter time on the recording's timeline, which every run shares
// (a run under the stream policy carries the virtual clock). A run at speed 'max' serves its
// strict part from the log without waiting, so its own timestamps there say nothing about the
// program's time: those calls take the recorded timing (what the program saw), up to where the
// run switched to the stream policy or diverged (or, for a stored run, which does not say, up to
// the first call on the virtual clock: one that starts at exactly its recorded time).
import type { ChartSpec } from './render';
import { CHART_CONFIG, VEGA_LITE_SCHEMA } from './style';
import type { Table } from 'apache-arrow';
import { eventColumns, isFailure, round3, type EventColumns } from './columns';
import { formatDeltaMs, formatMs } from '../format';
import { formatRet } from './classes';

/** One side of a comparison: a run's (or the recording's) events and what is known of the run. */
export interface DiffInput {
  label: string;
  events: Table;
  /** The incident's recorded events: strict calls of a run at speed 'max' take their timing from them. */
  recorded?: Table | null;
  /** The run's speed (1, 10, 'max'); undefined for the recording. */
  speed?: number | string | null;
  /** seq where the run switched to the stream policy, if it did. */
  switchSeq?: number | null;
  /** seq where the run diverged from the log, if it did. */
  divergenceSeq?: number | null;
  /** `exit 1`, `diverged at seq 34`... */
  outcome?: string;
}

export type DiffStatus = 'matched' | 'only baseline' | 'only variant';

/** One pair of calls (or a call of one side only) in a comparison of one variant. */
export interface DiffRow {
  variant: string;
  /** Index of the variant (colour order). */
  v: number;
  /** Position along the baseline's calls: baseline call b is at b; calls of the variant only sit between. */
  pos: number;
  stream: string;
  name: string;
  status: DiffStatus;
  base_seq: number | null;
  var_seq: number | null;
  base_start_ms: number | null;
  var_start_ms: number | null;
  base_dur_ms: number | null;
  var_dur_ms: number | null;
  /** Variant minus baseline; for a call of one side only, ± its duration. */
  dur_delta_ms: number;
  /** Variant minus baseline start time; null for a call of one side only. */
  start_delta_ms: number | null;
  base_ret: string | null;
  var_ret: string | null;
  /** A paired call returned something else, or handed the kernel other bytes. */
  changed: boolean;
  failed: boolean;
}

/** Where a variant first differs, or switched policy, in its own numbering and on the chart. */
export interface DiffPoint {
  pos: number;
  seq: number;
  name: string;
  why: string;
}

export interface VariantDiff {
  label: string;
  outcome: string | null;
  events: number;
  matched: number;
  onlyBaseline: number;
  onlyVariant: number;
  /** Paired calls that returned something else or wrote other bytes. */
  changed: number;
  /** The first call that differs (in one run only, another result, other bytes). */
  firstDifference: DiffPoint | null;
  /** Where the run switched to the stream policy or diverged, as the run reported it. */
  switchPoint: DiffPoint | null;
  /** Start-time difference of the last paired call: how much later (or earlier) the run ended. */
  endDeltaMs: number;
  /** The paired call whose duration changed most. */
  biggest: { name: string; stream: string; baseSeq: number; varSeq: number; deltaMs: number; baseMs: number; varMs: number } | null;
  /** Recorded timing stood in for this many strict calls of a run at speed 'max'. */
  recordedTiming: number;
}

export interface TimingDiff {
  baseline: { label: string; events: number; outcome: string | null; recordedTiming: number };
  variants: VariantDiff[];
  /** Every pair of every variant, in position order per variant. */
  rows: DiffRow[];
}

interface Side {
  cols: EventColumns;
  /** Row indexes of the calls compared, in seq order. */
  order: number[];
  start: Float64Array;
  dur: Float64Array;
  /** Thread ordinal per row (order of first appearance). */
  thread: Int32Array;
  recordedTiming: number;
}

function side(input: DiffInput): Side {
  const cols = eventColumns(input.events);
  const order: number[] = [];
  for (let i = 0; i < cols.n; i++) if (cols.kind[i] !== 'late_data') order.push(i);
  order.sort((a, b) => cols.seq[a] - cols.seq[b]);
  const start = Float64Array.from(cols.startMs);
  const dur = Float64Array.from(cols.durMs);
  let recordedTiming = 0;
  if (input.speed === 'max' && input.recorded) {
    const rec = eventColumns(input.recorded);
    const bySeq = new Map<number, number>();
    for (let i = 0; i < rec.n; i++) bySeq.set(rec.seq[i], i);
    const cutoff = Math.min(input.switchSeq ?? Infinity, input.divergenceSeq ?? Infinity);
    for (const i of order) {
      const s = cols.seq[i];
      if (s >= cutoff) break;
      const r = bySeq.get(s);
      if (r === undefined || rec.name[r] !== cols.name[i] || rec.kind[r] !== cols.kind[i]) break;
      // A call that starts exactly at its recorded time is on the virtual clock already: the run
      // switched to the stream policy here (a stored run does not say where it switched).
      if (cols.startMs[i] === rec.startMs[r] && s > 0) break;
      start[i] = rec.startMs[r];
      dur[i] = rec.durMs[r];
      recordedTiming++;
    }
  }
  const thread = new Int32Array(cols.n);
  const seen = new Map<number, number>();
  for (const i of order) {
    let t = seen.get(cols.tid[i]);
    if (t === undefined) {
      t = seen.size;
      seen.set(cols.tid[i], t);
    }
    thread[i] = t;
  }
  return { cols, order, start, dur, thread, recordedTiming };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Pairs the calls of two runs (see the header): aToB[i] is the row of `b` paired with row `i` of `a`, or -1. */
function pairCalls(a: Side, b: Side): { aToB: Int32Array; bToA: Int32Array } {
  const aToB = new Int32Array(a.cols.n).fill(-1);
  const bToA = new Int32Array(b.cols.n).fill(-1);
  const pass = (key: (s: Side, i: number) => string | null): void => {
    const index = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const i of b.order) {
      if (bToA[i] >= 0) continue;
      const k = key(b, i);
      if (k === null) continue;
      const c = counts.get(k) ?? 0;
      counts.set(k, c + 1);
      index.set(`${k}\0${c}`, i);
    }
    counts.clear();
    for (const i of a.order) {
      if (aToB[i] >= 0) continue;
      const k = key(a, i);
      if (k === null) continue;
      const c = counts.get(k) ?? 0;
      counts.set(k, c + 1);
      const j = index.get(`${k}\0${c}`);
      if (j !== undefined) {
        aToB[i] = j;
        bToA[j] = i;
      }
    }
  };
  pass((s, i) => (s.cols.resource[i] ? `r\0${s.cols.resource[i]}\0${s.cols.kind[i]}\0${s.cols.name[i]}` : null));
  pass((s, i) => `t\0${s.thread[i]}\0${s.cols.kind[i]}\0${s.cols.name[i]}`);
  return { aToB, bToA };
}

function streamOf(s: Side, i: number): string {
  return s.cols.resource[i] || `thread ${s.thread[i] + 1}`;
}

function retText(s: Side, i: number): string {
  return s.cols.kind[i] === 'syscall' ? formatRet(s.cols.ret[i]) : String(s.cols.ret[i]);
}

function compareOne(base: Side, v: Side, input: DiffInput, vi: number, rows: DiffRow[]): VariantDiff {
  const { aToB, bToA } = pairCalls(base, v);
  const posOfBase = new Float64Array(base.cols.n);
  base.order.forEach((i, k) => (posOfBase[i] = k));
  const posOfVar = new Float64Array(v.cols.n);
  let last = -1;
  let run = 0;
  for (const j of v.order) {
    const a = bToA[j];
    if (a >= 0) {
      last = posOfBase[a];
      run = 0;
      posOfVar[j] = last;
    } else {
      posOfVar[j] = last + (run + 1) / (run + 2);
      run++;
    }
  }

  const mine: DiffRow[] = [];
  let changed = 0;
  let matched = 0;
  let biggest: VariantDiff['biggest'] = null;
  // One row: the baseline's call `a` paired with the variant's call `j` (-1: that side has none).
  const row = (a: number, j: number, pos: number, changed: boolean): DiffRow => {
    const inBase = a >= 0;
    const inVar = j >= 0;
    return {
      variant: input.label,
      v: vi,
      pos,
      stream: inBase ? streamOf(base, a) : streamOf(v, j),
      name: inBase ? base.cols.name[a] : v.cols.name[j],
      status: inBase && inVar ? 'matched' : inBase ? 'only baseline' : 'only variant',
      base_seq: inBase ? base.cols.seq[a] : null,
      var_seq: inVar ? v.cols.seq[j] : null,
      base_start_ms: inBase ? round3(base.start[a]) : null,
      var_start_ms: inVar ? round3(v.start[j]) : null,
      base_dur_ms: inBase ? round3(base.dur[a]) : null,
      var_dur_ms: inVar ? round3(v.dur[j]) : null,
      dur_delta_ms: round3((inVar ? v.dur[j] : 0) - (inBase ? base.dur[a] : 0)),
      start_delta_ms: inBase && inVar ? round3(v.start[j] - base.start[a]) : null,
      base_ret: inBase ? retText(base, a) : null,
      var_ret: inVar ? retText(v, j) : null,
      changed,
      failed: inVar ? isFailure(v.cols.kind[j], v.cols.ret[j]) : isFailure(base.cols.kind[a], base.cols.ret[a]),
    };
  };
  for (const a of base.order) {
    const j = aToB[a];
    if (j < 0) {
      mine.push(row(a, -1, posOfBase[a], true));
      continue;
    }
    matched++;
    const retDiffers = base.cols.ret[a] !== v.cols.ret[j];
    const bytesDiffer = base.cols.kind[a] === 'syscall' && !sameBytes(base.cols.dataIn(a), v.cols.dataIn(j));
    const isChanged = retDiffers || bytesDiffer;
    if (isChanged) changed++;
    const dd = v.dur[j] - base.dur[a];
    if (!biggest || Math.abs(dd) > Math.abs(biggest.deltaMs)) {
      biggest = {
        name: base.cols.name[a],
        stream: streamOf(base, a),
        baseSeq: base.cols.seq[a],
        varSeq: v.cols.seq[j],
        deltaMs: round3(dd),
        baseMs: round3(base.dur[a]),
        varMs: round3(v.dur[j]),
      };
    }
    mine.push(row(a, j, posOfBase[a], isChanged));
  }
  let onlyVariant = 0;
  for (const j of v.order) {
    if (bToA[j] >= 0) continue;
    onlyVariant++;
    mine.push(row(-1, j, round3(posOfVar[j]), true));
  }
  mine.sort((x, y) => x.pos - y.pos);

  const first = mine.find((r) => r.changed) ?? null;
  let firstDifference: DiffPoint | null = null;
  if (first) {
    const why =
      first.status === 'only baseline'
        ? `${first.name} only in the baseline`
        : first.status === 'only variant'
          ? `${first.name} only in this run`
          : first.base_ret !== first.var_ret
            ? `${first.name} returned ${first.var_ret} (baseline ${first.base_ret})`
            : `${first.name} handed the kernel other bytes`;
    firstDifference = { pos: first.pos, seq: (first.var_seq ?? first.base_seq) as number, name: first.name, why };
  }

  let switchPoint: DiffPoint | null = null;
  const at = input.divergenceSeq ?? input.switchSeq ?? null;
  if (at !== null) {
    const why = input.divergenceSeq != null ? `diverged at seq ${at}` : `stream policy from seq ${at}`;
    let hit = -1;
    let before = -1;
    for (const j of v.order) {
      if (v.cols.seq[j] === at) hit = j;
      if (v.cols.seq[j] < at) before = j;
    }
    if (hit >= 0) switchPoint = { pos: round3(posOfVar[hit]), seq: at, name: v.cols.name[hit], why };
    else switchPoint = { pos: round3((before >= 0 ? posOfVar[before] : -1) + 0.5), seq: at, name: '', why };
  }

  let endDeltaMs = 0;
  for (let k = mine.length - 1; k >= 0; k--) {
    if (mine[k].start_delta_ms !== null) {
      endDeltaMs = mine[k].start_delta_ms as number;
      break;
    }
  }
  for (const r of mine) rows.push(r);
  return {
    label: input.label,
    outcome: input.outcome ?? null,
    events: v.order.length,
    matched,
    onlyBaseline: base.order.length - matched,
    onlyVariant,
    changed,
    firstDifference,
    switchPoint,
    endDeltaMs,
    biggest,
    recordedTiming: v.recordedTiming,
  };
}

/**
 * The pairing of two event tables as seq numbers, in the order of `base` with the calls of
 * `variant` only after the call they follow: [{ base: 34, variant: 34 }, { base: null, variant: 35 }].
 */
export function alignEvents(base: Table, variant: Table): Array<{ base: number | null; variant: number | null; name: string }> {
  const d = timingDiff({ label: 'base', events: base }, [{ label: 'variant', events: variant }]);
  return d.rows.map((r) => ({ base: r.base_seq, variant: r.var_seq, name: r.name }));
}

/** Compares each variant with the baseline, call by call (see the header). */
export function timingDiff(baseline: DiffInput, variants: DiffInput[]): TimingDiff {
  const labels = new Set<string>();
  for (const x of [baseline, ...variants]) {
    if (labels.has(x.label)) throw new Error(`two runs in one comparison are labelled '${x.label}': give each its own label`);
    labels.add(x.label);
  }
  const base = side(baseline);
  const rows: DiffRow[] = [];
  const out = variants.map((v, i) => compareOne(base, side(v), v, i, rows));
  return {
    baseline: { label: baseline.label, events: base.order.length, outcome: baseline.outcome ?? null, recordedTiming: base.recordedTiming },
    variants: out,
    rows,
  };
}

// ---------------------------------------------------------------------------------------------
// The chart

export interface TimingDiffMeta {
  chart: 'timing-diff';
  baseline: string;
  variants: string[];
  rows: number;
  /** Rows of the comparison in all (the chart keeps the telling ones when there are more than maxRows). */
  pairs: number;
  sampled: boolean;
}

export type TimingDiffSpec = ChartSpec<DiffRow, TimingDiffMeta>;

export const VARIANT_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#bab0ac', '#17becf'];

/** The rows a chart draws: all of them, or the telling ones of a large comparison. */
function chartRows(rows: DiffRow[], max: number): { rows: DiffRow[]; sampled: boolean } {
  if (rows.length <= max) return { rows, sampled: false };
  const keep = new Set<DiffRow>();
  const add = (list: DiffRow[], n: number): void => {
    for (const r of list.slice(0, n)) keep.add(r);
  };
  add(rows.filter((r) => r.status !== 'matched'), Math.floor(max * 0.2));
  add(rows.filter((r) => r.status === 'matched' && r.changed), Math.floor(max * 0.1));
  add(
    rows.filter((r) => r.status === 'matched').sort((a, b) => Math.abs(b.dur_delta_ms) - Math.abs(a.dur_delta_ms)),
    Math.floor(max * 0.2),
  );
  // The start-time curve: evenly spaced pairs of every variant.
  const matched = rows.filter((r) => r.status === 'matched');
  const room = Math.max(1, max - keep.size);
  const every = Math.max(1, Math.ceil(matched.length / room));
  for (let k = 0; k < matched.length; k += every) keep.add(matched[k]);
  const out = rows.filter((r) => keep.has(r));
  return { rows: out, sampled: true };
}

/**
 * The timing-difference chart: per call (x: position along the baseline's calls), how much longer
 * it took in each variant (top) and how much later it started (bottom); calls of one run only as
 * triangles; where each variant switched to the stream policy or diverged as a dashed rule.
 */
export function timingDiffSpec(diff: TimingDiff, opts: { title?: string; width?: number; maxRows?: number; labels?: number } = {}): TimingDiffSpec {
  const width = opts.width ?? 760;
  const { rows, sampled } = chartRows(diff.rows, Math.max(200, opts.maxRows ?? 4000));
  const labels = diff.variants.map((v) => v.label);
  const color = {
    field: 'variant',
    type: 'nominal',
    title: `variant (against ${diff.baseline.label})`,
    scale: { domain: labels, range: labels.map((_, i) => VARIANT_COLORS[i % VARIANT_COLORS.length]) },
    legend: { orient: 'bottom', direction: 'horizontal', labelLimit: 260, titleLimit: 400 },
  };
  const maxPos = Math.max(1, diff.baseline.events, ...rows.map((r) => r.pos + 1));
  const x = {
    field: 'pos',
    type: 'quantitative',
    title: `calls in the order of ${diff.baseline.label} (aligned by resource stream and order)`,
    scale: { domain: [-0.5, maxPos - 0.5], nice: false, zero: false },
    axis: { grid: true, gridOpacity: 0.3, format: 'd' },
  };
  const tooltip = [
    { field: 'variant', type: 'nominal', title: 'variant' },
    { field: 'name', type: 'nominal', title: 'call' },
    { field: 'stream', type: 'nominal', title: 'stream' },
    { field: 'status', type: 'nominal', title: 'pairing' },
    { field: 'base_seq', type: 'quantitative', title: 'baseline seq', format: 'd' },
    { field: 'var_seq', type: 'quantitative', title: 'variant seq', format: 'd' },
    { field: 'base_dur_ms', type: 'quantitative', title: 'baseline duration (ms)', format: ',.3f' },
    { field: 'var_dur_ms', type: 'quantitative', title: 'variant duration (ms)', format: ',.3f' },
    { field: 'dur_delta_ms', type: 'quantitative', title: 'duration Δ (ms)', format: '+,.3f' },
    { field: 'start_delta_ms', type: 'quantitative', title: 'start Δ (ms)', format: '+,.3f' },
    { field: 'base_ret', type: 'nominal', title: 'baseline returned' },
    { field: 'var_ret', type: 'nominal', title: 'variant returned' },
  ];
  const shape = {
    field: 'status',
    type: 'nominal',
    title: 'pairing',
    scale: { domain: ['matched', 'only baseline', 'only variant'], range: ['circle', 'triangle-down', 'triangle-up'] },
    legend: { orient: 'bottom', direction: 'horizontal' },
  };

  // Labels on the calls whose duration changed most (a few per chart).
  const labelled = [...rows]
    .filter((r) => Math.abs(r.dur_delta_ms) >= 0.5)
    .sort((a, b) => Math.abs(b.dur_delta_ms) - Math.abs(a.dur_delta_ms))
    .slice(0, opts.labels ?? 6)
    .map((r) => ({ ...r, text: `${r.name} ${formatDeltaMs(r.dur_delta_ms)}` }));

  const marks = diff.variants
    .map((v) => (v.switchPoint ? { variant: v.label, pos: v.switchPoint.pos, text: `${v.label}: ${v.switchPoint.why}` } : null))
    .filter((m): m is { variant: string; pos: number; text: string } => m !== null);
  const markLayers = (withText: boolean): object[] =>
    marks.length === 0
      ? []
      : [
          {
            data: { values: marks },
            mark: { type: 'rule', strokeDash: [5, 3], strokeWidth: 1.5 },
            encoding: { x: { field: 'pos', type: 'quantitative' }, color: { field: 'variant', type: 'nominal' } },
          },
          ...(withText
            ? [
                {
                  data: { values: marks.map((m, k) => ({ ...m, k })) },
                  // Left of the rule: before the switch nothing differs, so that side is empty.
                  mark: { type: 'text', align: 'right', baseline: 'top', dx: -4, fontSize: 10 },
                  encoding: {
                    x: { field: 'pos', type: 'quantitative' },
                    y: { value: { expr: `4 + datum.k * 12` } },
                    text: { field: 'text', type: 'nominal' },
                    color: { field: 'variant', type: 'nominal' },
                  },
                },
              ]
            : []),
        ];

  let top: { v: VariantDiff; d: number } | null = null;
  for (const v of diff.variants) if (v.biggest && Math.abs(v.biggest.deltaMs) >= 0.001 && (!top || Math.abs(v.biggest.deltaMs) > top.d)) top = { v, d: Math.abs(v.biggest.deltaMs) };
  const subtitle = [
    `${diff.variants.length} variant${diff.variants.length === 1 ? '' : 's'} against ${diff.baseline.label} (${diff.baseline.events} calls)` +
      (top?.v.biggest ? ` · largest change: ${top.v.biggest.name} ${formatDeltaMs(top.v.biggest.deltaMs)} in ${top.v.label}` : '') +
      (sampled ? ` · ${rows.length} of ${diff.rows.length} pairs shown (the changed ones and a sample)` : ''),
    'program time: strict calls of a run at speed max take the recorded timing; after the switch, the virtual clock',
  ];

  return {
    $schema: VEGA_LITE_SCHEMA,
    title: {
      text: opts.title ?? (labels.length === 1 ? `Timing difference · ${labels[0]} vs ${diff.baseline.label}` : `Timing difference · ${labels.length} variants vs ${diff.baseline.label}`),
      subtitle,
      anchor: 'start',
    },
    data: { values: rows },
    usermeta: {
      replaybook: { chart: 'timing-diff', baseline: diff.baseline.label, variants: labels, rows: rows.length, pairs: diff.rows.length, sampled },
    },
    vconcat: [
      {
        width,
        height: 190,
        layer: [
          { data: { values: [{ y: 0 }] }, mark: { type: 'rule', color: '#888888' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
          {
            mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.7 },
            encoding: { x, y: { field: 'dur_delta_ms', type: 'quantitative' }, y2: { datum: 0 }, color },
          },
          {
            mark: { type: 'point', filled: true, size: 40, opacity: 0.9 },
            encoding: {
              x,
              y: { field: 'dur_delta_ms', type: 'quantitative', title: 'duration Δ (ms)', axis: { format: '+,~r' } },
              color,
              shape,
              tooltip,
            },
          },
          ...(labelled.length
            ? [
                {
                  data: { values: labelled },
                  mark: { type: 'text', align: 'left', dx: 6, dy: -6, fontSize: 10, color: '#1b1b1b' },
                  encoding: { x: { field: 'pos', type: 'quantitative' }, y: { field: 'dur_delta_ms', type: 'quantitative' }, text: { field: 'text', type: 'nominal' } },
                },
              ]
            : []),
          ...markLayers(true),
        ],
      },
      {
        width,
        height: 150,
        layer: [
          { data: { values: [{ y: 0 }] }, mark: { type: 'rule', color: '#888888' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
          {
            transform: [{ filter: 'datum.start_delta_ms != null' }],
            mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5, point: { filled: true, size: 14 } },
            encoding: {
              x: { ...x, title: `calls in the order of ${diff.baseline.label}` },
              y: { field: 'start_delta_ms', type: 'quantitative', title: 'start Δ (ms)', axis: { format: '+,~r' } },
              color,
              detail: { field: 'variant', type: 'nominal' },
              tooltip,
            },
          },
          ...markLayers(false),
        ],
      },
    ],
    resolve: { scale: { color: 'shared', x: 'shared' } },
    config: CHART_CONFIG,
  };
}

/** One line per variant: `timeout 5 s: +513 ms at poll (seq 34); stream policy from seq 34; ended +513 ms later`. */
export function diffSummaryLine(v: VariantDiff): string {
  const parts: string[] = [];
  if (v.biggest && Math.abs(v.biggest.deltaMs) >= 0.001) parts.push(`${v.biggest.name} ${formatDeltaMs(v.biggest.deltaMs)} (seq ${v.biggest.varSeq}: ${formatMs(v.biggest.baseMs)} → ${formatMs(v.biggest.varMs)})`);
  if (v.switchPoint) parts.push(v.switchPoint.why);
  if (v.firstDifference) parts.push(`first difference at seq ${v.firstDifference.seq}: ${v.firstDifference.why}`);
  parts.push(`${v.onlyBaseline} calls only in the baseline, ${v.onlyVariant} only in this run`);
  parts.push(`last paired call ${formatDeltaMs(v.endDeltaMs)}`);
  return `${v.label}: ${parts.join('; ')}`;
}
