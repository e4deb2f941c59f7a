// Charts of many runs: the outcome matrix of a fix verification (or of runMany), and a side by
// side comparison of injection variants. vega-lite 5 specs with their data inline, rendered and
// shown like the timeline (src/viz/render.ts, src/notebook/bundle.ts).
import type { ChartSpec } from './render';
import { CHART_CONFIG, VEGA_LITE_SCHEMA } from './style';
import { Table, type RecordBatch, type Vector } from 'apache-arrow';
import type { RunResult } from '../replay/replay';
import { successTest, type ManyRuns, type RunSummary, type SuccessPredicate, type Verdict } from '../replay/verify';
import { FAILURE_COLOR } from './classes';
import { round3 } from './columns';
import { formatMs, lastLine } from '../format';
import { runStatus } from '../replay/describe';

const SUCCESS_COLOR = '#2ca02c';
const EMPTY_COLOR = '#f3f3f3';


/** Breaks a long line at spaces into lines of at most `width` characters (vega titles do not wrap). */
export function wrapText(s: string, width = 110): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of s.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The outcome matrix

/** One cell of the matrix: a run (column) and what is shown of it (row). */
export interface MatrixCell {
  run: string;
  /** Column order. */
  order: number;
  stage: 'baseline' | 'fix' | 'jittered' | 'run';
  row: 'outcome' | 'seed' | 'wall time';
  text: string;
  /** Cell colour: the run's outcome on the outcome row, 'none' elsewhere. */
  fill: 'success' | 'failure' | 'none';
  outcome: 'success' | 'failure';
  /** The run met what its stage expects (the baseline must fail, every other run succeed). */
  expected: boolean;
  status: string;
  seed: number | null;
  wall_ms: number;
  stdout: string;
  run_id: string;
}

export interface MatrixMeta {
  chart: 'outcome-matrix';
  runs: number;
  /** Runs that failed (a verdict's baseline among them, as it must). */
  failures: number;
  /** Runs that did not do what their step expects (a verdict's baseline must fail). */
  unexpected: number;
  verified: boolean | null;
}

export type MatrixSpec = ChartSpec<MatrixCell, MatrixMeta>;

const ROWS: MatrixCell['row'][] = ['outcome', 'seed', 'wall time'];

/**
 * The outcome matrix: one column per run (for a verdict: the baseline, the fix, then the jittered
 * runs), rows for the outcome (green success, red failure), the jitter seed and the wall time,
 * and below it the wall times as bars.
 */
