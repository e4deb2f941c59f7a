// A replay under the analyst's control (the replay panel): start, pause, resume, step, change
// speed, jump to an event (backwards by restarting: replay is deterministic), look at the state
// and memory while paused, stop. replay() is a session run straight through.
import * as fs from 'node:fs';
import type { RecordBatch } from 'apache-arrow';
import { startEngine, type EngineExit, type EngineRun } from '../engine/engine';
import { divergenceWire, injectionLine, type EngineMessage, type EngineMessageType, type ExitMessage, type StateMessage, type ThreadState } from '../engine/protocol';
import { toRecordBatch } from '../engine/columns';
import type { IncidentInfo, RunInfo } from '../events/schema';
import { ReplaybookError } from '../errors';
import { sha256File } from '../hash';
import { loadIncident, materializeFiles, newRunId, type Divergence, type ReplayOptions, type RunResult, type Speed, type Unrecorded } from './run';
import * as path from 'node:path';
import { applyToCommand, applyToFile, type CommandRewrite } from '../inject/rewrite';
import * as os from 'node:os';
import { readFrom, writtenTo } from './outputs';
import { describeInjection } from '../inject/describe';
import type { Injection } from '../inject/types';
import { checkRedactedFiles, restoreFileReads, rulesBefore, runRedactor, type Redactor } from '../record/redact';
import type { RedactedFile } from '../events/schema';
import { Inspector, type FrameSelector, type FrameVariables, type ThreadFrames } from './inspect';
import { batchBytes, DEFAULT_EVENT_MEMORY, RunEvents } from './run-events';

/** A checkpoint the engine keeps: before event `seq`; `us` to take it; `pssKb` its memory. */
export interface CheckpointInfo {
  seq: number;
  us: number;
  pssKb: number;
}

/** A thread as the paused replay sees it (tid is the recorded thread id). */
export interface SessionThread {
  tid: number;
  realTid: number;
  state: ThreadState;
}

/** Where a replay stands. */
export interface SessionState {
  paused: boolean;
  /** seq of the next event to serve (the log's length when done). */
  seq: number;
  /** Events served so far. */
  served: number;
  speed: Speed;
  /** The virtual clock: recorded time (ns since the recording started) of the last served event. */
  virtualNs: bigint;
  /** The next recorded call, with its recorded thread. */
  next: { name: string; tid: number; resource: string; args: bigint[] } | null;
  threads: SessionThread[];
  /** Registers of the thread at the next call, when it is stopped there. */
  registers: Record<string, bigint> | null;
}

// A reply awaited from the engine; the run's end (undefined) also settles it.
type Waiter = { type: EngineMessageType; resolve: (m: EngineMessage | undefined) => void };

function interrupted(): ReplaybookError {
  return new ReplaybookError('interrupted', 'interrupted: the replay was stopped before its program started');
}

function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interrupted();
}

/** `work`, or an 'interrupted' error as soon as `signal` fires (the work itself is left to finish). */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  throwIfInterrupted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(interrupted());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Speeds a replay accepts besides 'max': slower than 1/100 or faster than 1000x has no use, and
 *  a speed near zero would make a replay wait for ever. */
export const MIN_SPEED = 0.01;
export const MAX_SPEED = 1000;
export const SPEED_RULE = `a number from ${MIN_SPEED} to ${MAX_SPEED} (1 = production timing) or 'max' (no waiting)`;

export function checkSpeed(speed: Speed): void {
  if (speed !== 'max' && !(typeof speed === 'number' && speed >= MIN_SPEED && speed <= MAX_SPEED)) {
    throw new ReplaybookError('bad_speed', `speed must be ${SPEED_RULE}, not ${String(speed).slice(0, 40)}`);
  }
}

