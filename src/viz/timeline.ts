// The syscall timeline: one lane per thread, one bar per syscall from its entry to its return,
// coloured by what it is about, failures marked in red, long blocking calls labelled. Rows are
// read column by column from the Arrow table (never as row objects), and a large log is binned
// per lane, class and time interval so the chart stays small: the long calls and the failures are
// what an analyst looks for, so those stay individual events even then.
import type { ChartSpec } from './render';
import { CHART_CONFIG, VEGA_LITE_SCHEMA } from './style';
import type { Table, Vector } from 'apache-arrow';
import { CLASS_COLORS, FAILURE_COLOR, SYSCALL_CLASSES, formatRet, syscallClass, type SyscallClass } from './classes';
import { round3 } from './columns';
import { formatMs } from '../format';

export interface TimelineOptions {
  title?: string;
  /** One lane per thread (default) or per process. */
  laneBy?: 'tid' | 'pid';
  /** Above this many events the chart is binned (default 5000); a binned chart has fewer rows than this. */
  maxRows?: number;
  /**
   * At most this many lanes (default 40): with more threads, the busiest keep a lane each (in
   * order of appearance) and the others share the last one, `N other threads`.
   */
  maxLanes?: number;
  /** Plot width in pixels (default 800). */
  width?: number;
}

/** One data row of the chart: an event, or a bin of events of one class in one lane. */
export interface TimelineRow {
  lane: string;
  /** Event sequence number; null for a bin. */
  seq: number | null;
  /** The first event the row stands for (its own seq, or a bin's first): where a click on it jumps. */
  first_seq: number;
  /** Syscall name, or e.g. `312 file calls` for a bin. */
  name: string;
  cls: SyscallClass;
  resource: string;
  /** Return value as text, with the errno name for failures (`-110 ETIMEDOUT`). */
  ret: string;
  start_ms: number;
  end_ms: number;
  /** Where the bar ends on screen: at least a couple of pixels after start_ms. */
  x2_ms: number;
  dur_ms: number;
  failed: boolean;
  /** Events this row stands for (1 for an event). */
  n: number;
  /** Bar opacity: 1 for events, lower for sparse bins. */
  alpha: number;
  /** Text drawn on long calls, else null. */
  label: string | null;
}

export interface TimelineMeta {
  chart: 'timeline';
  events: number;
  rows: number;
  lanes: string[];
  failures: number;
  binned: boolean;
  /** Width of a time bin when binned, else null. */
  bin_ms: number | null;
  /** The incident and the run (null for the recording) the events are of, from their columns. */
  incident: string | null;
  run: string | null;
}

/** A vega-lite v5 spec; `data.values` holds the rows and `usermeta.replaybook` describes them. */
export type TimelineSpec = ChartSpec<TimelineRow, TimelineMeta>;

const DEFAULT_MAX_ROWS = 5000;
const DEFAULT_MAX_LANES = 40;
/** At most this many individual long calls and failures are kept beside the bins. */
const KEEP_LONG = 250;
const KEEP_FAILED = 250;
/** Labelled calls: the longest few, if they take a noticeable share of the timeline. */
const LABEL_MAX = 8;
const LABEL_MIN_SHARE = 0.05;
/** Average width of a label character at font size 11, in pixels. */
const LABEL_CHAR_PX = 6.6;

const decoder = new TextDecoder();

function textColumn(table: Table, name: string, n: number, fallback: string): string[] {
  const v = table.getChild(name) as Vector | null;
  if (!v) return new Array<string>(n).fill(fallback);
  const raw = v.toArray() as ArrayLike<unknown>;
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const x = raw[i];
    out[i] = typeof x === 'string' ? x : x instanceof Uint8Array ? decoder.decode(x) : x == null ? fallback : String(x);
  }
  return out;
}

function intColumn(table: Table, name: string): ArrayLike<number | bigint> | null {
  const v = table.getChild(name) as Vector | null;
  return v ? (v.toArray() as ArrayLike<number | bigint>) : null;
}

function bigColumn(table: Table, name: string, n: number): ArrayLike<bigint> {
  const a = intColumn(table, name);
  if (!a) return new BigInt64Array(n);
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) return a;
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt(a[i] as number);
  return out;
}

function numColumn(table: Table, name: string): ArrayLike<number> | null {
  const a = intColumn(table, name);
  if (!a) return null;
  if (a instanceof BigInt64Array || a instanceof BigUint64Array) return Float64Array.from(a, Number);
  return a as ArrayLike<number>;
}


function canFail(kind: string): boolean {
  return kind !== 'signal' && kind !== 'exit' && kind !== 'late_data' && kind !== 'instruction';
}