export function outcomeMatrixSpec(x: Verdict | ManyRuns | RunSummary[], opts: { title?: string; step?: number } = {}): MatrixSpec {
  let runs: Array<{ s: RunSummary; stage: MatrixCell['stage']; name: string; expectSuccess: boolean }>;
  let title: string;
  let subtitle: string[];
  let verified: boolean | null = null;
  const step = opts.step ?? 74;
  const columns = Array.isArray(x) ? x.length : x.kind === 'verdict' ? x.jittered.length + 2 : x.runs.length;
  // Subtitle lines about as wide as the chart (11 px text: about 6.2 px a character).
  const wrapAt = Math.max(70, Math.floor((step * columns + 60) / 6.2));
  if (Array.isArray(x)) {
    runs = x.map((s) => ({ s, stage: 'run', name: String(s.index || s.label), expectSuccess: true }));
    title = opts.title ?? 'Runs';
    subtitle = [`${x.filter((s) => !s.success).length} of ${x.length} runs failed`];
  } else if (x.kind === 'verdict') {
    runs = [
      { s: x.baseline, stage: 'baseline', name: 'baseline', expectSuccess: false },
      { s: x.fixed, stage: 'fix', name: 'fix', expectSuccess: true },
      ...x.jittered.map((s) => ({ s, stage: 'jittered' as const, name: String(s.index), expectSuccess: true })),
    ];
    title = opts.title ?? `Fix verification · ${x.incident}`;
    subtitle = [...wrapText(x.reason, wrapAt), ...wrapText(`fix: ${x.fix.description.join('; ')} · success: ${x.success} · seed ${x.seed}, jitter up to ${x.jitterMs} ms`, wrapAt)];
    verified = x.verified;
  } else {
    runs = x.runs.map((s) => ({ s, stage: 'run', name: String(s.index), expectSuccess: true }));
    title = opts.title ?? `${x.runs.length} runs · ${x.incident}`;
    subtitle = wrapText(`${x.succeeded} succeeded, ${x.failed} failed · success: ${x.success} · seed ${x.seed}, jitter up to ${x.jitterMs} ms`, wrapAt);
  }

  const values: MatrixCell[] = [];
  runs.forEach(({ s, stage, name, expectSuccess }, order) => {
    const outcome = s.success ? 'success' : 'failure';
    for (const row of ROWS) {
      const text = row === 'outcome' ? (s.success ? 'ok' : 'fail') : row === 'seed' ? (s.seed === null ? '–' : String(s.seed)) : formatMs(s.wallMs);
      values.push({
        run: name,
        order,
        stage,
        row,
        text,
        fill: row === 'outcome' ? outcome : 'none',
        outcome,
        expected: s.success === expectSuccess,
        status: s.status,
        seed: s.seed,
        wall_ms: round3(s.wallMs),
        stdout: lastLine(s.stdout, 120),
        run_id: s.runId,
      });
    }
  });

  const order = runs.map((r) => r.name);
  const xEnc = {
    field: 'run',
    type: 'ordinal',
    sort: order,
    title: verified === null ? 'run' : 'run (the baseline must fail; the fix and every jittered run must succeed)',
    axis: { labelAngle: 0, orient: 'top' },
  };
  const tooltip = [
    { field: 'run', type: 'nominal', title: 'run' },
    { field: 'status', type: 'nominal', title: 'status' },
    { field: 'outcome', type: 'nominal', title: 'outcome' },
    { field: 'seed', type: 'quantitative', title: 'jitter seed', format: 'd' },
    { field: 'wall_ms', type: 'quantitative', title: 'wall time (ms)', format: ',.1f' },
    { field: 'stdout', type: 'nominal', title: 'stdout' },
    { field: 'run_id', type: 'nominal', title: 'run id' },
  ];
  const color = {
    field: 'fill',
    type: 'nominal',
    title: 'outcome',
    scale: { domain: ['success', 'failure', 'none'], range: [SUCCESS_COLOR, FAILURE_COLOR, EMPTY_COLOR] },
    legend: { values: ['success', 'failure'], orient: 'bottom', direction: 'horizontal' },
  };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: title, subtitle, anchor: 'start' },
    data: { values },
    usermeta: {
      replaybook: {
        chart: 'outcome-matrix',
        runs: runs.length,
        failures: runs.filter((r) => !r.s.success).length,
        unexpected: runs.filter((r) => r.s.success !== r.expectSuccess).length,
        verified,
      },
    },
    vconcat: [
      {
        width: { step },
        height: { step: 26 },
        encoding: {
          x: xEnc,
          y: { field: 'row', type: 'ordinal', sort: ROWS, title: null, axis: { labelFontSize: 11 } },
          tooltip,
        },
        layer: [
          {
            mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
            encoding: {
              color,
              // A run that did not do what its stage expects gets a dark outline.
              stroke: { condition: { test: "datum.row === 'outcome' && !datum.expected", value: '#1b1b1b' }, value: 'white' },
            },
          },
          {
            mark: { type: 'text', fontSize: 11, baseline: 'middle' },
            encoding: {
              text: { field: 'text', type: 'nominal' },
              color: { condition: { test: "datum.fill !== 'none'", value: 'white' }, value: '#1b1b1b' },
            },
          },
        ],
      },
      {
        width: { step },
        height: 110,
        transform: [{ filter: "datum.row === 'wall time'" }],
        encoding: {
          x: { ...xEnc, title: null, axis: { labelAngle: 0 } },
          tooltip,
        },
        layer: [
          {
            mark: { type: 'bar', width: { band: 0.6 } },
            encoding: {
              y: { field: 'wall_ms', type: 'quantitative', title: 'wall time (ms)' },
              color: { ...color, field: 'outcome' },
            },
          },
        ],
      },
    ],
    resolve: { scale: { color: 'shared' } },
    config: CHART_CONFIG,
  };
}

