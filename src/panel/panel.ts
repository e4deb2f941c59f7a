// The replay panel: one output that drives a paused replay (ReplaySession) with ipywidgets'
// controls and the clickable timeline, and shows where it stands. Every control goes through one
// queue, so the engine gets one command at a time; the display follows each command with the
// engine's state. Many panels can be open at once, each with its own replay.
import * as util from 'node:util';
import { Resvg } from '@resvg/resvg-js';
import type { Table } from 'apache-arrow';
import type { Transaction } from '../analysis/transactions';
import { SYSCALL_TABLE } from '../events/syscall-table';
import { escapeHtml } from '../escape';
import { formatDuration } from '../format';
import { describeInjection } from '../inject/describe';
import { parseInjectionSpec } from '../inject/parse';
import type { Injection } from '../inject/types';
import { runStatus, runVerdict } from '../replay/describe';
import type { ReplayOptions, RunResult, Speed } from '../replay/run';
import { ReplaySession, type SessionState } from '../replay/session';
import { MONO, note, section, table, text } from '../notebook/html';
import { AnyWidget, Button, Dropdown, Html, Slider, Text, Widget, button, dropdown, hbox, html, slider, text as textBox, vbox, type Box } from '../widgets';
import { PanelChart, type PanelChartInput } from './chart';
import { CLASS_COLOURS, TIMELINE_ESM, TIMELINE_MODULE, TIMELINE_MODULE_VERSION, timelineHostHtml, timelineMarks, type Mark, type TimelineTraits, type TxMark } from './timeline';

export const PANEL_SPEEDS: Array<[string, Speed]> = [
  ['0.1×', 0.1],
  ['0.25×', 0.25],
  ['0.5×', 0.5],
  ['1×', 1],
  ['2×', 2],
  ['5×', 5],
  ['10×', 10],
  ['max', 'max'],
];

const REGISTERS = ['rip', 'rsp', 'rax', 'rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'];
const byNr = new Map(SYSCALL_TABLE.map((s) => [s.nr, s]));

export interface PanelOptions {
  /** Open at a transaction ('tx-7') or an event (seq). */
  at?: string | number;
  /** Injections in force when the panel opens. */
  injections?: Injection[];
  speed?: Speed;
  /** How many events "step N" serves (default 10). */
  stepN?: number;
  /**
   * Draw the timeline with anywidget's front end (needs the anywidget extension in Jupyter)
   * instead of replaybook's own extension. Either way, a front end that does not answer within
   * a few seconds gets the HTML fallback.
   */
  anywidget?: boolean;
  /**
   * Charts shown under the controls (as p.show(chart) adds them), e.g. [await timeline(run)]: a
   * click on a mark jumps this replay to the event the mark stands for.
   */
  charts?: PanelChartInput[];
}

/** What the panel needs from the notebook: the incident's events, its transactions, options for a replay. */
export interface PanelSource {
  incident: string;
  events: Table;
  transactions: Transaction[];
  replayOptions: (injections: Injection[]) => ReplayOptions;
}

interface Backtraceable {
  backtrace?: (tid?: number) => Promise<unknown>;
}

/** One open fd of the replayed program at the cursor, as the recording says. */
export interface OpenFd {
  pid: number;
  fd: number;
  names: string;
}

interface FdChange {
  seq: number;
  pid: number;
  effect: 'opens' | 'dups' | 'closes';
  ret: number;
  /** The fd argument (dups: the one copied; closes: the one closed). */
  fd: number;
  names: string;
}

/**
 * The recorded log's fd changes (creates, accepts, dups, closes), gathered in one pass over the
 * events so that the fds open at any event come from those rows alone: a panel asks at every
 * step and jump, and a pass over 100k Arrow rows costs about 100 ms.
 */
export class FdHistory {
  private readonly changes: FdChange[] = [];

  constructor(events: Table) {
    const seqC = events.getChild('seq');
    const nrC = events.getChild('nr');
    const pidC = events.getChild('pid');
    const retC = events.getChild('ret');
    const argsC = events.getChild('args');
    const resC = events.getChild('resource');
    const kindC = events.getChild('kind');
    for (let i = 0; i < events.numRows; i++) {
      const info = byNr.get(Number(nrC?.get(i)));
      if (!info || info.fdEffect === 'none' || info.fdEffect === 'uses' || (kindC && kindC.get(i) !== 'syscall')) continue;
      const effect = info.fdEffect === 'creates' || info.fdEffect === 'accepts' ? 'opens' : info.fdEffect === 'dups' ? 'dups' : info.fdEffect === 'closes' ? 'closes' : null;
      if (!effect) continue;
      const args = argsC?.get(i) as { get(j: number): bigint } | null;
      const fdArg = info.fdArg >= 0 ? info.fdArg : 0;
      this.changes.push({
        seq: Number(seqC?.get(i) ?? i),
        pid: Number(pidC?.get(i) ?? 0),
        effect,
        ret: Number(retC?.get(i) ?? -1n),
        fd: args ? Number(args.get(fdArg)) : -1,
        names: String(resC?.get(i) ?? ''),
      });
    }
  }

