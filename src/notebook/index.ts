// The notebook API: what the replaybook kernel preloads as globals. Objects here display
// themselves richly (display(x)) and print as one line when they are a cell's value.
import * as util from 'node:util';
import { Table, tableFromArrays, type RecordBatch } from 'apache-arrow';
import type { IncidentInfo } from '../events/schema';
import { ReplaybookError } from '../errors';
import { replay as replayIncident } from '../replay/replay';
import type { ReplayChanges, ReplayOptions, RunResult } from '../replay/run';
import { exitStatus, runStatus } from '../replay/describe';
import { ReplaySession } from '../replay/session';
import { setEngineProcessGroups } from '../engine/engine';
import { record as recordIncident, type RecordOptions } from '../record/record';
import { transactions as findTransactions, type Transaction } from '../analysis/transactions';
import { escapeHtml } from '../escape';
import { openEventStore } from '../store/open';
import type { EventStore, IncidentFilter } from '../store/types';
import { timelineSpec, type TimelineOptions } from '../viz/timeline';
import {
  arrowTableBundle,
  chartBundle,
  comparisonBundle,
  divergenceBundle,
  errorBundle,
  eventLogBundle,
  livePreviewBundle,
  incidentsBundle,
  isDivergence,
  isSessionState,
  manyRunsBundle,
  runBundle,
  sessionStateBundle,
  isBacktrace,
  backtraceBundle,
  isFrameVariables,
  variablesBundle,
  storedRunsBundle,
  transactionsBundle,
  verdictBundle,
  type MimeBundle,
} from './bundle';
import { SQL_VALUE, SqlFragment, fragment as sqlFragment, id as sqlId, isTemplate, join as sqlJoin, raw as sqlRaw, toQuery, type SqlParams, type SqlQuery } from './sql';
import { injectionsLabel, storedRun, type StoredRun } from './runs';
import { timingDiff, timingDiffSpec, type DiffInput, type TimingDiff } from '../viz/diff';
import { causalGraph as buildCausalGraph, causalGraphSpec, type CausalEdge, type CausalGraph, type CausalNode, type CausalOptions } from '../viz/causal';
import { plotSpec, type PlotOptions } from '../viz/plot';
import { delay, fail, latency, timeout, type Injection } from '../inject';
import {
  isManyRuns,
  isVerdict,
  runMany as runManyRuns,
  verifyFix as verifyFixRuns,
  type Fix,
  type ManyRuns,
  type RunManyOptions,
  type RunProgress,
  type Verdict,
  type VerifyOptions,
} from '../replay/verify';
import { outcomeMatrixSpec, variantComparisonSpec, type Variant } from '../viz/verdict';
import type { SuccessPredicate } from '../replay/verify';
import { shownId } from '../events/ids';
import * as widgets from '../widgets';
import { button, dropdown, hbox, html, output, play, slider, vbox } from '../widgets';
import { ReplayPanel, type PanelOptions } from '../panel/panel';

/** Injections for counterfactual replays: delay('poll', { enterUs: 500000 }), fail(...), ... */
export { delay, fail, latency, timeout };
export { button, dropdown, hbox, html, output, play, slider, vbox, widgets, ReplayPanel };
export type { PanelOptions };

// Arrow's classes, re-exported so that a cell's `const t = await sql`...`` type-checks wherever
// the notebook lives: tslab names a cell's inferred types through a module the kernel imported,
// and apache-arrow itself may not be reachable from the notebook's folder.
export { Table, RecordBatch, Vector, Schema, Field, DataType, tableFromArrays } from 'apache-arrow';

const DISPLAY = Symbol.for('replaybook.display');

/** Anything that knows its own display bundle (or bundles: a table, then a chart). */
interface Displayable {
  [DISPLAY](): MimeBundle | MimeBundle[];
}

function isDisplayable(x: unknown): x is Displayable {
  return typeof x === 'object' && x !== null && typeof (x as Partial<Displayable>)[DISPLAY] === 'function';
}

let store: EventStore | undefined;
let inKernel = false;

/**
 * The store the notebook works on, found as the CLI finds it: $REPLAYBOOK_CLICKHOUSE_URL's
 * server, else the embedded store found from the kernel's folder.
 */
export async function notebookStore(): Promise<EventStore> {
  store ??= await openEventStore();
  return store;
}

function oneLine(s: string, max = 60): string {
  const t = JSON.stringify(s);
  return t.length > max ? t.slice(0, max - 2) + '…"' : t;
}


/** A recorded event log (one run's events) as an Arrow table. */
export class EventLog implements Displayable {
  constructor(
    readonly table: Table,
    readonly title: string,
  ) {}
  get length(): number {
    return this.table.numRows;
  }
  [DISPLAY](): MimeBundle {
    return eventLogBundle(this.table, { title: this.title });
  }
  [util.inspect.custom](): string {
    return `EventLog(${this.title}: ${this.length} events)`;
  }
}