export class ReplaySession {
  /** Whether the engine keeps checkpoints for jumps (a run straight through does not). */
  private keepCheckpoints = true;
  /** Resolves with the outcome when the run ends (the program exits, diverges or is stopped). */
  done!: Promise<RunResult>;
  private engine!: EngineRun;
  /** The run's events: in memory up to the event-memory budget, on disk past it. */
  private run = new RunEvents();
  /** What the recording wrote to stdout and stderr, read from the log as it goes to the engine. */
  private recordedOutput = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  /**
   * The whole log once a run has read all of it, when it fits in the event-memory budget: a
   * restart (jumpTo backward) reuses it. A bigger log is read from the store again, up to
   * `logRows` events (what the first run was given, even if a live recording has grown since).
   */
  private wholeLog: RecordBatch[] | null = null;
  private logRows: number | null = null;
  private count = 0;
  /** Events in `run`: more than `count` after going back to a checkpoint. */
  private kept = 0;
  private runId = newRunId();
  private waiters: Waiter[] = [];
  private currentSpeed: Speed;
  private finished = false;
  private listeners = new Set<(b: RecordBatch) => void>();
  /** Files kept out of the store at record time, read from this machine (checked by hash). */
  private redactedFiles: RedactedFile[] = [];
  private readonly fileContents = new Map<string, Buffer>();
  /** Keeps the secrets the recording kept out of the store out of this run too. */
  private redactor: Redactor | null = null;
  /** The engine's gdbserver port (per engine: a restart has none until asked). */
  private gdbPort: number | null = null;
  private inspector: Inspector | null = null;
  /** What the engine answered the last jump's request to restore a checkpoint. */
  private lastRestore: { restored: boolean; seq: number; reason: string } | null = null;
  /** The engine's checkpoints (per engine), and why it takes none when it cannot. */
  private checkpointList: CheckpointInfo[] = [];
  private checkpointRefused: string | null = null;

  private constructor(
    readonly incidentId: string,
    private readonly info: IncidentInfo,
    private readonly files: Map<string, string>,
    private readonly localExeChanged: boolean,
    private readonly runExe: string,
    private readonly command: CommandRewrite,
    private readonly editedFiles: Map<string, string>,
    private o: ReplayOptions,
  ) {
    this.currentSpeed = o.speed ?? 1;
  }

  /** Prepares a replay of the incident; it starts running unless `paused` is set. */
  static async open(incidentId: string, o: ReplayOptions, opts: { paused?: boolean; pauseAt?: number; checkpoints?: boolean } = {}): Promise<ReplaySession> {
    checkSpeed(o.speed ?? 1);
    // An interrupt stops the replay in every phase: while the incident and its files are fetched
    // (the fetch is abandoned, not awaited) as well as once the engine runs.
    const info = await abortable(loadIncident(o.store, incidentId), o.signal);
    const redactedFiles = checkRedactedFiles(info.redaction, incidentId);
    const files = await abortable(materializeFiles(info, o.store), o.signal);
    // A mapped file kept out of the store is mapped from the local copy, whose hash matched.
    for (const f of redactedFiles) if (f.mapped) files.set(f.path, f.path);
    // The recorded executable runs from its recorded path (its bytes mounted there), or straight
    // from its blob when this machine lacks that path.
    let exeReal: string | null = null;
    try {
      exeReal = fs.realpathSync(info.exe_path);
    } catch {
      exeReal = null;
    }
    const blob = files.get(info.exe_path);
    if (!exeReal && !blob) {
      throw new ReplaybookError(
        'exe_path_missing',
        `the recorded executable ${info.exe_path.length > 200 ? `${info.exe_path.slice(0, 160)}... (${info.exe_path.length} characters)` : info.exe_path} is neither on this machine nor among the incident's files; record it again with this version`,
      );
    }
    let runExe = info.exe_path;
    if (!exeReal && blob) {
      fs.chmodSync(blob, 0o500); // the owner runs it; the store is the owner's only
      runExe = blob;
    }
    checkInjections(o.injections ?? []);
    const editedFiles = await abortable(editConfigFiles(o, incidentId), o.signal);
    if (o.binary !== undefined) {
      // A rebuilt service: it runs instead of the recorded executable, whose bytes must not be
      // mounted over it; where it departs from the log, the stream policy serves it.
      const bin = path.resolve(o.binary);
      if (!fs.existsSync(bin)) throw new ReplaybookError('binary_missing', `the binary to replay, ${bin}, does not exist`);
      runExe = bin;
      files.delete(info.exe_path);
    }
    // env and argument timeouts are applied before the program starts; a flag the command does
    // not have is an error here, before anything runs.
    const command = applyToCommand(info.argv, info.env, o.injections ?? []);
    const session = new ReplaySession(incidentId, info, files, exeReal !== null && sha256File(exeReal) !== info.exe_sha256, runExe, command, editedFiles, o);
    session.redactedFiles = redactedFiles;
    session.keepCheckpoints = opts.checkpoints ?? true;
    session.redactor = runRedactor(info.redaction, info.cwd);
    throwIfInterrupted(o.signal); // never start an engine only to kill it
    const started = opts.paused ? session.until('paused') : null;
    session.launch(opts.paused ?? false, opts.pauseAt);
    await started; // paused at the first event
    return session;
  }

