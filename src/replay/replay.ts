// Replaying an incident: the recorded binary runs under the engine's replayer with every
// emulated syscall served from the log; the run is stored with its own events.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { Table, type RecordBatch } from 'apache-arrow';
import { runEngine, type EngineMessage } from '../engine/engine';
import { toRecordBatch } from '../engine/columns';
import type { IncidentInfo, RunInfo } from '../events/schema';
import { ReplaybookError } from '../errors';
import { sha256File } from '../hash';
import type { EventStore } from '../store/types';
import { writtenTo } from './outputs';

export type Speed = number | 'max';

export interface ReplayOptions {
  store: EventStore;
  /** 1 = production timing (default), 10 = ten times faster, 'max' = no waiting. */
  speed?: Speed;
  /** Pin tracer and program to one CPU (default true). */
  pin?: boolean;
  signal?: AbortSignal;
  onProgress?(events: number): void;
  /** Keep the run out of the store (default false: every run is stored). */
  ephemeral?: boolean;
  /**
   * Run the replay in a network namespace of its own (default true), on top of emulating every
   * network syscall. Tests turn it off to prove the emulation alone contacts no one.
   */
  isolateNetwork?: boolean;
}

/** A recorded or replayed syscall as the divergence report shows it. */
export interface DivergentCall {
  name: string;
  nr: number;
  args: bigint[];
  resource: string;
  /** Bytes the call handed to the kernel (written data, paths). */
  data_in: Buffer;
}

/** Where the program stopped following the log. */
export interface Divergence {
  seq: number;
  tid: number;
  reason: string;
  /** Instruction pointer after the syscall instruction. */
  ip: bigint;
  expected: DivergentCall | null;
  actual: DivergentCall;
}

export interface RunResult {
  incident: string;
  runId: string;
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  events: number;
  wallMs: number;
  speed: Speed;
  divergence: Divergence | null;
  /** The run's events (the same rows stored under runId). */
  batches: RecordBatch[];
  /** The recorded outcome, for comparison. */
  recorded: { exitCode: number | null; signal: string | null; stdout: Buffer; stderr: Buffer };
  /** True when exit status, stdout and stderr match the recording and nothing diverged. */
  reproduced: boolean;
  /** The local executable differs from the recorded one (the recorded one ran). */
  localExeChanged: boolean;
  /** What the engine noticed along the way (e.g. no network namespace could be made). */
  warnings: string[];
  stored: 'stored' | 'spooled' | 'not stored';
}

function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return `run-${t}-${randomBytes(3).toString('hex')}`;
}

function call(j: Record<string, unknown>): DivergentCall {
  return {
    name: String(j.name),
    nr: Number(j.nr),
    args: (j.args as string[]).map((a) => BigInt(a)),
    resource: String(j.resource ?? ''),
    data_in: Buffer.from(String(j.data_in ?? ''), 'base64'),
  };
}

function divergenceOf(m: EngineMessage): Divergence {
  return {
    seq: Number(m.seq),
    tid: Number(m.tid),
    reason: String(m.reason),
    ip: BigInt(String(m.ip)),
    expected: m.expected ? call(m.expected as Record<string, unknown>) : null,
    actual: call(m.actual as Record<string, unknown>),
  };
}

/** The incident's recorded files unpacked in the blob cache: recorded path -> local file. */
async function materializeFiles(info: IncidentInfo, store: EventStore): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const [recorded, sha] of Object.entries(info.files)) files.set(recorded, await store.blobFile(sha));
  return files;
}

export async function loadIncident(store: EventStore, id: string): Promise<IncidentInfo> {
  const info = await store.incident(id);
  if (!info) {
    throw new ReplaybookError('unknown_incident', `unknown incident '${id}': \`replaybook incidents\` lists the recorded ones`);
  }
  return info;
}