  /** The fds open before event `seq`. */
  at(seq: number): OpenFd[] {
    const open = new Map<string, OpenFd>();
    const key = (pid: number, fd: number): string => `${pid}:${fd}`;
    for (const c of this.changes) {
      if (c.seq >= seq) break;
      if (c.effect === 'opens') {
        if (c.ret >= 0) open.set(key(c.pid, c.ret), { pid: c.pid, fd: c.ret, names: c.names });
      } else if (c.effect === 'dups') {
        const from = open.get(key(c.pid, c.fd));
        if (c.ret >= 0) open.set(key(c.pid, c.ret), { pid: c.pid, fd: c.ret, names: from?.names ?? c.names });
      } else if (c.ret === 0) {
        open.delete(key(c.pid, c.fd));
      }
    }
    return [...open.values()].sort((a, b) => a.pid - b.pid || a.fd - b.fd);
  }
}

/** The fds open before event `seq`, from the recorded log (creates, accepts, dups, closes). */
export function openFdsAt(events: Table, seq: number): OpenFd[] {
  return new FdHistory(events).at(seq);
}

/** One backtrace frame as a line: #0 function at file:line (library). */
function frameLine(f: unknown): string {
  if (typeof f === 'string') return f;
  const x = f as { level?: number; function?: string | null; file?: string | null; line?: number | null; library?: string | null };
  if (typeof x !== 'object' || x === null) return String(f);
  return `#${x.level ?? '?'} ${x.function ?? '??'}${x.file ? ` at ${x.file}${x.line ? `:${x.line}` : ''}` : ''}${x.library ? ` (${x.library})` : ''}`;
}

type Status = 'paused' | 'playing' | 'ended' | 'stopped' | 'busy';

/** Which front end draws the timeline: a widget extension that said hello, or the HTML fallback. */
export type TimelinePath = 'extension' | 'anywidget' | 'html';

const TIMELINE_PATH_NAMES: Record<TimelinePath, string> = { extension: 'replaybook extension', anywidget: 'anywidget', html: 'HTML fallback' };

/** How long the panel stands at an event before it asks for the backtrace there. */
const BACKTRACE_AFTER_MS = 400;

/** How long a panel waits for the timeline widget's hello before it shows the HTML fallback. */
export const TIMELINE_HELLO_MS = 3000;

let panelCount = 0;

export class ReplayPanel {
  readonly id = `rb-panel-${++panelCount}`;
  private s: ReplaySession | null = null;
  private injections: Injection[];
  private status: Status = 'busy';
  private queue: Promise<unknown> = Promise.resolve();
  /** Commands queued and not yet started. */
  private pending = 0;
  private poll: NodeJS.Timeout | null = null;
  private lastState: SessionState | null = null;
  private result: RunResult | null = null;
  private error: string | null = null;
  /** What the last command did that differs from what was asked (a jump that stands elsewhere). */
  private notice: string | null = null;
  private readonly x: (seq: number) => number;
  private readonly marks: Mark[];
  private readonly txMarks: TxMark[];
  private readonly total: number;
  private readonly fds: FdHistory;
  private speedValue: Speed;
  /** Set while the panel itself changes its controls (their listeners are for the person's changes). */
  private rendering = false;
  /** How long each command took in the kernel (engine command and state read), newest last. */
  readonly timings: Array<{ command: string; ms: number }> = [];
  /** Set while a jump or new injections restart the replay: the old run's end is not the panel's result. */
  private jumping = false;

  // The controls.
  readonly header: Html;
  /** The timeline as a widget of replaybook's extension (or anywidget's). */
  readonly timeline: Widget;
  /** The timeline hosted in an HTML widget, made when the front end has neither extension. */
  private timelineHtml: Html | null = null;
  /** Who draws the timeline (null until the front end says hello or the wait ends). */
  timelinePath: TimelinePath | null = null;
  private helloTimer: NodeJS.Timeout | null = null;
  readonly playButton: Button;
  readonly pauseButton: Button;
  readonly step1: Button;
  readonly stepN: Button;
  readonly speedBox: Dropdown<Speed>;
  readonly position: Slider;
  readonly jumpBox: Text;
  readonly stateView: Html;
  readonly injectionList: Dropdown<number>;
  readonly injectionBox: Text;
  readonly resultView: Html;
  /** The charts shown in the panel (p.show), in a box under the controls. */
  readonly charts: PanelChart[] = [];
  private readonly chartArea: Box;
  readonly root: Box;