  private launch(paused: boolean, pauseAt?: number): void {
    const o = this.o;
    const budget = o.eventMemory ?? DEFAULT_EVENT_MEMORY;
    const run = new RunEvents(budget);
    this.run = run;
    this.recordedOutput = { stdout: [], stderr: [] };
    this.count = 0;
    this.kept = 0;
    this.finished = false;
    this.gdbPort = null;
    this.checkpointList = [];
    this.checkpointRefused = null;
    const started = process.hrtime.bigint();
    const startedAtNs = BigInt(Date.now()) * 1_000_000n;
    this.engine = startEngine({
      mode: 'replay',
      exe: this.runExe,
      argv: this.command.argv,
      env: this.command.env,
      cwd: fs.existsSync(this.info.cwd) ? this.info.cwd : '/',
      pin: o.pin ?? true,
      speed: this.currentSpeed,
      files: this.files,
      isolateNetwork: o.isolateNetwork ?? true,
      startPaused: paused,
      checkpoints: this.keepCheckpoints,
      // A pause at a patched call shows the program's own registers and code (the engine's
      // program view), and a gdb that runs the program gets every site unpatched first.
      inProcess: o.inProcess ?? true,
      pauseAt: pauseAt === undefined ? undefined : BigInt(pauseAt),
      injections: o.injections ?? [],
      // The program may legitimately differ from the log: its first departure switches policy.
      counterfactual: this.command.changes.length > 0 || o.binary !== undefined,
      editedFiles: this.editedFiles,
      jitter: o.jitter && o.jitter.ms > 0 ? { us: Math.round(o.jitter.ms * 1000), seed: o.jitter.seed } : undefined,
      unrecorded: o.unrecorded === 'refuse' ? 'refuse' : 'error',
      input: this.sendLog(budget),
      signal: o.signal,
      onEvents: (cols) => {
        // After going back to a checkpoint, events served again are those already kept (replay
        // is deterministic): only what lies beyond the furthest point reached is added, and a
        // batch served again whole is not even built (a jump replays thousands of them).
        const have = this.kept - this.count;
        this.count += cols.n;
        if (have >= cols.n) return;
        let b = toRecordBatch(cols, this.incidentId, this.runId);
        this.redactor?.applyToRun(b);
        if (have > 0) b = b.slice(have);
        run.push(b);
        this.kept += b.numRows;
        o.onProgress?.(this.count);
        for (const l of this.listeners) l(b);
      },
      onMessage: (m) => this.onMessage(m),
    });
    this.done = this.engine.done.then(
      (exit) =>
        this.finish(exit, run, started, startedAtNs).catch((e: unknown) => {
          run.dispose();
          throw e;
        }),
      (e: unknown) => {
        this.finished = true;
        this.flushWaiters();
        run.dispose();
        throw e;
      },
    );
    // A rejected `done` nobody awaits yet must not crash the process.
    this.done.catch(() => undefined);
  }