// ---------------------------------------------------------------------------------------------
// Variant comparison

/** A run with the name it has in the comparison (`timeout 2 s`, `latency 500 ms`). */
export interface Variant {
  label: string;
  run: RunResult;
}

export interface VariantRow {
  label: string;
  order: number;
  outcome: 'success' | 'failure';
  status: string;
  wall_ms: number;
  /** The longest call as the program saw it (virtual clock under the stream policy), or null. */
  wait_ms: number | null;
  wait_call: string | null;
  /** Where the timing comes from: the run's events, or the recording (a strict run follows it). */
  wait_from: 'run' | 'recording' | 'none';
  switched_at: number | null;
  diverged_at: number | null;
  policy: 'strict' | 'stream';
  stdout: string;
  run_id: string;
  /** Text at the end of the timing bar, and where it goes (0 when there is no timing). */
  note: string;
  note_x: number;
}

export interface VariantMeta {
  chart: 'variant-comparison';
  variants: number;
  failures: number;
}

export type VariantSpec = ChartSpec<VariantRow, VariantMeta>;

const decoder = new TextDecoder();

/** The longest syscall of an event log (name and milliseconds), or null for an empty one. */
export function longestCall(events: Table | RecordBatch[]): { name: string; ms: number; seq: number } | null {
  const t = events instanceof Table ? events : new Table(events);
  const n = t.numRows;
  if (n === 0) return null;
  const kinds = t.getChild('kind') as Vector | null;
  const names = t.getChild('name') as Vector | null;
  const durs = t.getChild('dur_ns') as Vector | null;
  const seqs = t.getChild('seq') as Vector | null;
  if (!names || !durs) return null;
  let best = -1;
  let bestDur = -1;
  for (let i = 0; i < n; i++) {
    const kind = kinds?.get(i) as unknown;
    const k = kind instanceof Uint8Array ? decoder.decode(kind) : kind;
    if (k !== undefined && k !== null && k !== 'syscall') continue;
    const d = Number(durs.get(i) as bigint | number);
    if (d > bestDur) {
      bestDur = d;
      best = i;
    }
  }
  if (best < 0) return null;
  const name = names.get(best) as unknown;
  return {
    name: name instanceof Uint8Array ? decoder.decode(name) : String(name),
    ms: round3(bestDur / 1e6),
    seq: seqs ? Number(seqs.get(best) as bigint | number) : best,
  };
}

/** The rows of a variant comparison (also what the chart shows). */
export function variantRows(variants: Variant[], opts: { success?: SuccessPredicate; recorded?: Table | RecordBatch[] } = {}): VariantRow[] {
  const test = successTest(opts.success);
  const recordedLongest = opts.recorded ? longestCall(opts.recorded) : null;
  return variants.map(({ label, run }, order) => {
    // A strict run follows the log: its timing is the recording's (at speed max its own calls
    // take no time). Under the stream policy the run's events carry the virtual clock.
    let wait = run.policy === 'stream' || run.speed !== 'max' ? longestCall(run.batches) : null;
    let from: VariantRow['wait_from'] = wait ? 'run' : 'none';
    if (!wait && recordedLongest && !run.divergence) {
      wait = recordedLongest;
      from = 'recording';
    }
    const ok = test(run);
    const status = runStatus(run);
    return {
      label,
      order,
      outcome: ok ? 'success' : 'failure',
      status,
      wall_ms: round3(run.wallMs),
      wait_ms: wait ? wait.ms : null,
      wait_call: wait ? wait.name : null,
      wait_from: from,
      switched_at: run.switchedAt ? run.switchedAt.seq : null,
      diverged_at: run.divergence ? run.divergence.seq : null,
      policy: run.policy,
      stdout: lastLine(run.stdout.toString('utf8'), 120),
      run_id: run.runId,
      note_x: wait ? wait.ms : 0,
      note: `${status}${wait ? ` · ${wait.name} ${formatMs(wait.ms)}` : ''}${run.switchedAt ? ` · stream from seq ${run.switchedAt.seq}` : ''}`,
    };
  });
}