/** The incidents in the store. */
export class IncidentList implements Displayable {
  constructor(readonly list: IncidentInfo[]) {}
  get length(): number {
    return this.list.length;
  }
  get ids(): string[] {
    return this.list.map((i) => i.incident_id);
  }
  [DISPLAY](): MimeBundle {
    return incidentsBundle(this.list);
  }
  [util.inspect.custom](): string {
    const shown = this.list.slice(0, 5).map((i) => `${i.incident_id} (${exitStatus(i.exit_code, i.exit_signal)})`);
    return `${this.length} incident${this.length === 1 ? '' : 's'}${shown.length ? ': ' + shown.join(', ') : ''}${this.length > 5 ? ', …' : ''}`;
  }
}

/** One incident: its row and its recorded events. */
export class Incident implements Displayable {
  constructor(
    readonly info: IncidentInfo,
    readonly events: EventLog,
  ) {}
  get id(): string {
    return this.info.incident_id;
  }
  /** In sql`...`, an incident stands for its id. */
  [SQL_VALUE](): string {
    return this.id;
  }
  [DISPLAY](): MimeBundle {
    return eventLogBundle(this.events.table, { title: `incident ${this.id} — ${this.info.service}, ${exitStatus(this.info.exit_code, this.info.exit_signal)}` });
  }
  [util.inspect.custom](): string {
    return `Incident(${this.id}: ${this.info.service}, ${exitStatus(this.info.exit_code, this.info.exit_signal)}, ${this.events.length} events)`;
  }
}

/** One replay run. */
export class Run implements Displayable {
  readonly events: EventLog;
  constructor(readonly result: RunResult) {
    this.events = new EventLog(new Table(result.batches), `run ${result.runId}`);
  }
  get id(): string {
    return this.result.runId;
  }
  get exitCode(): number | null {
    return this.result.exitCode;
  }
  get stdout(): string {
    return this.result.stdout.toString('utf8');
  }
  get divergence(): RunResult['divergence'] {
    return this.result.divergence;
  }
  get reproduced(): boolean {
    return this.result.reproduced;
  }
  /** In sql`...`, a run stands for its run id. */
  [SQL_VALUE](): string {
    return this.id;
  }
  [DISPLAY](): MimeBundle {
    return runBundle(this.result);
  }
  [util.inspect.custom](): string {
    const r = this.result;
    const what = r.divergence ? runStatus(r) : `${runStatus(r)}, stdout ${oneLine(this.stdout)}`;
    return `Run(${r.runId} of ${r.incident}: ${what}${r.reproduced ? ', reproduced' : ''})`;
  }
}

/** A chart, rendered once (vega-lite spec + PNG), displayable in any Jupyter front end. */
export class Chart implements Displayable {
  private constructor(
    readonly spec: object,
    private readonly bundle: MimeBundle,
  ) {}
  static async of(spec: object): Promise<Chart> {
    return new Chart(spec, await chartBundle(spec));
  }
  [DISPLAY](): MimeBundle {
    return this.bundle;
  }
  [util.inspect.custom](): string {
    return String(this.bundle['text/plain'] ?? 'Chart');
  }
}

export async function incidents(filter?: IncidentFilter): Promise<IncidentList> {
  return new IncidentList(await (await notebookStore()).incidents(filter));
}

export async function fetchIncident(id: string): Promise<Incident> {
  const s = await notebookStore();
  const info = await s.incident(id);
  if (!info) throw new ReplaybookError('unknown_incident', `unknown incident ${shownId(id)}: incidents() lists the recorded ones (the demo records 'payment-timeout': npm run demo)`);
  return new Incident(info, new EventLog(await s.eventsTable(id), `incident ${id}`));
}

/**
 * What record() takes in a notebook: the recorder's own options (src/record/record.ts, redaction
 * rules included: `redact`, `defaultRedact`), the store and interruption being the notebook's.
 */
export type NotebookRecordOptions = Omit<RecordOptions, 'store' | 'signal'>;

/**
 * Records a service as an incident and returns it. Secrets are redacted before anything is
 * stored (the default rules, plus `redact: ['env:DB_*', 'header:X-Session', 'bytes:...',
 * 'file:/etc/app/tls.key']`); interrupting the cell stops the recording and kills the service.
 */
export async function record(opts: NotebookRecordOptions): Promise<Incident> {
  const ac = new AbortController();
  running.set(ac, widgets.currentCell());
  try {
    listenForInterrupts();
    const r = await recordIncident({ ...opts, store: await notebookStore(), signal: ac.signal });
    return await fetchIncident(r.incident.incident_id);
  } finally {
    running.delete(ac);
  }
}

/**
 * A notebook's replay options: ReplayOptions' speed and changes (injections, binary, jitter,
 * unrecorded, label); the notebook supplies the store and the interrupt signal.
 */
type NotebookRunOptions = Pick<ReplayOptions, 'speed'> & ReplayChanges;

