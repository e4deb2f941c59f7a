// A replay under the analyst's control (the replay panel): start, pause, resume, step, change
// speed, jump to an event (backwards by restarting: replay is deterministic), look at the state
// and memory while paused, stop. replay() is a session run straight through.
import * as fs from 'node:fs';
import type { RecordBatch } from 'apache-arrow';
import { startEngine, type EngineExit, type EngineRun } from '../engine/engine';
import { divergenceJSON, type Divergence, type EngineMessage, type EngineMessageType, type ExitMessage, type StateMessage, type ThreadState } from '../engine/protocol';
import { toRecordBatch } from '../engine/columns';
import type { IncidentInfo, RunInfo } from '../events/schema';
import { ReplaybookError } from '../errors';
import { sha256File } from '../hash';
import { loadIncident, materializeFiles, newRunId, type ReplayOptions, type RunResult, type Speed, type Unrecorded } from './run';
import * as path from 'node:path';
import { applyToCommand, applyToFile, type CommandRewrite } from '../inject/rewrite';
import * as os from 'node:os';
import { readFrom, writtenTo } from './outputs';
import { describeInjection } from '../inject/describe';
import type { Injection } from '../inject/types';

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

function checkSpeed(speed: Speed): void {
  if (speed !== 'max' && !(typeof speed === 'number' && speed > 0 && Number.isFinite(speed))) {
    throw new ReplaybookError('bad_speed', `speed must be a positive number or 'max', not ${String(speed)}`);
  }
}

export class ReplaySession {
  /** Resolves with the outcome when the run ends (the program exits, diverges or is stopped). */
  done!: Promise<RunResult>;
  private engine!: EngineRun;
  private batches: RecordBatch[] = [];
  /** The recorded events as they were sent to the engine (kept for the outcome's comparison). */
  private recordedBatches: RecordBatch[] = [];
  /** The whole log once a run has read all of it: a restart (jumpTo backward) reuses it. */
  private wholeLog: RecordBatch[] | null = null;
  private count = 0;
  private runId = newRunId();
  private waiters: Waiter[] = [];
  private currentSpeed: Speed;
  private finished = false;
  private listeners = new Set<(b: RecordBatch) => void>();

  private constructor(
    readonly incidentId: string,
    private readonly info: IncidentInfo,
    private readonly files: Map<string, string>,
    private readonly localExeChanged: boolean,
    private readonly runExe: string,
    private readonly command: CommandRewrite,
    private readonly editedFiles: Map<string, string>,
    private readonly o: ReplayOptions,
  ) {
    this.currentSpeed = o.speed ?? 1;
  }