/**
 * Injection variants side by side: per variant, its outcome (colour), the longest call as the
 * program saw it (e.g. the poll that timed out or got its answer) and the wall time of the replay.
 * `recorded` (the incident's events) gives strict runs, which follow the log, their recorded timing.
 */
export function variantComparisonSpec(
  variants: Variant[],
  opts: { title?: string; success?: SuccessPredicate; recorded?: Table | RecordBatch[]; width?: number } = {},
): VariantSpec {
  const values = variantRows(variants, opts);
  const labels = values.map((v) => v.label);
  const width = opts.width ?? 420;
  const failures = values.filter((v) => v.outcome === 'failure').length;
  const incident = variants[0]?.run.incident ?? '';
  const y = { field: 'label', type: 'nominal', sort: labels, title: null, axis: { labelLimit: 320 } };
  const color = {
    field: 'outcome',
    type: 'nominal',
    title: 'outcome',
    scale: { domain: ['success', 'failure'], range: [SUCCESS_COLOR, FAILURE_COLOR] },
    legend: { orient: 'bottom', direction: 'horizontal' },
  };
  const tooltip = [
    { field: 'label', type: 'nominal', title: 'variant' },
    { field: 'status', type: 'nominal', title: 'status' },
    { field: 'wait_call', type: 'nominal', title: 'longest call' },
    { field: 'wait_ms', type: 'quantitative', title: 'its duration (ms)', format: ',.1f' },
    { field: 'wait_from', type: 'nominal', title: 'timing from' },
    { field: 'switched_at', type: 'quantitative', title: 'stream policy from seq', format: 'd' },
    { field: 'diverged_at', type: 'quantitative', title: 'diverged at seq', format: 'd' },
    { field: 'wall_ms', type: 'quantitative', title: 'wall time (ms)', format: ',.1f' },
    { field: 'stdout', type: 'nominal', title: 'stdout' },
  ];
  const maxWait = Math.max(1, ...values.map((v) => v.wait_ms ?? 0));
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: {
      text: opts.title ?? `Variants${incident ? ` · ${incident}` : ''}`,
      subtitle: `${values.length} variants, ${failures} failed · bars: the longest call as the program saw it (virtual clock), and the replay's wall time`,
      anchor: 'start',
    },
    data: { values },
    usermeta: { replaybook: { chart: 'variant-comparison', variants: values.length, failures } },
    hconcat: [
      {
        width,
        height: { step: 30 },
        encoding: { y, tooltip },
        layer: [
          {
            transform: [{ filter: 'datum.wait_ms != null' }],
            mark: { type: 'bar', height: { band: 0.65 } },
            encoding: {
              x: { field: 'wait_ms', type: 'quantitative', title: 'longest call (ms, as the program saw it)', scale: { domain: [0, maxWait * 1.6] } },
              color,
            },
          },
          {
            mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 11, color: '#1b1b1b' },
            encoding: {
              x: { field: 'note_x', type: 'quantitative', scale: { domain: [0, maxWait * 1.6] } },
              text: { field: 'note', type: 'nominal' },
            },
          },
        ],
      },
      {
        width: 160,
        height: { step: 30 },
        encoding: { y: { ...y, axis: null }, tooltip },
        layer: [
          {
            mark: { type: 'bar', height: { band: 0.65 }, opacity: 0.7 },
            encoding: { x: { field: 'wall_ms', type: 'quantitative', title: 'wall time (ms)' }, color },
          },
        ],
      },
    ],
    config: CHART_CONFIG,
  };
}