export interface NotebookReplayOptions extends NotebookRunOptions {
  /**
   * Show the run's timeline growing in one output while it runs (redrawn every `everyMs`,
   * default 500), then the complete timeline. Meant for replays at 1× or slower.
   */
  live?: boolean | { everyMs?: number };
}

export interface NotebookSessionOptions extends NotebookRunOptions {
  /** Open paused at the first event (default true). */
  paused?: boolean;
  /** Open paused at a transaction ('tx-7') or an event (seq), fast-forwarded there. */
  at?: string | number;
}

// Runs in progress, with the cell that started each: interrupting a cell stops its runs.
const running = new Map<AbortController, number | null>();
let listening = false;

/**
 * Jupyter's interrupt is SIGINT; tslab only abandons the awaited promise, so replaybook listens
 * itself and stops the runs and panels of the interrupted cell (killing their programs); those of
 * other cells go on. Jupyter signals the kernel's whole process group, so in the kernel the
 * engines lead groups of their own (setEngineProcessGroups) and only this listener stops them.
 * The listener is installed once, outside any cell: one added while tslab runs a cell's
 * synchronous part (vm's breakOnSigint) leaves the process with the default SIGINT action, and
 * the next interrupt would kill the kernel.
 */
function listenForInterrupts(): void {
  if (listening) return;
  listening = true;
  process.on('SIGINT', () => {
    // The cell being interrupted (or, when none runs, the last one run).
    const cell = widgets.currentCell();
    for (const [ac, from] of running) if (from === cell) ac.abort();
    for (const p of panels) {
      if (p.cell === cell) {
        panels.delete(p);
        void p.close();
      }
    }
  });
}

/** Replays an incident; interrupting the cell stops the replay and kills its program. */
export async function replay(incident: string | Incident, opts: NotebookReplayOptions = {}): Promise<Run> {
  const id = typeof incident === 'string' ? incident : incident.id;
  const ac = new AbortController();
  running.set(ac, widgets.currentCell());
  try {
    listenForInterrupts();
    const { live, ...run } = opts;
    const o: ReplayOptions = { ...run, speed: run.speed ?? 1, store: await notebookStore(), signal: ac.signal };
    if (!live) return new Run(await replayIncident(id, o));
    const everyMs = typeof live === 'object' ? (live.everyMs ?? 500) : 500;
    return new Run(await liveReplay(id, o, everyMs));
  } finally {
    running.delete(ac);
  }
}

/**
 * A replay whose timeline grows in one output (update_display_data) as its events are served: a
 * PNG redrawn at most every `everyMs` while it runs, then the complete chart bundle.
 */
async function liveReplay(id: string, o: ReplayOptions, everyMs: number): Promise<RunResult> {
  const s = await ReplaySession.open(id, o);
  const displayId = `replaybook-live-${Math.random().toString(16).slice(2)}`;
  let shown = false;
  const show = (data: MimeBundle): void => {
    const channel = kernelChannel();
    if (!channel) return;
    channel({ data, metadata: {}, transient: { display_id: displayId } }, shown);
    shown = true;
  };
  const title = `${id} — replay at ${o.speed === 'max' ? 'max speed' : `${o.speed}×`}`;
  const batches: RecordBatch[] = [];
  let drawing: Promise<void> | null = null;
  let last = 0;
  const started = Date.now();
  const draw = async (): Promise<void> => {
    const events = batches.reduce((n, b) => n + b.numRows, 0);
    const note = `live: ${events} events served · ${((Date.now() - started) / 1000).toFixed(1)} s`;
    show(await livePreviewBundle(timelineSpec(new Table(batches.slice()), { title: `${title} (${note})` }), note));
  };
  for await (const b of s.events()) {
    batches.push(b);
    if (!drawing && Date.now() - last >= everyMs) {
      last = Date.now();
      drawing = draw()
        .catch(() => undefined)
        .finally(() => {
          drawing = null;
        });
    }
  }
  const result = await s.done;
  await drawing;
  show(await chartBundle(timelineSpec(new Table(result.batches), { title: `${id} — replay ${result.runId}` })));
  return result;
}

/**
 * A controllable replay (the replay panel): step(n), pause(), resume(), speed(x), jumpTo(seq),
 * state(), readMemory(tid, addr, len), stop(), events(), done. Opened paused unless
 * { paused: false }. Interrupting a cell stops it like any replay.
 */
export async function session(incident: string | Incident, opts: NotebookSessionOptions = {}): Promise<ReplaySession> {
  const id = typeof incident === 'string' ? incident : incident.id;
  const { paused, at, ...run } = opts;
  const ac = new AbortController();
  running.set(ac, widgets.currentCell());
  listenForInterrupts();
  const s = await ReplaySession.open(id, { ...run, speed: run.speed ?? 1, store: await notebookStore(), signal: ac.signal }, { paused: paused ?? true });
  s.done.then(
    () => running.delete(ac),
    () => running.delete(ac),
  );
  if (at !== undefined) {
    // Open at a transaction ('tx-7') or an event (seq): fast-forwarded, paused there.
    let seq: number;
    if (typeof at === 'number') seq = at;
    else {
      const tx = (await transactions(incident)).list.find((t) => t.id === at);
      if (!tx) throw new ReplaybookError('unknown_transaction', `incident ${id} has no transaction ${shownId(at)}: transactions(${shownId(id)}) lists them`);
      seq = tx.firstSeq;
    }
    await s.jumpTo(seq);
  }
  return s;
}