  constructor(
    private readonly src: PanelSource,
    private readonly o: PanelOptions = {},
    /** The cell that opened it (interrupting that cell stops it). */
    readonly cell: number | null = null,
  ) {
    this.injections = [...(o.injections ?? [])];
    this.speedValue = o.speed ?? 1;
    const tl = timelineMarks(src.events, src.transactions);
    this.x = tl.x;
    this.marks = tl.marks;
    this.txMarks = tl.txs;
    this.total = tl.total;
    this.fds = new FdHistory(src.events);
    const n = o.stepN ?? 10;
    this.header = html('', { classes: ['rb-header'] });
    this.timeline = o.anywidget
      ? new AnyWidget({ ...this.traits() }, { esm: TIMELINE_ESM, classes: ['rb-timeline'] })
      : new Widget('TimelineModel', 'TimelineView', { ...this.traits() }, { classes: ['rb-timeline'] }, null, TIMELINE_MODULE, TIMELINE_MODULE_VERSION);
    this.playButton = button({ description: '▶ play', classes: ['rb-play'], layout: { width: '80px' } });
    this.pauseButton = button({ description: '‖ pause', classes: ['rb-pause'], layout: { width: '80px' } });
    this.step1 = button({ description: 'step 1', classes: ['rb-step1'], layout: { width: '70px' } });
    this.stepN = button({ description: `step ${n}`, classes: ['rb-stepn'], layout: { width: '80px' } });
    this.speedBox = dropdown<Speed>({ options: PANEL_SPEEDS, value: this.speedValue, description: 'speed', classes: ['rb-speed'], layout: { width: '160px' } });
    this.position = slider({ min: 0, max: Math.max(0, this.total - 1), value: 0, description: 'event', classes: ['rb-position'], layout: { width: '420px' } });
    this.jumpBox = textBox({ placeholder: 'event # or tx-N, Enter', classes: ['rb-jump'], layout: { width: '200px' } });
    this.stateView = html('', { classes: ['rb-state'] });
    this.injectionList = dropdown<number>({ options: [['(none)', -1]], value: -1, description: 'injections', classes: ['rb-injections'], layout: { width: '420px' } });
    const remove = button({ description: 'remove', classes: ['rb-remove'], layout: { width: '80px' } });
    this.injectionBox = textBox({ placeholder: "add: --latency 'connect:*:8443=2s' …, Enter", classes: ['rb-inject'], layout: { width: '420px' } });
    this.resultView = html('', { classes: ['rb-result'] });
    this.chartArea = vbox([], { classes: ['rb-charts'] });
    this.root = vbox(
      [
        this.header,
        this.timeline,
        hbox([this.playButton, this.pauseButton, this.step1, this.stepN, this.speedBox]),
        hbox([this.position, this.jumpBox]),
        this.stateView,
        hbox([this.injectionList, remove]),
        this.injectionBox,
        this.resultView,
        this.chartArea,
      ],
      { classes: ['rb-panel', this.id] },
    );

    this.playButton.on('click', () => this.play());
    this.pauseButton.on('click', () => this.pause());
    this.step1.on('click', () => this.step(1));
    this.stepN.on('click', () => this.step(n));
    this.speedBox.on('change', (v) => {
      if (v !== undefined && !this.rendering && v !== this.speedValue) void this.speed(v);
    });
    this.position.on('change', (v) => {
      if (!this.rendering && this.lastState?.seq !== v) void this.jumpTo(v);
    });
    this.jumpBox.on('change', (v) => {
      const t = v.trim();
      if (!t || this.rendering) return;
      this.jumpBox.value = '';
      void this.jumpTo(/^tx-\d+$/.test(t) ? t : Number(t));
    });
    this.listenForJumps(this.timeline, null);
    this.timeline.model.on('custom', (c) => {
      if (c.event === 'hello') this.useTimeline(o.anywidget ? 'anywidget' : 'extension');
    });
    // A front end with the extension creates the model (and says hello) as soon as it gets it.
    this.helloTimer = setTimeout(() => {
      if (this.timelinePath === null) this.useTimeline('html');
    }, TIMELINE_HELLO_MS);
    this.helloTimer.unref();
    remove.on('click', () => {
      const i = this.injectionList.value;
      if (i !== undefined && i >= 0) void this.removeInjection(i);
    });
    this.injectionBox.on('change', (v) => {
      const t = v.trim();
      if (!t || this.rendering) return;
      this.injectionBox.value = '';
      void this.addInjection(t);
    });
  }