export async function replay(incidentId: string, o: ReplayOptions): Promise<RunResult> {
  const info = await loadIncident(o.store, incidentId);
  const speed = o.speed ?? 1;
  if (speed !== 'max' && !(typeof speed === 'number' && speed > 0 && Number.isFinite(speed))) {
    throw new ReplaybookError('bad_speed', `speed must be a positive number or 'max', not ${String(speed)}`);
  }
  const files = await materializeFiles(info, o.store);
  const exeReal = (() => {
    try {
      return fs.realpathSync(info.exe_path);
    } catch {
      return null;
    }
  })();
  if (!exeReal) {
    throw new ReplaybookError(
      'exe_path_missing',
      `the recorded executable's path ${info.exe_path} does not exist on this machine; replaybook needs the path to exist to put the recorded binary there (a limit of this version)`,
    );
  }
  const localExeChanged = sha256File(exeReal) !== info.exe_sha256;
  const cwd = fs.existsSync(info.cwd) ? info.cwd : '/';
  const runId = newRunId();
  const batches: RecordBatch[] = [];
  let count = 0;
  const started = process.hrtime.bigint();
  const startedAtNs = BigInt(Date.now()) * 1_000_000n;
  const exit = await runEngine({
    mode: 'replay',
    exe: info.exe_path,
    argv: info.argv,
    env: info.env,
    cwd,
    pin: o.pin ?? true,
    speed,
    files,
    isolateNetwork: o.isolateNetwork ?? true,
    input: o.store.events(incidentId),
    signal: o.signal,
    onEvents(cols) {
      batches.push(toRecordBatch(cols, incidentId, runId));
      count += cols.n;
      o.onProgress?.(count);
    },
  });
  const wallNs = process.hrtime.bigint() - started;
  const err = exit.messages.find((m) => m.type === 'error');
  if (err) throw new ReplaybookError(String(err.code ?? 'engine'), `replay failed: ${String(err.message)}`);
  const exitMsg = exit.messages.find((m) => m.type === 'exit');
  if (!exitMsg) {
    throw new ReplaybookError(
      'engine_crashed',
      `the replay engine stopped unexpectedly (${exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`})`,
    );
  }
  const divMsg = exit.messages.find((m) => m.type === 'divergence');
  const divergence = divMsg ? divergenceOf(divMsg) : null;
  const exitCode = typeof exitMsg.exit_code === 'number' ? exitMsg.exit_code : null;
  const signal = typeof exitMsg.signal === 'string' ? exitMsg.signal : null;
  const stdout = writtenTo(batches, 'stdout');
  const stderr = writtenTo(batches, 'stderr');

  const recordedBatches: RecordBatch[] = [];
  for await (const b of o.store.events(incidentId)) recordedBatches.push(b);
  const recorded = {
    exitCode: info.exit_code,
    signal: info.exit_signal,
    stdout: writtenTo(recordedBatches, 'stdout'),
    stderr: writtenTo(recordedBatches, 'stderr'),
  };
  const reproduced =
    !divergence &&
    exitCode === recorded.exitCode &&
    signal === recorded.signal &&
    stdout.equals(recorded.stdout) &&
    stderr.equals(recorded.stderr);

  let stored: RunResult['stored'] = 'not stored';
  if (!o.ephemeral) {
    const run: RunInfo = {
      incident_id: incidentId,
      run_id: runId,
      started_at_ns: startedAtNs,
      speed: String(speed),
      seed: 0,
      injections: '[]',
      exit_code: exitCode,
      exit_signal: signal,
      event_count: count,
      wall_ns: wallNs,
      divergence: divMsg ? JSON.stringify(divMsg) : '',
      stdout: new Uint8Array(stdout),
      stderr: new Uint8Array(stderr),
    };
    stored = await o.store.putRun(run, batches);
  }
  return {
    incident: incidentId,
    runId,
    exitCode,
    signal,
    stdout,
    stderr,
    events: count,
    wallMs: Number(wallNs) / 1e6,
    speed,
    divergence,
    batches,
    recorded,
    reproduced,
    localExeChanged,
    warnings: exit.messages.filter((m) => m.type === 'warning').map((m) => String(m.message)),
    stored,
  };
}

/** The run's events as one Arrow table. */
export function runTable(run: RunResult): Table {
  return new Table(run.batches);
}