// Panels open in this kernel, with the cell that opened each (interrupting it stops them).
const panels = new Set<ReplayPanel>();

/**
 * The replay panel: one output that drives a replay of the incident with play/pause, step 1 and
 * step N, speed (0.1×–10×, max), a position slider, an event box and the clickable timeline, and
 * shows the state when paused, the injections in force (add/remove restarts the replay at the
 * same event) and the result when the run ends. { at: 'tx-7' } opens at a transaction. Needs
 * ipywidgets 8 in the front end (JupyterLab 4, Notebook 7); elsewhere a static view shows the
 * state and the calls to make. The returned panel is also driven from cells: await p.step(3),
 * p.jumpTo(120), p.state().
 */
export async function panel(incident: string | Incident, opts: PanelOptions = {}): Promise<ReplayPanel> {
  const inc = typeof incident === 'string' ? await fetchIncident(incident) : incident;
  const store = await notebookStore();
  listenForInterrupts();
  const p = new ReplayPanel(
    {
      incident: inc.id,
      events: inc.events.table,
      transactions: findTransactions(inc.events.table),
      replayOptions: (injections) => ({ speed: opts.speed ?? 1, injections, store }),
    },
    opts,
    widgets.currentCell(),
  );
  panels.add(p);
  // Shown at once (the widgets fill in as the replay opens), then shown again once open, so the
  // static view of front ends without ipywidgets 8 holds the opened state.
  const channel = kernelChannel();
  const transient = { display_id: p.id };
  if (channel) channel({ data: p.bundle() as MimeBundle, metadata: {}, transient }, false);
  try {
    await p.open();
  } catch (e) {
    await p.close(e instanceof Error ? e.message : String(e));
    panels.delete(p);
    throw e;
  }
  if (channel) channel({ data: p.bundle() as MimeBundle, metadata: {}, transient }, true);
  return p;
}

/** An incident's transactions: each accepted connection and each outgoing call, with timing. */
export class TransactionList implements Displayable {
  constructor(
    readonly incident: string,
    readonly list: Transaction[],
  ) {}
  get length(): number {
    return this.list.length;
  }
  [DISPLAY](): MimeBundle {
    return transactionsBundle(this.incident, this.list);
  }
  [util.inspect.custom](): string {
    return `${this.length} transaction${this.length === 1 ? '' : 's'} in ${this.incident}${this.list.length ? ': ' + this.list.slice(0, 4).map((t) => `${t.id} ${t.kind} ${t.resource} (${t.outcome})`).join(', ') : ''}`;
  }
}

export async function transactions(incident: string | Incident): Promise<TransactionList> {
  const inc = typeof incident === 'string' ? await fetchIncident(incident) : incident;
  return new TransactionList(inc.id, findTransactions(inc.events.table));
}

/** The timeline chart of a run, an incident or an event log. */
export async function timeline(x: Run | Incident | EventLog | Table, opts: TimelineOptions = {}): Promise<Chart> {
  const table = x instanceof Table ? x : x instanceof EventLog ? x.table : x.events.table;
  const title = opts.title ?? (x instanceof Run ? `${x.result.incident} — replay ${x.id}` : x instanceof Incident ? `${x.id} — recording` : undefined);
  const spec = timelineSpec(table, { ...opts, title });
  // Which events the marks are (a panel showing the chart jumps only to its own incident's).
  const meta = spec.usermeta.replaybook;
  if (x instanceof Run) Object.assign(meta, { incident: x.result.incident, run: x.id });
  else if (x instanceof Incident) Object.assign(meta, { incident: x.id, run: null });
  return Chart.of(spec);
}

/** The demo incident ('payment-timeout'), recorded now if the store does not have it yet. */
export async function demoIncident(): Promise<string> {
  const s = await notebookStore();
  const id = 'payment-timeout';
  if (await s.incident(id)) return id;
  const { recordPaymentIncident } = await import('../demo');
  await recordPaymentIncident(s, id);
  return id;
}

type WriteDisplayData = (msg: { data: MimeBundle; metadata: object; transient: object }, update: boolean) => void;

function kernelChannel(): WriteDisplayData | null {
  if (!inKernel) return null;
  // tslab's display channel: the only way to send several MIME types as one output.
  const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: WriteDisplayData | null };
  return jupyter.lastWriteDisplayData;
}