  /** Prepares a replay of the incident; it starts running unless `paused` is set. */
  static async open(incidentId: string, o: ReplayOptions, opts: { paused?: boolean; pauseAt?: number } = {}): Promise<ReplaySession> {
    checkSpeed(o.speed ?? 1);
    const info = await loadIncident(o.store, incidentId);
    const files = await materializeFiles(info, o.store);
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
        `the recorded executable ${info.exe_path} is neither on this machine nor among the incident's files; record it again with this version`,
      );
    }
    let runExe = info.exe_path;
    if (!exeReal && blob) {
      fs.chmodSync(blob, 0o555);
      runExe = blob;
    }
    checkInjections(o.injections ?? []);
    const editedFiles = await editConfigFiles(o, incidentId);
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
    const started = opts.paused ? session.until('paused') : null;
    session.launch(opts.paused ?? false, opts.pauseAt);
    await started; // paused at the first event
    return session;
  }

  private launch(paused: boolean, pauseAt?: number): void {
    const o = this.o;
    this.batches = [];
    this.recordedBatches = [];
    this.count = 0;
    this.finished = false;
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
      pauseAt: pauseAt === undefined ? undefined : BigInt(pauseAt),
      injections: o.injections ?? [],
      // The program may legitimately differ from the log: its first departure switches policy.
      counterfactual: this.command.changes.length > 0 || o.binary !== undefined,
      editedFiles: this.editedFiles,
      jitter: o.jitter && o.jitter.ms > 0 ? { us: Math.round(o.jitter.ms * 1000), seed: o.jitter.seed } : undefined,
      unrecorded: o.unrecorded === 'refuse' ? 'refuse' : 'error',
      input: this.keepRecorded(this.wholeLog ?? o.store.events(this.incidentId), this.recordedBatches),
      signal: o.signal,
      onEvents: (cols) => {
        const b = toRecordBatch(cols, this.incidentId, this.runId);
        this.batches.push(b);
        this.count += cols.n;
        o.onProgress?.(this.count);
        for (const l of this.listeners) l(b);
      },
      onMessage: (m) => this.onMessage(m),
    });
    this.done = this.engine.done.then(
      (exit) => this.finish(exit, started, startedAtNs),
      (e: unknown) => {
        this.finished = true;
        this.flushWaiters();
        throw e;
      },
    );
    // A rejected `done` nobody awaits yet must not crash the process.
    this.done.catch(() => undefined);
  }

  // The log is fetched once per session: what goes to the engine is also what the outcome
  // compares, and a restart serves the same batches again.
  private async *keepRecorded(events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>, kept: RecordBatch[]): AsyncGenerator<RecordBatch> {
    for await (const b of events) {
      kept.push(b);
      yield b;
    }
    this.wholeLog = kept;
  }

  private onMessage(m: EngineMessage): void {
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

  /** 0.1 to 10 times production speed, or 'max' (no waiting). Takes effect at once. */
  speed(x: Speed): void {
    checkSpeed(x);
    this.currentSpeed = x;
    this.engine.control({ verb: 'speed', speed: x });
  }

  /**
   * Pauses before event `seq`: forward by fast-forwarding, backward by restarting the replay and
   * fast-forwarding (replay is deterministic). The speed is kept for what follows.
   */
  async jumpTo(seq: number): Promise<SessionState> {
    const now = await this.state();
    const speed = this.currentSpeed;
    if (seq < now.seq || this.finished) {
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

  /** Stops the replay (its program is killed) and resolves with the outcome so far. */
  async stop(): Promise<RunResult> {
    this.engine.stop();
    return this.done;
  }

  /** The run's events as they are served. */
  async *events(): AsyncGenerator<RecordBatch> {
    let seen = 0;
    for (;;) {
      while (seen < this.batches.length) yield this.batches[seen++];
      if (this.finished) return;
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

  private async finish(exit: EngineExit, started: bigint, startedAtNs: bigint): Promise<RunResult> {
    this.finished = true;
    this.flushWaiters();
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
    const { exitCode, signal } = exitMsg;
    const stdout = writtenTo(this.batches, 'stdout');
    const stderr = writtenTo(this.batches, 'stderr');
    const recordedBatches = this.recordedBatches;
    const recorded = {
      exitCode: this.info.exit_code,
      signal: this.info.exit_signal,
      stdout: writtenTo(recordedBatches, 'stdout'),
      stderr: writtenTo(recordedBatches, 'stderr'),
    };
    const reproduced =
      !divergence && exitCode === recorded.exitCode && signal === recorded.signal && stdout.equals(recorded.stdout) && stderr.equals(recorded.stderr);
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
        divergence: divergence ? divergenceJSON(divergence) : '',
        stdout: new Uint8Array(stdout),
        stderr: new Uint8Array(stderr),
      };
      stored = await o.store.putRun(run, this.batches);
    }
    return {
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
      batches: this.batches,
      recorded,
      reproduced,
      localExeChanged: this.localExeChanged,
      warnings,
      stored,
      policy: switchedAt ? 'stream' : 'strict',
      switchedAt,
      injections: o.injections ?? [],
      injectionReport: exitMsg.replay?.injections ?? [],
      unrecorded,
      label: o.label ?? null,
      commandChanges: this.command.changes.map((c) => `${c.target} ${c.name}: ${c.before ?? '(unset)'} -> ${c.after}`),
    };
  }
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