  /** Opens the replay (paused at the first event, or at `at`) and shows the state. */
  async open(): Promise<this> {
    for (const c of this.o.charts ?? []) await this.show(c);
    await this.run(async () => {
      this.s = await ReplaySession.open(this.src.incident, this.src.replayOptions(this.injections), { paused: true });
      this.watchEnd();
      if (this.o.at !== undefined) await this.s.jumpTo(this.seqOf(this.o.at));
      if (this.speedValue !== 1) this.s.speed(this.speedValue);
      this.status = 'paused';
    });
    return this;
  }

  // ------------------------------------------------------------------------------------------
  // Commands (also callable from cells: await p.step(5), p.state()...)

  play(): Promise<SessionState | null> {
    return this.run(async () => {
      const s = this.session();
      if (this.status === 'ended') return;
      s.resume();
      this.status = 'playing';
      this.startPolling();
    });
  }

  pause(): Promise<SessionState | null> {
    return this.run(async () => {
      this.stopPolling();
      if (this.status !== 'playing') return;
      await this.session().pause();
      if (this.status === 'playing') this.status = 'paused';
    });
  }

  step(n = 1): Promise<SessionState | null> {
    return this.run(async () => {
      this.stopPolling();
      await this.session().step(n);
      if (this.status !== 'ended') this.status = 'paused';
    });
  }

  speed(x: Speed): Promise<SessionState | null> {
    return this.run(async () => {
      this.session().speed(x);
      this.speedValue = x;
      this.rendering = true;
      try {
        this.speedBox.value = x;
      } finally {
        this.rendering = false;
      }
    });
  }

  /** Pauses before event `seq` (or a transaction's first event). */
  jumpTo(at: number | string): Promise<SessionState | null> {
    return this.run(async () => {
      this.stopPolling();
      const seq = this.seqOf(at);
      this.result = null;
      this.jumping = true;
      let st: SessionState;
      try {
        st = await this.session().jumpTo(seq);
      } finally {
        this.jumping = false;
      }
      this.watchEnd();
      this.status = 'paused';
      this.notice = this.landing(seq, st);
      if (!st.paused && !st.next) {
        // The run ended on the way (a jump past the last syscall): shown with this command.
        this.result = await this.session().done;
        this.status = 'ended';
      }
    }, 'jump');
  }

  /**
   * Why a jump to `asked` stands elsewhere (null when it stands there): a replay pauses only
   * before a syscall. A signal or a late-data event is passed on the way to the next one, and past
   * the program's last syscall (its exit) there is nowhere to stand: the run goes to its end.
   */
  private landing(asked: number, st: SessionState): string | null {
    if (st.paused && st.seq === asked) return null;
    const what = this.describeEvent(asked);
    if (!st.paused && !st.next) return `event ${asked}${what} comes after the program's last syscall: a replay stands only before a syscall, so it ran to its end`;
    if (st.seq > asked) return `paused at event ${st.seq}, the first syscall after event ${asked}${what}: a replay stands only before a syscall`;
    return null;
  }

  /** " (exit)", " (signal SIGALRM)"…: what the log's event `seq` is, for messages. */
  private describeEvent(seq: number): string {
    const ev = this.src.events;
    const seqC = ev.getChild('seq');
    let row = seq < ev.numRows && Number(seqC?.get(seq) ?? seq) === seq ? seq : -1;
    for (let i = 0; row < 0 && i < ev.numRows; i++) if (Number(seqC?.get(i)) === seq) row = i;
    if (row < 0) return '';
    const kind = String(ev.getChild('kind')?.get(row) ?? '');
    const name = String(ev.getChild('name')?.get(row) ?? '');
    return kind === 'syscall' ? ` (${name})` : ` (${kind}${name && name !== kind ? ` ${name}` : ''})`;
  }

  /**
   * Shows a chart in the panel, under its controls (timeline(run), plot(…), a vega-lite spec): a
   * click on one of its marks jumps this replay to the mark's event, or says in the panel's
   * header why not (an event of another incident, or beyond this log).
   */
  async show(chart: PanelChartInput): Promise<PanelChart> {
    const c = await PanelChart.of(chart);
    this.charts.push(c);
    this.listenForJumps(c.widget, c);
    this.chartArea.add(this.timelinePath === null || this.timelinePath === 'extension' ? c.widget : c.fallback);
    return c;
  }