function bundlesOf(x: unknown): MimeBundle[] {
  if (isDisplayable(x)) {
    const b = x[DISPLAY]();
    return Array.isArray(b) ? b : [b];
  }
  // A verdict or a batch made without the notebook's verifyFix/runMany has no chart rendered:
  // its table only (outcomeChart(x) draws the chart).
  if (isVerdict(x)) return [verdictBundle(x)];
  if (isManyRuns(x)) return [manyRunsBundle(x)];
  if (x instanceof Table) return [arrowTableBundle(x)];
  if (isDivergence(x)) return [divergenceBundle(x)];
  if (isSessionState(x)) return [sessionStateBundle(x)];
  if (isBacktrace(x)) return [backtraceBundle(x)];
  if (isFrameVariables(x)) return [variablesBundle(x)];
  if (x instanceof Error) return [errorBundle(x)];
  if (typeof x === 'string') return [{ 'text/plain': x }];
  return [{ 'text/plain': util.inspect(x, { depth: 2, maxArrayLength: 20 }) }];
}

/** Shows incidents, event logs, runs, verdicts, charts, Arrow tables and errors as rich output. */
export function display(x: unknown): void {
  const channel = kernelChannel();
  for (const bundle of bundlesOf(x)) {
    if (channel) channel({ data: bundle, metadata: {}, transient: {} }, false);
    else process.stdout.write(String(bundle['text/plain'] ?? '') + '\n');
  }
}

/**
 * One output that long work rewrites in place (Jupyter's update_display_data); outside the
 * kernel, nothing.
 */
function progressOutput(): { show(line: string): void } {
  const id = `replaybook-progress-${Math.random().toString(16).slice(2)}`;
  let shown = false;
  return {
    show(line: string): void {
      const channel = kernelChannel();
      if (!channel) return;
      const data = { 'text/plain': line, 'text/html': `<div class="replaybook" style="font-family:monospace;font-size:12px;opacity:.8">${escapeHtml(line)}</div>` };
      channel({ data, metadata: {}, transient: { display_id: id } }, shown);
      shown = true;
    },
  };
}

function progressLine(p: RunProgress, done: number, total: number): string {
  const what = p.stage === 'baseline' ? 'baseline' : p.stage === 'fix' ? 'fix (no jitter)' : `run ${p.index}/${p.total} (seed ${p.seed})`;
  if (p.run === null) return `[${done + 1}/${total}] ${what} …`;
  return `[${done}/${total}] ${what}: ${p.run.status}, ${p.run.success ? 'success' : 'failure'} · ${p.run.wallMs.toFixed(0)} ms`;
}

/** Gives `x` its display bundles: the table, then the rendered chart. */
function withDisplay<T extends object>(x: T, bundles: MimeBundle[]): T {
  Object.defineProperty(x, DISPLAY, { value: () => bundles, enumerable: false });
  return x;
}

/** The outcome matrix of a verdict or of runMany's runs, as a chart. */
export async function outcomeChart(x: Verdict | ManyRuns, opts: { title?: string } = {}): Promise<Chart> {
  return Chart.of(outcomeMatrixSpec(x, opts));
}

/**
 * Injection variants side by side (outcome, the longest call as the program saw it, wall time):
 * variantChart([['timeout 2 s', run2], ['timeout 5 s', run5]]) or [{ label, run }].
 */
export async function variantChart(
  variants: Array<[string, Run | RunResult] | { label: string; run: Run | RunResult }>,
  opts: { title?: string; success?: SuccessPredicate } = {},
): Promise<Chart> {
  const list: Variant[] = variants.map((v) => {
    const [label, run] = Array.isArray(v) ? v : [v.label, v.run];
    return { label, run: run instanceof Run ? run.result : run };
  });
  const incident = list[0]?.run.incident;
  const recorded = incident ? await (await notebookStore()).eventsTable(incident) : undefined;
  return Chart.of(variantComparisonSpec(list, { ...opts, recorded }));
}

export type NotebookRunManyOptions = Omit<RunManyOptions, 'store' | 'signal'>;
export type NotebookVerifyOptions = Omit<VerifyOptions, 'store' | 'signal'>;

/** Runs with a progress line in place and a stop on interrupt, like replay(). */
async function tracked<T>(total: number, work: (signal: AbortSignal, onProgress: (p: RunProgress) => void) => Promise<T>, user?: (p: RunProgress) => void): Promise<T> {
  const ac = new AbortController();
  running.set(ac, widgets.currentCell());
  listenForInterrupts();
  const out = progressOutput();
  let done = 0;
  try {
    return await work(ac.signal, (p) => {
      if (p.run) done++;
      out.show(progressLine(p, done, total));
      user?.(p);
    });
  } finally {
    running.delete(ac);
  }
}

/**
 * Replays an incident `runs` times with seeded jitter (reproducible from `seed`); speed 'max' by
 * default. display() shows the runs as a table and the outcome matrix.
 */
export async function runMany(incident: string | Incident, opts: NotebookRunManyOptions): Promise<ManyRuns> {
  const id = typeof incident === 'string' ? incident : incident.id;
  const store = await notebookStore();
  const m = await tracked(opts.runs, (signal, onProgress) => runManyRuns(id, { ...opts, store, signal, onProgress }), opts.onProgress);
  return withDisplay(m, [manyRunsBundle(m), await chartBundle(outcomeMatrixSpec(m))]);
}