  // The log goes to the engine batch by batch as it is read (the engine takes each before the
  // next is pulled); what the outcome compares with, the recorded output, is read off on the way.
  // A restart serves the same events again: from memory when the log fits in `budget`, else read
  // again from the store.
  private async *sendLog(budget: number): AsyncGenerator<RecordBatch> {
    const out = this.recordedOutput;
    let kept: RecordBatch[] | null = this.wholeLog ? null : [];
    let bytes = 0;
    let rows = 0;
    for await (const b of this.wholeLog ?? upTo(this.o.store.events(this.incidentId), this.logRows)) {
      restoreFileReads(b, this.redactedFiles, this.fileContents);
      out.stdout.push(writtenTo([b], 'stdout'));
      out.stderr.push(writtenTo([b], 'stderr'));
      rows += b.numRows;
      if (kept) {
        kept.push(b);
        bytes += batchBytes(b);
        if (bytes > budget) kept = null;
      }
      yield b;
    }
    this.logRows ??= rows;
    if (kept) this.wholeLog = kept;
  }

  private onMessage(m: EngineMessage): void {
    if (m.type === 'checkpoint') {
      if (m.refused !== null) this.checkpointRefused = m.refused;
      else {
        const kept = this.checkpointList.filter((c) => c.seq !== m.seq && c.seq !== m.dropped);
        this.checkpointList = [...kept, { seq: m.seq, us: m.us, pssKb: m.pssKb }].sort((a, b) => a.seq - b.seq);
      }
    }
    // Off the log (an injection fired) the engine lets its checkpoints go.
    if (m.type === 'policy') this.checkpointList = [];
    // Gone back to a checkpoint (a jump, or gdb's reverse-stepi): the events served again are
    // those already kept.
    if (m.type === 'restored' && m.restored) this.count = m.served;
    const i = this.waiters.findIndex((w) => w.type === m.type || (w.type === 'paused' && m.type === 'divergence'));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m);
  }

  private flushWaiters(): void {
    for (const w of this.waiters.splice(0)) w.resolve(undefined);
  }

  /** The next message of this type (a divergence also ends a wait for `paused`); undefined
   * when the run ends first. */
  private until(type: EngineMessageType): Promise<EngineMessage | undefined> {
    if (this.finished) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push({ type, resolve }));
  }

  /** Pauses before the next event; resolves with the state once paused (or the run ended). */
  async pause(): Promise<SessionState> {
    const paused = this.until('paused');
    this.engine.control({ verb: 'pause' });
    await paused;
    return this.state();
  }

  resume(): void {
    this.engine.control({ verb: 'resume' });
  }

  /** Serves `n` more events, then pauses; resolves with the state. */
  async step(n = 1): Promise<SessionState> {
    const paused = this.until('paused');
    this.engine.control({ verb: 'step', n });
    await paused;
    return this.state();
  }

  /** 0.01 to 1000 times production speed, or 'max' (no waiting). Takes effect at once. */
  speed(x: Speed): void {
    checkSpeed(x);
    this.currentSpeed = x;
    this.engine.control({ verb: 'speed', speed: x });
  }

  /**
   * Pauses before event `seq`: from the nearest checkpoint before it (docs/gdb.md: the engine
   * keeps forked copies of the process) when there is one that saves replaying, then
   * fast-forwarding; backward without a checkpoint by restarting the replay and fast-forwarding
   * (replay is deterministic). The speed is kept for what follows.
   * A replay stands only before a syscall: for a signal or late-data event it pauses before the
   * first syscall after it (the state's `seq` says which), and past the last syscall (the
   * program's exit) the run goes to its end.
   */
  async jumpTo(seq: number): Promise<SessionState> {
    const now = await this.state();
    const speed = this.currentSpeed;
    let restart = seq < now.seq || this.finished;
    if (!this.finished && now.paused) {
      const reply = this.until('restored');
      this.engine.control({ verb: 'goto', seq });
      const r = await reply;
      if (r?.type === 'restored') this.lastRestore = { restored: r.restored, seq: r.seq, reason: r.reason };
      if (r?.type === 'restored' && r.restored) {
        this.count = r.served; // the events since are kept: served again, they are the same
        restart = false;
      }
    }
    if (restart) {
      this.engine.stop();
      await this.done.catch(() => undefined);
      this.runId = newRunId();
      this.currentSpeed = 'max';
      this.launch(false, seq);
    } else {
      this.engine.control({ verb: 'until', seq });
      this.engine.control({ verb: 'speed', speed: 'max' });
      this.engine.control({ verb: 'resume' });
    }
    await this.until('paused');
    this.currentSpeed = speed;
    this.engine.control({ verb: 'speed', speed });
    return this.state();
  }

  /**
   * Changes the injections of a paused replay in place: the engine goes back to the latest
   * checkpoint none of the new injections would have changed (its past is the log's, replayed
   * exactly), with their counts there, and the replay runs forward to where it was paused (or
   * to its end, when one of them fires before there). Resolves false, with nothing changed, when
   * that cannot be done: the replay is not paused, has ended or left the log, a timeout applied
   * before the engine starts (env, arg, file) is added or removed, or there is no such
   * checkpoint (checkpoints().lastRestore says why); the caller then restarts the replay.
   */
  async setInjections(injections: Injection[]): Promise<boolean> {
    checkInjections(injections);
    const now = await this.state();
    if (this.finished || !now.paused) return false;
    const beforeStart = (l: readonly Injection[]): string => JSON.stringify(l.filter((i) => injectionLine(i) === null));
    if (beforeStart(this.o.injections ?? []) !== beforeStart(injections)) return false;
    const reply = this.until('restored');
    this.engine.control({ verb: 'injections', injections });
    const r = await reply;
    if (r?.type !== 'restored') return false;
    this.lastRestore = { restored: r.restored, seq: r.seq, reason: r.reason };
    if (!r.restored) return false;
    this.o = { ...this.o, injections };
    // What was served past the checkpoint ran with the old injections: served again, it may differ.
    this.keepServed(r.served);
    if (r.seq !== now.seq) {
      const speed = this.currentSpeed;
      this.engine.control({ verb: 'until', seq: now.seq });
      this.engine.control({ verb: 'speed', speed: 'max' });
      this.engine.control({ verb: 'resume' });
      await this.until('paused');
      this.engine.control({ verb: 'speed', speed });
    }
    return true;
  }

  /** The events up to `served`: where a run stopped after going back to a checkpoint. */
  private keepServed(served: number): void {
    this.run.truncate(served);
    this.kept = this.run.rows;
  }

  /**
   * The checkpoints the engine keeps now (seq of the event each is before, microseconds it took,
   * its proportional memory in KiB from /proc/PID/smaps_rollup plus the shared memory it copied),
   * or why it takes none (a program with several processes, or more than 64 MiB mapped shared
   * and writable: jumps then restart the replay). A process with several threads has them all
   * made again at a restore.
   */
  checkpoints(): { checkpoints: CheckpointInfo[]; refused: string | null; lastRestore: { restored: boolean; seq: number; reason: string } | null } {
    return { checkpoints: [...this.checkpointList], refused: this.checkpointRefused, lastRestore: this.lastRestore };
  }

  /** Where the replay stands: next event, threads, registers, virtual clock. */
  async state(): Promise<SessionState> {
    if (this.finished) {
      return { paused: false, seq: this.count, served: this.count, speed: this.currentSpeed, virtualNs: 0n, next: null, threads: [], registers: null };
    }
    const reply = this.until('state');
    this.engine.control({ verb: 'state' });
    const m = await reply;
    if (m?.type !== 'state') return this.state();
    return stateOf(m);
  }

  /** Reads the memory of a paused thread (recorded tid). */
  async readMemory(tid: number, addr: bigint, length: number): Promise<Buffer> {
    const reply = this.until('memory');
    this.engine.control({ verb: 'read', tid, addr, length });
    const m = await reply;
    if (m?.type !== 'memory') throw new ReplaybookError('finished', 'the replay has ended: no memory to read');
    if (m.error) throw new ReplaybookError('memory', `cannot read ${length} bytes at 0x${addr.toString(16)} of thread ${tid}: ${m.error}`);
    return m.data;
  }

  /** The executable the replay runs (what gdb loads symbols from). */
  get executable(): string {
    return this.runExe;
  }

  /**
   * Listens for gdb on 127.0.0.1:`port` (0: a free port) and resolves with the port. gdb
   * (`target remote 127.0.0.1:PORT`, with executable() as its file) sees the paused replay:
   * docs/gdb.md says what it can do. A replay restarted by a backward jump listens anew.
   */
  async gdbserver(port = 0): Promise<number> {
    if (this.gdbPort !== null && (port === 0 || port === this.gdbPort)) return this.gdbPort;
    const reply = this.until('gdbserver');
    this.engine.control({ verb: 'gdbserver', port });
    const m = await reply;
    if (m?.type !== 'gdbserver') throw new ReplaybookError('finished', 'the replay has ended: nothing for gdb to attach to');
    if (m.error) throw new ReplaybookError('gdbserver', `${m.error} (choose another port, or 0 for a free one)`);
    this.gdbPort = m.port;
    return m.port;
  }

  private async gdbTarget(): Promise<{ port: number; realTid: number | null }> {
    const st = await this.state();
    if (this.finished) throw new ReplaybookError('finished', 'the replay has ended: no frames or variables to show');
    if (!st.paused) throw new ReplaybookError('not_paused', 'the replay is running: pause it first (pause(), step() or jumpTo())');
    const port = await this.gdbserver();
    return { port, realTid: st.threads[0]?.realTid ?? null };
  }

  private inspect(): Inspector {
    this.inspector ??= new Inspector(this.runExe);
    return this.inspector;
  }

  /**
   * Every stopped thread's stack at the pause: function, file and line per frame (file and line
   * only where there is debug info), read by gdb through the engine's gdbserver.
   */
  async backtrace(): Promise<ThreadFrames[]> {
    return this.inspect().backtrace(await this.gdbTarget());
  }

  /**
   * The locals and arguments of a frame with their values (by default the innermost frame with
   * debug info of the thread whose event is next). Without debug info: no variables, and a
   * message saying how to get it.
   */
  async variables(sel: FrameSelector = {}): Promise<FrameVariables> {
    return this.inspect().variables(await this.gdbTarget(), sel);
  }

  private async closeInspector(): Promise<void> {
    const i = this.inspector;
    this.inspector = null;
    await i?.close().catch(() => undefined);
  }

  /** Stops the replay (its program is killed) and resolves with the outcome so far. */
  async stop(): Promise<RunResult> {
    this.engine.stop();
    return this.done;
  }

  /** The run's events as they are served. */
  async *events(): AsyncGenerator<RecordBatch> {
    let seen = 0; // rows
    for (;;) {
      for await (const b of this.run.batches(seen)) {
        seen += b.numRows;
        yield b;
      }
      if (this.finished && seen >= this.run.rows) return;
      await new Promise<void>((resolve) => {
        const l = (): void => {
          this.listeners.delete(l);
          resolve();
        };
        this.listeners.add(l);
        this.done.then(l, l);
      });
    }
  }

  /**
   * A replay runs with the placeholders the recording stored: a divergence where the service was
   * given some says so and names the rules, and the run stores no secret the replay wrote.
   */
  private explainRedaction(d: Divergence): void {
    if (this.redactor) this.redactor.redactBytes(d.actual.data_in);
    const rules = rulesBefore(this.info.redaction, d.seq);
    if (rules.length === 0) return;
    d.redaction = rules;
    d.reason +=
      `; the recording was redacted before this point (${rules.join('; ')}): the replay gives the service same-length ` +
      'placeholders, so where it transforms a secret (a hash, base64) it writes other bytes than in production ' +
      '(record with --no-default-redact or without that --redact rule to replay it exactly)';
  }

  private async finish(exit: EngineExit, events: RunEvents, started: bigint, startedAtNs: bigint): Promise<RunResult> {
    this.finished = true;
    this.flushWaiters();
    await this.closeInspector();
    this.keepServed(this.count);
    const o = this.o;
    const wallNs = process.hrtime.bigint() - started;
    let exitMsg: ExitMessage | undefined;
    let divergence: Divergence | null = null;
    let switchedAt: RunResult['switchedAt'] = null;
    const unrecorded: Unrecorded[] = [];
    const warnings: string[] = [];
    for (const m of exit.messages) {
      if (m.type === 'error') throw new ReplaybookError(m.code, `replay failed: ${m.message}`);
      if (m.type === 'exit') exitMsg = m;
      if (m.type === 'divergence' && !divergence) divergence = { seq: m.seq, tid: m.tid, reason: m.reason, ip: m.ip, expected: m.expected, actual: m.actual };
      if (m.type === 'policy' && !switchedAt) switchedAt = { seq: m.seq, reason: m.reason };
      if (m.type === 'unrecorded') unrecorded.push({ name: m.name, tid: m.tid, reason: m.reason, policy: m.policy });
      if (m.type === 'warning') warnings.push(m.message);
    }
    if (!exitMsg) {
      throw new ReplaybookError('engine_crashed', `the replay engine stopped unexpectedly (${exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`})`);
    }
    // A recording that was cut short (or is still being recorded) ends where its log ends: a
    // program that goes past it has reached the end of what is known, not diverged.
    const partial = this.info.state === 'cut short' || this.info.state === 'recording';
    let endedAtCut = false;
    if (partial && divergence && divergence.expected === null) {
      divergence = null;
      endedAtCut = true;
    }
    if (divergence) {
      this.explainRedaction(divergence);
      explainAddresses(divergence, this.info.aslr);
    }
    const { exitCode, signal } = exitMsg;
    const output = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    for await (const b of events.batches()) {
      output.stdout.push(writtenTo([b], 'stdout'));
      output.stderr.push(writtenTo([b], 'stderr'));
    }
    const stdout = Buffer.concat(output.stdout);
    const stderr = Buffer.concat(output.stderr);
    const recorded = {
      exitCode: this.info.exit_code,
      signal: this.info.exit_signal,
      stdout: Buffer.concat(this.recordedOutput.stdout),
      stderr: Buffer.concat(this.recordedOutput.stderr),
    };
    // The log was given the real bytes of redacted files back; the outcome compares as stored.
    if (this.redactedFiles.length && this.redactor) {
      this.redactor.redactBytes(recorded.stdout);
      this.redactor.redactBytes(recorded.stderr);
    }
    const reproduced =
      !divergence && (endedAtCut || (exitCode === recorded.exitCode && signal === recorded.signal)) && stdout.equals(recorded.stdout) && stderr.equals(recorded.stderr);
    let stored: RunResult['stored'] = 'not stored';
    if (!o.ephemeral) {
      const run: RunInfo = {
        incident_id: this.incidentId,
        run_id: this.runId,
        started_at_ns: startedAtNs,
        speed: String(this.currentSpeed),
        seed: o.jitter?.seed ?? 0,
        injections: JSON.stringify(o.injections ?? []),
        label: o.label ?? '',
        exit_code: exitCode,
        exit_signal: signal,
        event_count: this.count,
        wall_ns: wallNs,
        divergence: divergence ? JSON.stringify({ ...divergenceWire(divergence), redaction: divergence.redaction }) : '',
        stdout: new Uint8Array(stdout),
        stderr: new Uint8Array(stderr),
      };
      stored = await o.store.putRun(run, events.batches());
    }
    const result: RunResult = {
      incident: this.incidentId,
      runId: this.runId,
      exitCode,
      signal,
      stdout,
      stderr,
      events: this.count,
      wallMs: Number(wallNs) / 1e6,
      speed: this.currentSpeed,
      divergence,
      batches: [],
      recorded,
      reproduced,
      localExeChanged: this.localExeChanged,
      warnings,
      stored,
      policy: switchedAt ? 'stream' : 'strict',
      switchedAt,
      injections: o.injections ?? [],
      injectionReport: exitMsg.replay?.injections ?? [],
      servedInProcess: exitMsg.replay?.inProcess ?? 0,
      unrecorded,
      label: o.label ?? null,
      cutShort: partial ? { reason: this.info.state === 'recording' ? 'it is still being recorded' : this.info.state_reason || 'cut short', endedAtCut } : null,
      commandChanges: this.command.changes.map((c) => `${c.target} ${c.name}: ${c.before ?? '(unset)'} -> ${c.after}`),
    };
    // The events are read into memory when first asked for (from disk where the run was longer
    // than the event-memory budget); the files live as long as the result (or the session).
    Object.defineProperty(result, 'batches', { enumerable: true, configurable: true, get: () => events.toArray() });
    return result;
  }
}

/** The first `rows` events of `batches` (all of them when rows is null). */
async function* upTo(batches: AsyncIterable<RecordBatch>, rows: number | null): AsyncGenerator<RecordBatch> {
  let left = rows ?? Infinity;
  for await (const b of batches) {
    if (left <= 0) return;
    yield b.numRows <= left ? b : b.slice(0, left);
    left -= b.numRows;
  }
}

/**
 * A program that reads its own memory map acts on addresses, which differ between a recording
 * made with ASLR on (record --aslr, or recorded before replaybook stored it: `aslr` absent) and
 * the replay: the divergence says how to record it.
 */
function explainAddresses(d: Divergence, aslr: boolean | undefined): void {
  if (aslr === false) return;
  const maps = /^file:\/proc\/(self|\d+)\/(maps|smaps|numa_maps)$/;
  if (!maps.test(d.expected?.resource ?? '') && !maps.test(d.actual.resource)) return;
  d.reason +=
    '; the program reads its own memory map, whose addresses differ from the recording\'s when it ran with ' +
    'address randomization on: record it without --aslr (record({ aslr: false }), the default)';
}

/**
 * Config-file timeouts (`file:PATH#key=value`): the content the recording read from PATH, with
 * the key changed, in a temporary file the engine serves instead. Throws when the recording never
 * read PATH or the key is not in it.
 */
async function editConfigFiles(o: ReplayOptions, incidentId: string): Promise<Map<string, string>> {
  const edited = new Map<string, string>();
  const paths = new Set<string>();
  for (const i of o.injections ?? []) if (i.kind === 'timeout' && i.target.type === 'file') paths.add(i.target.path);
  if (paths.size === 0) return edited;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replaybook-edit-'));
  // Kept while the session may restart (jumpTo backward), removed when this process exits.
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  for (const p of paths) {
    const content = await readFrom(o.store.events(incidentId), p);
    if (!content) {
      throw new ReplaybookError('file_not_read', `the recording never read ${p}, so there is no content to change a key in (the timeout must be in a file the service read)`);
    }
    const local = path.join(dir, String(edited.size));
    fs.writeFileSync(local, applyToFile(content, p, o.injections ?? []).content);
    edited.set(p, local);
  }
  return edited;
}

/** Refuses injections the engine cannot apply yet, naming them, before anything runs. */
export function checkInjections(injections: readonly Injection[]): void {
  for (const i of injections) {
    if (i.kind === 'signal') {
      throw new ReplaybookError('unsupported_injection', `${describeInjection(i)}: signal injections are not supported by the replay engine yet`);
    }
  }
}

function stateOf(m: StateMessage): SessionState {
  return {
    paused: m.paused,
    seq: m.seq,
    served: m.served,
    speed: m.speed,
    virtualNs: m.virtualNs,
    next: m.next && { name: m.next.call.name, tid: m.next.tid, resource: m.next.call.resource, args: m.next.call.args },
    threads: m.threads,
    registers: m.registers,
  };
}