/** Builds the vega-lite spec of a syscall timeline from an event table (src/events/schema.ts). */
export function timelineSpec(events: Table, opts: TimelineOptions = {}): TimelineSpec {
  const n = events.numRows;
  const width = opts.width ?? 800;
  const maxRows = Math.max(100, opts.maxRows ?? DEFAULT_MAX_ROWS);
  const laneBy = opts.laneBy ?? 'tid';

  // Columns, once each.
  const names = textColumn(events, 'name', n, 'unknown');
  const resources = textColumn(events, 'resource', n, '');
  const kinds = textColumn(events, 'kind', n, 'syscall');
  const enter = bigColumn(events, 'enter_ns', n);
  const dur = bigColumn(events, 'dur_ns', n);
  const ret = bigColumn(events, 'ret', n);
  const seqCol = numColumn(events, 'seq');
  const pidCol = numColumn(events, 'pid');
  const tidCol = numColumn(events, laneBy === 'pid' ? 'pid' : 'tid') ?? pidCol;

  // Lanes in order of first appearance.
  const pids = new Set<number>();
  if (pidCol) for (let i = 0; i < n; i++) pids.add(pidCol[i]);
  const manyPids = laneBy === 'tid' && pids.size > 1;
  const laneOf = new Map<string, number>();
  const lanes: string[] = [];
  const laneIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const id = tidCol ? tidCol[i] : 0;
    const key = manyPids && pidCol ? `${pidCol[i]}:${id}` : String(id);
    let li = laneOf.get(key);
    if (li === undefined) {
      li = lanes.length;
      laneOf.set(key, li);
      lanes.push(key);
    }
    laneIdx[i] = li;
  }
  // Many threads: the busiest keep their lanes, the rest share one (a chart of 500 lanes is
  // neither readable nor quick to draw).
  const maxLanes = Math.max(2, Math.floor(opts.maxLanes ?? DEFAULT_MAX_LANES));
  let mergedLanes = 0;
  if (lanes.length > maxLanes) {
    const counts = new Float64Array(lanes.length);
    for (let i = 0; i < n; i++) counts[laneIdx[i]]++;
    const busiest = new Set([...lanes.keys()].sort((a, b) => counts[b] - counts[a] || a - b).slice(0, maxLanes - 1));
    const remap = new Int32Array(lanes.length);
    const kept: string[] = [];
    for (let li = 0; li < lanes.length; li++) if (busiest.has(li)) remap[li] = kept.push(lanes[li]) - 1;
    mergedLanes = lanes.length - kept.length;
    const other = kept.push(`${mergedLanes} other ${laneBy === 'pid' ? 'processes' : 'threads'}`) - 1;
    for (let li = 0; li < lanes.length; li++) if (!busiest.has(li)) remap[li] = other;
    for (let i = 0; i < n; i++) laneIdx[i] = remap[laneIdx[i]];
    lanes.splice(0, lanes.length, ...kept);
  }

  // Times in milliseconds, classes, failures.
  const start = new Float64Array(n);
  const durMs = new Float64Array(n);
  const cls = new Array<SyscallClass>(n);
  const failed = new Uint8Array(n);
  const classCache = new Map<string, SyscallClass>();
  let t0 = Infinity;
  let t1 = -Infinity;
  let failures = 0;
  for (let i = 0; i < n; i++) {
    start[i] = Number(enter[i]) / 1e6;
    durMs[i] = Math.max(0, Number(dur[i]) / 1e6);
    if (start[i] < t0) t0 = start[i];
    if (start[i] + durMs[i] > t1) t1 = start[i] + durMs[i];
    const key = `${kinds[i]}\0${names[i]}\0${resources[i]}`;
    let c = classCache.get(key);
    if (c === undefined) {
      c = syscallClass(names[i], resources[i], kinds[i]);
      classCache.set(key, c);
    }
    cls[i] = c;
    if (ret[i] < 0n && canFail(kinds[i])) {
      failed[i] = 1;
      failures++;
    }
  }
  if (n === 0) {
    t0 = 0;
    t1 = 1;
  }
  const span = Math.max(t1 - t0, 1e-3);
  const minBarMs = (span / width) * 2; // two pixels: the shortest call still shows

  // Labels for the longest calls that take a visible share of the timeline.
  const labelled = new Set<number>();
  {
    const candidates: number[] = [];
    for (let i = 0; i < n; i++) if (durMs[i] >= span * LABEL_MIN_SHARE) candidates.push(i);
    candidates.sort((a, b) => durMs[b] - durMs[a]);
    for (const i of candidates.slice(0, LABEL_MAX)) labelled.add(i);
  }

  // A label goes on the bar only if it fits there: the full one, else just the call's name.
  const fitLabel = (i: number, retText: string): string | null => {
    const room = (durMs[i] / span) * width - 8;
    const full = `${names[i]} = ${retText} · ${formatMs(durMs[i])}`;
    if (full.length * LABEL_CHAR_PX <= room) return full;
    return names[i].length * LABEL_CHAR_PX <= room ? names[i] : null;
  };

  const eventRow = (i: number): TimelineRow => {
    const s = round3(start[i]);
    const d = round3(durMs[i]);
    const retText = formatRet(ret[i]);
    return {
      lane: lanes[laneIdx[i]],
      seq: seqCol ? seqCol[i] : i,
      first_seq: seqCol ? seqCol[i] : i,
      name: names[i],
      cls: cls[i],
      resource: resources[i],
      ret: retText,
      start_ms: s,
      end_ms: round3(start[i] + durMs[i]),
      x2_ms: round3(start[i] + Math.max(durMs[i], minBarMs)),
      dur_ms: d,
      failed: failed[i] === 1,
      n: 1,
      alpha: 1,
      label: labelled.has(i) ? fitLabel(i, retText) : null,
    };
  };

  const rows: TimelineRow[] = [];
  let binned = false;
  let binMs: number | null = null;
  const presentClasses = new Set<SyscallClass>(cls);

  if (n <= maxRows) {
    for (let i = 0; i < n; i++) rows.push(eventRow(i));
  } else {
    binned = true;
    const classIndex = new Map<SyscallClass, number>(SYSCALL_CLASSES.map((c, k) => [c, k]));
    const C = SYSCALL_CLASSES.length;
    // Individual events kept beside the bins (the longest calls, then failures) take at most a
    // tenth of the rows; the bins share the rest, however many lanes and classes there are.
    const keepLong = Math.min(KEEP_LONG, Math.floor(maxRows * 0.05));
    const keepFailed = Math.min(KEEP_FAILED, Math.floor(maxRows * 0.05));
    const slots = Math.max(1, lanes.length * presentClasses.size);
    const bins = Math.max(1, Math.min(400, Math.floor((maxRows * 0.88) / slots)));
    binMs = span / bins;

    const keep = new Uint8Array(n);
    const long: number[] = [];
    for (let i = 0; i < n; i++) if (durMs[i] >= binMs) long.push(i);
    long.sort((a, b) => durMs[b] - durMs[a]);
    for (const i of long.slice(0, keepLong)) keep[i] = 1;
    let keptFailures = 0;
    for (let i = 0; i < n && keptFailures < keepFailed; i++) {
      if (failed[i] && !keep[i]) {
        keep[i] = 1;
        keptFailures++;
      }
    }

    const count = new Map<number, number>();
    const busy = new Map<number, number>();
    const fails = new Map<number, number>();
    const firstSeq = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      if (keep[i]) continue;
      const b = Math.min(bins - 1, Math.floor((start[i] - t0) / binMs));
      const key = (laneIdx[i] * C + (classIndex.get(cls[i]) ?? C - 1)) * bins + b;
      count.set(key, (count.get(key) ?? 0) + 1);
      if (!firstSeq.has(key)) firstSeq.set(key, seqCol ? seqCol[i] : i);
      busy.set(key, (busy.get(key) ?? 0) + durMs[i]);
      if (failed[i]) fails.set(key, (fails.get(key) ?? 0) + 1);
    }
    let maxCount = 1;
    for (const c of count.values()) if (c > maxCount) maxCount = c;
    const keys = [...count.keys()].sort((a, b) => a - b);
    for (const key of keys) {
      const b = key % bins;
      const ci = Math.floor(key / bins) % C;
      const li = Math.floor(key / bins / C);
      const c = count.get(key) ?? 0;
      const f = fails.get(key) ?? 0;
      const s = t0 + b * binMs;
      const klass = SYSCALL_CLASSES[ci];
      rows.push({
        lane: lanes[li],
        seq: null,
        first_seq: firstSeq.get(key) ?? 0,
        name: `${c} ${klass} call${c === 1 ? '' : 's'}`,
        cls: klass,
        resource: '',
        ret: f > 0 ? `${f} failed` : '',
        start_ms: round3(s),
        end_ms: round3(s + binMs),
        x2_ms: round3(s + binMs),
        dur_ms: round3(busy.get(key) ?? 0),
        failed: f > 0,
        n: c,
        alpha: round3(0.35 + (0.65 * Math.log(1 + c)) / Math.log(1 + maxCount)),
        label: null,
      });
    }
    for (let i = 0; i < n; i++) if (keep[i]) rows.push(eventRow(i));
  }

  // Encoding. Binned charts split each lane into one sub-row per class, so bins of different
  // classes in the same interval do not hide each other.
  const classesShown = SYSCALL_CLASSES.filter((c) => presentClasses.has(c));
  const laneTitle = laneBy === 'pid' ? 'process (pid)' : manyPids ? 'thread (pid:tid)' : 'thread (tid)';
  const laneStep = binned ? Math.max(26, 11 * classesShown.length + 8) : 26;
  const y: Record<string, unknown> = {
    field: 'lane',
    type: 'nominal',
    title: laneTitle,
    sort: lanes,
    scale: { domain: lanes, paddingInner: 0.25, paddingOuter: 0.15 },
    axis: { labelLimit: 160 },
  };
  const shared: Record<string, unknown> = { y };
  if (binned) shared.yOffset = { field: 'cls', type: 'nominal', scale: { domain: classesShown, paddingInner: 0.1 } };

  const tooltip = [
    { field: 'name', type: 'nominal', title: 'syscall' },
    { field: 'lane', type: 'nominal', title: laneTitle },
    { field: 'resource', type: 'nominal', title: 'resource' },
    { field: 'ret', type: 'nominal', title: 'returned' },
    { field: 'start_ms', type: 'quantitative', title: 'start (ms)', format: ',.3f' },
    { field: 'dur_ms', type: 'quantitative', title: binned ? 'duration / busy (ms)' : 'duration (ms)', format: ',.3f' },
    { field: 'seq', type: 'quantitative', title: 'seq', format: 'd' },
    ...(binned ? [{ field: 'n', type: 'quantitative', title: 'events' }] : []),
  ];
  const x = {
    field: 'start_ms',
    type: 'quantitative',
    title: 'time since recording start (ms)',
    scale: { domain: [round3(t0), round3(t0 + span + minBarMs)], nice: false, zero: false },
    axis: { grid: true, gridOpacity: 0.35, format: ',.0f' },
  };

  const incident = n > 0 ? textColumn(events.slice(0, 1), 'incident_id', 1, '')[0] : '';
  const run = n > 0 ? textColumn(events.slice(0, 1), 'run_id', 1, '')[0] : '';
  const title =
    opts.title ?? (incident ? `Syscall timeline · ${incident}${run ? ` · ${run}` : ''}` : 'Syscall timeline');
  const subtitle =
    `${n.toLocaleString('en-US')} events · ${lanes.length} lane${lanes.length === 1 ? '' : 's'} · ` +
    `${failures} failed (red)` +
    (mergedLanes ? ` · ${mergedLanes} quieter ${laneBy === 'pid' ? 'processes' : 'threads'} share the last lane` : '') +
    (binned ? ` · binned per ${formatMs(binMs ?? 0)}, long calls and failures kept` : '');

  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: title, subtitle, anchor: 'start' },
    width,
    // `for: 'position'`: the step is a whole lane even when class sub-rows split it.
    height: { step: laneStep, for: 'position' },
    data: { values: rows },
    usermeta: {
      replaybook: { chart: 'timeline', events: n, rows: rows.length, lanes, failures, binned, bin_ms: binMs, incident: incident || null, run: run || null },
    },
    encoding: shared,
    layer: [
      {
        mark: { type: 'rect', strokeWidth: 1.5 },
        encoding: {
          x,
          x2: { field: 'x2_ms' },
          color: {
            field: 'cls',
            type: 'nominal',
            title: 'class',
            scale: { domain: [...SYSCALL_CLASSES], range: SYSCALL_CLASSES.map((c) => CLASS_COLORS[c]) },
            legend: { orient: 'bottom', direction: 'horizontal' },
          },
          opacity: { field: 'alpha', type: 'quantitative', scale: null },
          stroke: { condition: { test: 'datum.failed', value: FAILURE_COLOR }, value: null },
          tooltip,
        },
      },
      {
        // Failures: a red marker on the lane's top edge at the call's start, visible however short
        // the call was.
        transform: [{ filter: 'datum.failed' }],
        mark: { type: 'point', shape: 'triangle-down', filled: true, size: 45, color: FAILURE_COLOR, opacity: 1 },
        encoding: { x, y: { ...y, bandPosition: 0 }, tooltip },
      },
      {
        // The long blocking calls, named on the chart.
        transform: [{ filter: 'datum.label != null' }],
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 11, color: '#1b1b1b' },
        encoding: { x, text: { field: 'label', type: 'nominal' } },
      },
    ],
    config: CHART_CONFIG,
  };
}