/**
 * Verifies a fix: the recorded failure reproduces, the fix succeeds, and `runs` jittered runs of
 * it (default 10, up to 300 ms late) all succeed. `fix` is { injections, binary }, an injection,
 * or a list of them. display(verdict) shows the table of runs and the outcome matrix.
 */
export async function verifyFix(incident: string | Incident, fix: Fix | Injection | Injection[], opts: NotebookVerifyOptions = {}): Promise<Verdict> {
  const id = typeof incident === 'string' ? incident : incident.id;
  const store = await notebookStore();
  const asFix: Fix = Array.isArray(fix) ? { injections: fix } : 'kind' in fix && 'spec' in fix ? { injections: [fix] } : (fix as Fix);
  const total = (opts.runs ?? 10) + 2;
  const v = await tracked(total, (signal, onProgress) => verifyFixRuns(id, asFix, { ...opts, store, signal, onProgress }), opts.onProgress);
  return withDisplay(v, [verdictBundle(v), await chartBundle(outcomeMatrixSpec(v))]);
}

// ---------------------------------------------------------------------------------------------
// SQL over the event log

/** The sql tag: sql`SELECT ... WHERE incident_id = ${id}` runs over the store and returns an Arrow Table. */
export interface SqlTag {
  (strings: TemplateStringsArray, ...values: unknown[]): Promise<Table>;
  /** A query written out, with its own {name:Type} parameters: sql('SELECT {n:UInt32}', { n: 3 }). */
  (query: string, params?: SqlParams): Promise<Table>;
  /** A piece of SQL to put inside another: sql`... WHERE ${sql.fragment`seq > ${n}`}`. */
  fragment(strings: TemplateStringsArray, ...values: unknown[]): SqlFragment;
  /** A quoted identifier (column, table, alias): sql`SELECT ${sql.id(column)} FROM events`. */
  id(name: string, ...more: string[]): SqlFragment;
  /** Text pasted as it is: never with values a user or a log supplied. */
  raw(text: string): SqlFragment;
  /** Values or fragments joined by a separator (default ', '). */
  join(items: readonly unknown[], separator?: string): SqlFragment;
  /** The query text and parameters a template gives, without running it. */
  text(strings: TemplateStringsArray, ...values: unknown[]): SqlQuery;
}

async function runSql(first: TemplateStringsArray | string, rest: unknown[]): Promise<Table> {
  const s = await notebookStore();
  if (typeof first === 'string') {
    const params = (rest[0] ?? {}) as SqlParams;
    return s.query(first, params);
  }
  if (!isTemplate(first)) throw new ReplaybookError('sql_usage', 'sql: use it as a tag, sql`SELECT ...`, or call sql(queryText, params)');
  const q = toQuery(sqlFragment(first, ...rest));
  return s.query(q.text, q.params);
}

/**
 * ClickHouse SQL over the store (tables events, incidents, runs), the result as an Arrow Table.
 * Interpolated values travel as query parameters, never as SQL text.
 */
export const sql: SqlTag = Object.assign(
  (first: TemplateStringsArray | string, ...rest: unknown[]): Promise<Table> => runSql(first, rest),
  {
    fragment: sqlFragment,
    id: sqlId,
    raw: sqlRaw,
    join: sqlJoin,
    text: (strings: TemplateStringsArray, ...values: unknown[]): SqlQuery => toQuery(sqlFragment(strings, ...values)),
  },
) as SqlTag;

/** A chart of a query result: plot(table, { x: 'total_ms', y: 'name' }) (bars by default). */
export async function plot(table: Table, opts: PlotOptions): Promise<Chart> {
  return Chart.of(plotSpec(table, opts));
}

// ---------------------------------------------------------------------------------------------
// Stored runs

/** An incident's stored runs (newest last): label, injections, jitter seed, outcome. */
export class RunList implements Displayable {
  constructor(
    readonly incident: string,
    readonly list: StoredRun[],
  ) {}
  get length(): number {
    return this.list.length;
  }
  /** The run with this id (or the i-th run, 0-based; negative from the end). */
  get(which: string | number): StoredRun {
    const r = typeof which === 'number' ? this.list.at(which) : this.list.find((x) => x.runId === which);
    if (!r) throw new ReplaybookError('unknown_run', `${this.incident} has no run ${JSON.stringify(which)}: runs('${this.incident}') lists them`);
    return r;
  }
  /** The runs as an Arrow table (one row per run), for SQL-like work. */
  get table(): Table {
    return tableFromArrays({
      run_id: this.list.map((r) => r.runId),
      label: this.list.map((r) => r.label),
      seed: Float64Array.from(this.list.map((r) => r.seed)),
      speed: this.list.map((r) => r.speed),
      outcome: this.list.map((r) => r.outcome),
      events: Int32Array.from(this.list.map((r) => r.events)),
      wall_ms: Float64Array.from(this.list.map((r) => r.wallMs)),
      stdout: this.list.map((r) => r.stdout),
    });
  }
  /** The events of one of the runs. */
  async events(which: string | number | StoredRun): Promise<EventLog> {
    const r = typeof which === 'object' ? which : this.get(which);
    return new EventLog(await (await notebookStore()).eventsTable(r.incident, r.runId), `run ${r.runId}`);
  }
  [DISPLAY](): MimeBundle {
    return storedRunsBundle(this.incident, this.list);
  }
  [util.inspect.custom](): string {
    return `${this.length} run${this.length === 1 ? '' : 's'} of ${this.incident}${this.list.length ? ': ' + this.list.slice(-4).map((r) => `${r.runId} ${r.label} (${r.outcome})`).join(', ') : ''}`;
  }
}