  /**
   * Why a click on a mark (of the panel's timeline, or of `chart`) cannot jump this replay, or
   * null when it can: marks of another incident's events, or events this log does not have.
   */
  unreachable(seq: unknown, chart: PanelChart | null): string | null {
    const of = chart ? ` of '${chart.origin.title}'` : '';
    const inc = chart?.origin.incident;
    if (inc && inc !== this.src.incident) {
      return `that mark${of} is an event of ${inc}${chart?.origin.run ? ` (run ${chart.origin.run})` : ''}: this panel replays ${this.src.incident} (panel(${JSON.stringify(inc)}) replays that one)`;
    }
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) return `that mark${of} stands for no single event: click one that does`;
    if (seq >= this.total) return `event ${seq}${of} is not in ${this.src.incident}'s log (events 0 to ${this.total - 1}): this replay cannot reach it`;
    return null;
  }

  /** A click on a mark of `w` (the timeline, or a chart's widget): jump there, or say why not. */
  private listenForJumps(w: Widget, chart: PanelChart | null): void {
    w.model.on('custom', (c) => {
      if (c.event !== 'jump') return;
      const why = this.unreachable(c.seq, chart);
      if (why === null) {
        this.jumpTo(c.seq as number).catch(() => undefined);
        return;
      }
      // After the commands already queued, so their state does not clear it.
      this.queue = this.queue.then(() => {
        this.error = why;
        this.render(this.lastState);
      });
    });
  }

  /** The engine's state, as a following cell reads it. */
  state(): Promise<SessionState> {
    return this.session().state();
  }

  get injectionsInForce(): readonly Injection[] {
    return this.injections;
  }

  /** Adds an injection (an object or a spec like "--latency 'connect:*=2s'") and replays again to the same event. */
  addInjection(i: Injection | Injection[] | string): Promise<SessionState | null> {
    return this.run(async () => {
      const added = typeof i === 'string' ? parseInjectionSpec(i) : Array.isArray(i) ? i : [i];
      await this.restart([...this.injections, ...added]);
    });
  }

  removeInjection(index: number): Promise<SessionState | null> {
    return this.run(async () => {
      if (index < 0 || index >= this.injections.length) throw new RangeError(`no injection #${index}: the panel has ${this.injections.length}`);
      await this.restart(this.injections.filter((_, j) => j !== index));
    });
  }

  /** Shows the timeline through `path`: the widget whose front end said hello, or the HTML fallback. */
  private useTimeline(path: TimelinePath): void {
    if (this.timelinePath === path || (path === 'html' && this.timelinePath !== null)) return;
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    const before = this.timelinePath;
    this.timelinePath = path;
    if (path === 'html') {
      this.timelineHtml = html('', { classes: ['rb-timeline'] });
      this.root.swap(this.timeline, this.timelineHtml);
    } else if (before === 'html' && this.timelineHtml) {
      // The extension answered late (a slow page): it takes the place of the fallback.
      this.root.swap(this.timelineHtml, this.timeline);
    }
    // Charts are drawn by the extension only: elsewhere their PNGs.
    for (const c of this.charts) {
      if (path === 'extension') this.chartArea.swap(c.fallback, c.widget);
      else this.chartArea.swap(c.widget, c.fallback);
    }
    this.render(this.lastState);
  }

  /** Stops the replay (its program is killed); the panel shows it stopped. */
  async close(why = 'stopped'): Promise<void> {
    this.stopPolling();
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.status = 'stopped';
    this.error = why === 'stopped' ? null : why;
    const s = this.s;
    if (s) await s.stop().catch(() => undefined);
    this.render(null);
  }

  /** The replay the panel drives (a restart replaces it; null before it opens). */
  get replay(): ReplaySession | null {
    return this.s;
  }

  get stopped(): boolean {
    return this.status === 'stopped';
  }

  // ------------------------------------------------------------------------------------------

  private session(): ReplaySession {
    if (!this.s || this.status === 'stopped') throw new Error(`the panel's replay of ${this.src.incident} is stopped: open a new panel`);
    return this.s;
  }

  private seqOf(at: number | string): number {
    if (typeof at === 'number') {
      if (!Number.isInteger(at) || at < 0) throw new RangeError(`event ${at} is not an event number (0 to ${this.total - 1})`);
      return at;
    }
    const tx = this.src.transactions.find((t) => t.id === at);
    if (!tx) throw new RangeError(`incident ${this.src.incident} has no transaction ${at}: transactions(${JSON.stringify(this.src.incident)}) lists them`);
    return tx.firstSeq;
  }

  /**
   * Replays with other injections, back at the same event: in place from a checkpoint of the
   * paused replay that the change leaves as it was (ReplaySession.setInjections), else by
   * restarting the replay and fast-forwarding.
   */
  private async restart(injections: Injection[]): Promise<void> {
    this.stopPolling();
    const seq = this.lastState?.seq ?? 0;
    const old = this.s;
    this.injections = injections;
    this.result = null;
    if (old && (await old.setInjections(injections).catch(() => false))) {
      // Unless a new injection fired before that event and the run ended (watchEnd shows it).
      if (!this.result) this.status = 'paused';
      return;
    }
    // The old run's end (it is stopped here) is not the panel's result.
    this.jumping = true;
    try {
      if (old) await old.stop().catch(() => undefined);
      this.s = await ReplaySession.open(this.src.incident, this.src.replayOptions(injections), { paused: true });
    } finally {
      this.jumping = false;
    }
    this.watchEnd();
    if (seq > 0) await this.s.jumpTo(seq);
    if (this.speedValue !== 1) this.s.speed(this.speedValue);
    this.status = 'paused';
  }

  private watchEnd(): void {
    const s = this.s;
    if (!s) return;
    const done = s.done;
    done.then(
      (r) => {
        if (this.s !== s || s.done !== done || this.jumping || this.status === 'stopped') return;
        this.result = r;
        this.status = 'ended';
        this.stopPolling();
        void this.refresh();
      },
      (e: unknown) => {
        if (this.s !== s || s.done !== done) return;
        this.error = e instanceof Error ? e.message : String(e);
      },
    );
  }

  /** Runs one command after the previous ones, then shows the engine's state. */
  private run(cmd: () => Promise<void>, name = 'command'): Promise<SessionState | null> {
    this.pending++;
    const next = this.queue.then(async () => {
      this.pending--;
      this.error = null;
      this.notice = null;
      const t0 = process.hrtime.bigint();
      try {
        await cmd();
      } catch (e) {
        this.error = e instanceof Error ? e.message : String(e);
        this.render(this.lastState);
        throw e;
      }
      const st = await this.refresh();
      this.timings.push({ command: name, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      if (this.timings.length > 1000) this.timings.shift();
      this.queueBacktrace(st);
      return st;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private startPolling(): void {
    this.stopPolling();
    this.poll = setInterval(() => {
      if (this.status !== 'playing') return;
      // Only when nothing else is queued: a poll never delays a command.
      this.queue = this.queue.then(() => (this.status === 'playing' ? this.refresh() : null)).catch(() => undefined);
    }, 250);
    this.poll.unref();
  }

  private stopPolling(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
  }

  private async refresh(): Promise<SessionState | null> {
    let st: SessionState | null = null;
    if (this.s && this.status !== 'stopped') {
      st = await this.s.state().catch(() => null);
      if (st && !st.paused && !st.next && this.result) this.status = 'ended';
    }
    this.lastState = st;
    this.render(st);
    return st;
  }

  /**
   * The paused thread's backtrace (100–300 ms through the debugger) comes after the state is
   * shown: once the panel has stood BACKTRACE_AFTER_MS at the same event, as a job of the queue
   * (the debugger and the engine take one command at a time). Skipped when another command came
   * meanwhile, so clicks in a row are not held up by backtraces nobody looks at.
   */
  private queueBacktrace(st: SessionState | null): void {
    const s = this.s;
    const bt = (s as unknown as Backtraceable | null)?.backtrace;
    if (!s || !st?.paused || !st.next || typeof bt !== 'function') return;
    const tid = st.next.tid;
    const still = (): boolean => this.pending === 0 && this.lastState === st && this.s === s && this.status !== 'stopped';
    setTimeout(() => {
      if (!still()) return;
      this.queue = this.queue
        .then(async () => {
          if (!still()) return;
          const backtrace = await bt.call(s, tid).catch((e: unknown) => `backtrace unavailable: ${e instanceof Error ? e.message : String(e)}`);
          if (this.lastState === st && this.s === s) this.render(st, backtrace);
        })
        .catch(() => undefined);
    }, BACKTRACE_AFTER_MS).unref();
  }

  private traits(st: SessionState | null = null): TimelineTraits {
    const cursor = st ? (this.status === 'ended' ? this.total : st.seq) : (this.lastState?.seq ?? 0);
    const served = st ? st.served : 0;
    return {
      marks: this.marks,
      txs: this.txMarks,
      cursor,
      cursor_x: this.status === 'ended' ? 1 : this.x(cursor),
      total: this.total,
      progress: this.total ? Math.min(1, (this.status === 'ended' ? this.total : served) / this.total) : 0,
      status: this.status,
      title: this.src.incident,
      colours: CLASS_COLOURS,
    };
  }

  private render(st: SessionState | null, backtrace: unknown = null): void {
    this.rendering = true;
    try {
      this.draw(st, backtrace);
    } finally {
      this.rendering = false;
    }
  }

  private draw(st: SessionState | null, backtrace: unknown): void {
    const t = this.traits(st);
    if (this.timelinePath === 'html' && this.timelineHtml) {
      this.timelineHtml.value = timelineHostHtml(t);
    } else {
      const { marks: _m, txs: _t, colours: _c, ...changing } = t;
      this.timeline.model.set(changing);
    }
    const speed = this.speedValue === 'max' ? 'max speed' : `${this.speedValue}×`;
    this.header.value =
      `<div style="${MONO};font-size:13px"><b>${escapeHtml(this.src.incident)}</b> · ` +
      `<span class="rb-cursor" data-seq="${t.cursor}" data-status="${this.status}">event ${t.cursor} of ${this.total}</span> · ` +
      `<span class="rb-status">${this.status}</span> · ${speed} · ${this.injections.length} injection${this.injections.length === 1 ? '' : 's'}` +
      (this.timelinePath ? ` · <span class="rb-tl-path" data-path="${this.timelinePath}" style="color:#888">timeline: ${TIMELINE_PATH_NAMES[this.timelinePath]}</span>` : '') +
      (this.error ? ` · <span class="rb-error" style="color:#b00">${escapeHtml(this.error)}</span>` : '') +
      (this.notice ? ` · <span class="rb-notice" style="color:#666">${escapeHtml(this.notice)}</span>` : '') +
      `</div>`;
    if (this.position.value !== Math.min(t.cursor, this.position.max)) this.position.value = Math.min(t.cursor, this.position.max);
    this.stateView.value = this.stateHtml(st, backtrace);
    const labels: Array<[string, number]> = this.injections.length ? this.injections.map((i, j) => [`#${j} ${describeInjection(i)}`, j]) : [['(none)', -1]];
    if (JSON.stringify(this.injectionList.model.get('_options_labels')) !== JSON.stringify(labels.map((l) => l[0]))) {
      this.injectionList.model.set({ _options_labels: labels.map((l) => l[0]), index: 0 });
      (this.injectionList as unknown as { values: number[] }).values.splice(0, Infinity, ...labels.map((l) => l[1]));
    }
    this.resultView.value = this.resultHtml();
    const playing = this.status === 'playing';
    const over = this.status === 'ended' || this.status === 'stopped';
    this.playButton.disabled = playing || over;
    this.pauseButton.disabled = !playing;
    this.step1.disabled = over;
    this.stepN.disabled = over;
  }

  private stateHtml(st: SessionState | null, backtrace: unknown): string {
    if (!st || this.status === 'ended' || this.status === 'stopped' || !st.next) return '';
    if (!st.paused) return note(`running · ${st.served} events served · virtual clock ${formatDuration(st.virtualNs)}`);
    const args = st.next.args.map((a) => (a > 0xffffn ? '0x' + a.toString(16) : a.toString())).join(', ');
    let h =
      `<div style="${MONO}" class="rb-next" data-seq="${st.seq}"><b>next: ${escapeHtml(st.next.name)}(${escapeHtml(args)})</b>` +
      `${st.next.resource ? ` on ${escapeHtml(st.next.resource)}` : ''} in thread ${st.next.tid}</div>` +
      note(`virtual clock ${formatDuration(st.virtualNs)} · ${st.served} events served`);
    if (st.threads.length) {
      h += table(
        [{ text: 'thread', num: true }, { text: 'now', num: true }, 'state'],
        st.threads.map((t) => [text(t.tid, { num: true }), text(t.realTid, { num: true }), text(t.state + (t.tid === st.next?.tid ? ' ← next' : ''))]),
      );
    }
    if (backtrace !== null) {
      const list = Array.isArray(backtrace) ? backtrace : Array.isArray((backtrace as { frames?: unknown }).frames) ? (backtrace as { frames: unknown[] }).frames : null;
      const frames = list ? list.map(frameLine) : [typeof backtrace === 'string' ? backtrace : util.inspect(backtrace, { breakLength: Infinity })];
      h += `<div class="rb-backtrace" style="${MONO}">backtrace:<br>${frames.map((f) => escapeHtml(f)).join('<br>')}</div>`;
    } else if (st.registers) {
      const regs = REGISTERS.filter((r) => st.registers && r in st.registers);
      h += table(
        regs.map((r) => ({ text: r, num: true })),
        [regs.map((r) => text('0x' + (st.registers?.[r] ?? 0n).toString(16), { num: true, mono: true }))],
      );
    }
    const fds = this.fds.at(st.seq);
    if (fds.length) {
      h += table(
        [{ text: 'pid', num: true }, { text: 'fd', num: true }, 'names'],
        fds.slice(0, 40).map((f) => [text(f.pid, { num: true }), text(f.fd, { num: true }), text(f.names || '?', { mono: true })]),
      );
    }
    return section('State', h);
  }

  private resultHtml(): string {
    if (this.status === 'stopped') return note('stopped: the replay was ended and its program killed');
    const r = this.result;
    if (!r) return '';
    const ok = r.reproduced;
    return (
      `<div class="rb-outcome" data-reproduced="${ok}" style="${MONO};color:${ok ? '#2a7' : '#b00'}"><b>${escapeHtml(runVerdict(r))}</b></div>` +
      note(`${runStatus(r)} · ${r.events} events · ${r.wallMs.toFixed(0)} ms`) +
      (r.divergence ? note(`diverged at event ${r.divergence.seq}: ${r.divergence.reason}`) : '')
    );
  }

  /** The static view (Classic Notebook's widgets and exports): the state as tables, the timeline as an SVG, and the calls to make. */
  staticHtml(): string {
    const t = this.traits(this.lastState);
    const w = 640;
    const most = this.marks.reduce((m, k) => Math.max(m, k[3]), 1);
    const bars = this.marks
      .map(([x0, x1, , n, cls]) => {
        const h = Math.max(2, Math.round(42 * Math.sqrt(n / most)));
        return `<rect x="${(x0 * w).toFixed(1)}" y="${46 - h}" width="${Math.max(1, (x1 - x0) * w).toFixed(1)}" height="${h}" fill="${CLASS_COLOURS[cls] ?? CLASS_COLOURS.other}"/>`;
      })
      .join('');
    const cx = (t.cursor_x * w).toFixed(1);
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="50">${bars}<line x1="${cx}" x2="${cx}" y1="0" y2="50" stroke="#111" stroke-width="2"/></svg>`;
    const png = new Resvg(svg, { background: 'white' }).render().asPng();
    const id = JSON.stringify(this.src.incident);
    const calls = [
      `const p = await panel(${id}${t.cursor ? `, { at: ${t.cursor} }` : ''})`,
      'await p.step(1); await p.step(10)',
      'await p.jumpTo(1234)   // or p.jumpTo("tx-3")',
      "await p.speed(0.5)     // 0.1 … 10, or 'max'",
      'await p.play(); await p.pause()',
      'await p.state()',
    ];
    return (
      `<div class="rb-panel-static">` +
      section(
        `Replay panel: ${this.src.incident} at event ${t.cursor} of ${this.total} (${this.status})`,
        `<img alt="timeline" class="rb-static-timeline" src="data:image/png;base64,${Buffer.from(png).toString('base64')}">` +
          this.stateHtml(this.lastState, null) +
          this.resultHtml() +
          this.charts.map((c) => `<img alt="${escapeHtml(c.origin.title)}" class="rb-static-chart" style="max-width:100%" src="data:image/png;base64,${c.png}">`).join('') +
          note('This front end has no ipywidgets 8: drive the panel from cells:') +
          `<pre style="${MONO}">${escapeHtml(calls.join('\n'))}</pre>`,
      ) +
      `</div>`
    );
  }

  /** The output: the widgets, with the static view where widgets cannot show. */
  bundle(): Record<string, unknown> {
    return this.root.bundle({ 'text/html': this.staticHtml(), 'text/plain': this.line() });
  }

  line(): string {
    const t = this.traits(this.lastState);
    return `ReplayPanel(${this.src.incident}: event ${t.cursor} of ${this.total}, ${this.status}${this.injections.length ? `, ${this.injections.length} injections` : ''})`;
  }

  [Symbol.for('replaybook.display')](): Record<string, unknown> {
    return this.bundle();
  }

  [util.inspect.custom](): string {
    return this.line();
  }
}