/** The runs stored for an incident (every replay is stored with its injections and seed). */
export async function runs(incident: string | Incident): Promise<RunList> {
  const id = typeof incident === 'string' ? incident : incident.id;
  const list = (await (await notebookStore()).runs(id)).map(storedRun).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || (a.runId < b.runId ? -1 : 1));
  return new RunList(id, list);
}

// ---------------------------------------------------------------------------------------------
// Comparisons

/** What compare() takes: a run, the incident (its recording), a stored run or a run id. */
export type Comparable = Run | RunResult | Incident | EventLog | StoredRun | string;
export type LabelledComparable = Comparable | [string, Comparable] | { label: string; run: Comparable };

function isStoredRun(x: unknown): x is StoredRun {
  return typeof x === 'object' && x !== null && typeof (x as StoredRun).runId === 'string' && (x as StoredRun).startedAt instanceof Date;
}

function isRunResult(x: unknown): x is RunResult {
  return typeof x === 'object' && x !== null && typeof (x as RunResult).runId === 'string' && Array.isArray((x as RunResult).batches);
}

/** Runs side by side with a baseline: the table of differences and the timing-difference chart. */
export class Comparison implements Displayable {
  private constructor(
    readonly diff: TimingDiff,
    readonly chart: Chart,
  ) {}
  /** @internal */
  static async of(diff: TimingDiff, title?: string): Promise<Comparison> {
    return new Comparison(diff, await Chart.of(timingDiffSpec(diff, { title })));
  }
  get baseline(): string {
    return this.diff.baseline.label;
  }
  get variants(): TimingDiff['variants'] {
    return this.diff.variants;
  }
  /** The variant with this label. */
  variant(label: string): TimingDiff['variants'][number] {
    const v = this.diff.variants.find((x) => x.label === label);
    if (!v) throw new ReplaybookError('unknown_variant', `no variant '${label}' in this comparison (it has ${this.diff.variants.map((x) => x.label).join(', ')})`);
    return v;
  }
  [DISPLAY](): MimeBundle[] {
    return [comparisonBundle(this.diff), this.chart[DISPLAY]()];
  }
  [util.inspect.custom](): string {
    return `Comparison(${this.diff.variants.map((v) => v.label).join(', ')} against ${this.diff.baseline.label})`;
  }
}

async function comparable(x: LabelledComparable, recorded: (incident: string) => Promise<Table>): Promise<DiffInput> {
  let label: string | undefined;
  let it: Comparable;
  if (Array.isArray(x)) [label, it] = x;
  else if (typeof x === 'object' && x !== null && 'label' in x && 'run' in x && !isStoredRun(x)) ({ label, run: it } = x);
  else it = x as Comparable;
  const s = await notebookStore();
  if (typeof it === 'string') {
    const found = await s.query('SELECT incident_id FROM runs WHERE run_id = {run:String} LIMIT 1', { run: it });
    if (found.numRows === 0) throw new ReplaybookError('unknown_run', `no stored run '${it}': runs(incident) lists an incident's runs`);
    const incident = String(found.getChild('incident_id')?.get(0));
    it = (await runs(incident)).get(it);
  }
  if (it instanceof Incident) return { label: label ?? 'recording', events: it.events.table, outcome: exitStatus(it.info.exit_code, it.info.exit_signal) };
  if (it instanceof EventLog) return { label: label ?? it.title, events: it.table };
  const result = it instanceof Run ? it.result : isRunResult(it) ? it : null;
  if (result) {
    return {
      label: label ?? result.label ?? injectionsLabel(result.injections) + (result.speed === 'max' ? '' : ` (${result.speed}×)`),
      events: new Table(result.batches),
      recorded: await recorded(result.incident),
      speed: result.speed,
      switchSeq: result.switchedAt?.seq ?? null,
      divergenceSeq: result.divergence?.seq ?? null,
      outcome: runStatus(result),
    };
  }
  if (isStoredRun(it)) {
    return {
      label: label ?? it.label,
      events: await s.eventsTable(it.incident, it.runId),
      recorded: await recorded(it.incident),
      speed: it.speed,
      divergenceSeq: it.divergedAt,
      outcome: it.outcome,
    };
  }
  throw new ReplaybookError('compare_usage', `compare: cannot compare ${util.inspect(it, { depth: 0 })}; give runs, the incident, stored runs or run ids (optionally as [label, run])`);
}

/**
 * Compares runs with a baseline, call by call (paired by resource stream and order): compare(
 * incident, ['timeout 5 s', run5], run3). display() shows the table of differences and the
 * timing-difference chart (duration and start-time deltas, where each run switched policy).
 */
export async function compare(baseline: LabelledComparable, ...variants: LabelledComparable[]): Promise<Comparison> {
  if (variants.length === 0) throw new ReplaybookError('compare_usage', 'compare(baseline, ...variants) needs at least one variant');
  const cache = new Map<string, Promise<Table>>();
  const recorded = (incident: string): Promise<Table> => {
    let t = cache.get(incident);
    if (!t) {
      t = notebookStore().then((s) => s.eventsTable(incident));
      cache.set(incident, t);
    }
    return t;
  };
  const inputs: DiffInput[] = [];
  for (const x of [baseline, ...variants]) inputs.push(await comparable(x, recorded));
  // Two runs with the same injections get the same label: number them.
  const seen = new Map<string, number>();
  for (const i of inputs) {
    const k = (seen.get(i.label) ?? 0) + 1;
    seen.set(i.label, k);
    if (k > 1) i.label = `${i.label} (${k})`;
  }
  return Comparison.of(timingDiff(inputs[0], inputs.slice(1)));
}

// ---------------------------------------------------------------------------------------------
// The causal graph

/** The causal graph of an incident (or a run): nodes, ordered edges, transactions, and its chart. */
export class CausalGraphView implements Displayable {
  private constructor(
    readonly graph: CausalGraph,
    readonly chart: Chart,
  ) {}
  /** @internal */
  static async of(graph: CausalGraph, title?: string): Promise<CausalGraphView> {
    return new CausalGraphView(graph, await Chart.of(causalGraphSpec(graph, { title })));
  }
  get nodes(): CausalNode[] {
    return this.graph.nodes;
  }
  get edges(): CausalEdge[] {
    return this.graph.edges;
  }
  get transactions(): Transaction[] {
    return this.graph.transactions;
  }
  [DISPLAY](): MimeBundle[] {
    return [this.chart[DISPLAY](), transactionsBundle(this.graph.incident, this.graph.transactions)];
  }
  [util.inspect.custom](): string {
    const failed = this.graph.edges.filter((e) => e.failed).length;
    return `CausalGraph(${this.graph.incident}: ${this.graph.nodes.length} nodes, ${this.graph.edges.length} edges, ${failed} failed, transactions ${this.graph.transactions.map((t) => t.id).join(', ') || 'none'})`;
  }
}

/**
 * The causal graph of an incident (or of a run's events): processes, threads, endpoints and files
 * as nodes; forks, connections, messages, waits and exits as numbered edges; transactions named
 * tx-N as transactions() names them, so session(incident, { at: 'tx-1' }) opens one.
 */
export async function causalGraph(x: string | Incident | Run | EventLog | Table, opts: CausalOptions & { title?: string } = {}): Promise<CausalGraphView> {
  const table = typeof x === 'string' ? (await fetchIncident(x)).events.table : x instanceof Table ? x : x instanceof EventLog ? x.table : x.events.table;
  return CausalGraphView.of(buildCausalGraph(table, opts), opts.title);
}

/** What the kernel preloads into every notebook (kernel/launcher.js imports these by name). */
export const GLOBAL_NAMES = [
  'incidents',
  'fetchIncident',
  'transactions',
  'replay',
  'session',
  'timeline',
  'display',
  'demoIncident',
  'delay',
  'latency',
  'fail',
  'timeout',
  'runMany',
  'verifyFix',
  'sql',
  'runs',
  'compare',
  'causalGraph',
  'plot',
  'variantChart',
  'outcomeChart',
  'panel',
  'slider',
  'button',
  'dropdown',
  'output',
  'html',
  'play',
  'hbox',
  'vbox',
  'widgets',
] as const;

/** Puts the notebook API on `g` (the kernel's globalThis) and sends displays to Jupyter. */
export function installGlobals(g: typeof globalThis, opts: { kernel?: boolean } = {}): void {
  inKernel = opts.kernel ?? false;
  if (inKernel) {
    setEngineProcessGroups(true);
    listenForInterrupts();
  }
  Object.assign(g, {
    incidents,
    fetchIncident,
    transactions,
    replay,
    session,
    timeline,
    display,
    demoIncident,
    delay,
    latency,
    fail,
    timeout,
    runMany,
    verifyFix,
    sql,
    runs,
    compare,
    causalGraph,
    plot,
    variantChart,
    outcomeChart,
    panel,
    slider,
    button,
    dropdown,
    output,
    html,
    play,
    hbox,
    vbox,
    widgets,
    replaybook: module.exports,
  });
}
