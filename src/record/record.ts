// Recording an incident: run the service under the engine's recorder, then store its events, the
// incident row and every file it mapped (as content-addressed blobs) in one go.
import { sha256File } from '../hash';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { runEngine } from '../engine/engine';
import type { EngineMessage, ErrorMessage, ExitMessage } from '../engine/protocol';
import { toRecordBatch } from '../engine/columns';
import { EVENT_KINDS, RECORDING_RUN, type IncidentInfo } from '../events/schema';
import type { EventStore } from '../store/types';
import { StoreError } from '../store/errors';
import { ReplaybookError } from '../errors';
import { Redactor, redactRules, type RedactOptions } from './redact';
import type { EventColumns } from '../engine/native';
import { checkIncidentId } from '../events/ids';

export interface RecordOptions extends RedactOptions {
  /** Incident id: letters, digits and . _ : - (at most 128). */
  incident: string;
  /** The command: executable and its arguments. */
  command: string[];
  /** Service name for finding the incident later; default: the executable's base name. */
  service?: string;
  /** The service's environment; default: this process's. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Pin tracer and service to one CPU (default true; stops cost ~25x more across CPUs). */
  pin?: boolean;
  /**
   * Address space randomization for the service. Default false: the service and everything it
   * starts run with fixed addresses (personality ADDR_NO_RANDOMIZE, as rr records), which is
   * what replays run with, so the replay's layout is the recording's and a program that acts on
   * an address (gcc naming a temporary file from one) replays. `true` keeps randomization, for a
   * service that must not run without it; its replay cannot give it the addresses it saw
   * (docs/services.md). The incident stores which it was (`aslr`).
   */
  aslr?: boolean;
  /**
   * 'warn' (default): where cpuid answers cannot be recorded, the recording says so in its
   * warnings (`cpuid is not recorded: ...`). 'require': the recording fails instead (error
   * `cpuid_untrapped`, naming why), before the service runs. replaybook does not trap cpuid yet,
   * so today 'require' fails on every machine (docs/services.md).
   */
  cpuid?: 'warn' | 'require';
  /**
   * Late data (default on): when the service closes a connected TCP socket (or exits with it
   * open), keep reading it and log what the peer still sends, with its arrival times, as
   * `late_data` events, so a replay can ask "what if the timeout were longer?". The peer then
   * sees a FIN instead of an RST and the connection stays open up to `ms` after the close.
   * `false` turns it off; bounds: `ms` of reading after each close (default 5000), `bytes` per
   * socket (default 1 MiB), `sockets` in all (default 64). The service is never delayed; the
   * recording may end up to `ms` after it exits.
   */
  lateData?: boolean | LateDataOptions;
  /**
   * An asynchronous signal (SIGCHLD, SIGTERM, a timer's SIGALRM...) that arrives while its thread
   * runs its own code is held until that thread's next syscall, where replay can deliver it at
   * the same point, for at most this many ms (default 20); past that it is delivered where the
   * thread is, and the log marks it inexact. 0 delivers every signal where it lands.
   */
  signalDeferMs?: number;
  /**
   * Record the syscall table's `fast` calls (read, write, epoll_wait, futex...) inside the
   * service's own processes at call sites of a known shape, instead of stopping it under ptrace
   * for each (docs/fast-path.md). Default false. Same events, same replay.
   */
  fast?: boolean;
  /** Fast path: how long a thread waits for room in a full ring before its call is lost (default 10). */
  ringWaitMs?: number;
  /**
   * 'serial' (default): one thread of the service runs userspace at a time, so the log is the
   * whole schedule. 'parallel': threads run at once; the log still orders their syscalls and
   * replay follows it, but may diverge where threads shared memory between syscalls. The fast
   * path records in-process only while the tree has one thread under 'serial'.
   */
  schedule?: 'serial' | 'parallel';
  store: EventStore;
  signal?: AbortSignal;
  /** Called as events arrive (count so far). */
  onProgress?(events: number): void;
}

export interface LateDataOptions {
  ms?: number;
  bytes?: number;
  sockets?: number;
}

/** The engine's late-data settings for a RecordOptions.lateData, checked. */
export function lateDataConfig(o: boolean | LateDataOptions | undefined): { enabled: boolean; ms?: number; bytes?: number; sockets?: number } {
  if (o === undefined || o === true) return { enabled: true };
  if (o === false) return { enabled: false };
  for (const [k, v] of Object.entries(o)) {
    if (!['ms', 'bytes', 'sockets'].includes(k)) throw new ReplaybookError('bad_option', `lateData has no option '${k}' (ms, bytes, sockets)`);
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
      throw new ReplaybookError('bad_option', `lateData.${k} must be a whole number >= 0, not ${String(v)}`);
    }
  }
  return { enabled: true, ms: o.ms, bytes: o.bytes, sockets: o.sockets };
}

export interface RecordResult {
  incident: IncidentInfo;
  /** 'spooled' when another process held the store: the next process to open it ingests it. */
  stored: 'stored' | 'spooled';
  /** What the engine noticed that may make the replay diverge (e.g. a thread spinning). */
  warnings: string[];
  /** record --fast: calls recorded in-process, sites patched, and where loss began (null: none). */
  fast?: { calls: number; sites: number; lossyFrom: number | null };
}

const LATE_DATA_KIND = EVENT_KINDS.indexOf('late_data');

// One id rule for record, unpack and every store write (events/ids.ts).
export { checkIncidentId };

/** The absolute path execve will run, resolved as a shell would (PATH for bare names). */
export function resolveExecutable(cmd: string, cwd: string, env: NodeJS.ProcessEnv): string {
  const candidates = cmd.includes('/')
    ? [path.resolve(cwd, cmd)]
    : (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean).map((d) => path.resolve(cwd, d, cmd));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // next candidate
    }
  }
  throw new ReplaybookError('no_such_command', `cannot run '${cmd}': no such executable file (looked in ${cmd.includes('/') ? candidates[0] : 'PATH'})`);
}


function engineError(messages: readonly EngineMessage[]): ErrorMessage | undefined {
  for (const m of messages) if (m.type === 'error') return m;
  return undefined;
}

export async function record(o: RecordOptions): Promise<RecordResult> {
  // The engine copies each file the service maps into this directory as it maps it.
  const captureDir = fs.mkdtempSync(path.join(os.tmpdir(), 'replaybook-capture-'));
  try {
    return await recordInto(o, captureDir);
  } finally {
    fs.rmSync(captureDir, { recursive: true, force: true });
  }
}

async function recordInto(o: RecordOptions, captureDir: string): Promise<RecordResult> {
  checkIncidentId(o.incident);
  if (o.command.length === 0) throw new ReplaybookError('no_command', 'nothing to record: give the command after --');
  // Fail before running the service when we can tell; a store held by another process cannot
  // be read now, and the spool's ingestion refuses duplicates later instead.
  let exists = false;
  try {
    exists = (await o.store.incident(o.incident)) !== null;
  } catch (e) {
    if (!(e instanceof StoreError && e.code === 'locked')) throw e;
  }
  if (exists) throw new ReplaybookError('incident_exists', `incident '${o.incident}' already exists: choose another id`);
  const lateData = lateDataConfig(o.lateData);
  const cwd = path.resolve(o.cwd ?? process.cwd());
  const envObj = o.env ?? process.env;
  const exe = resolveExecutable(o.command[0], cwd, envObj);
  const env = Object.entries(envObj)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  // The service runs with its real environment; the store and every replay get the redacted one.
  const rules = redactRules(o);
  const redactor = new Redactor(rules, cwd);
  const stored = redactor.command(env, o.command);
  const engineBatches: EventColumns[] = [];
  // path -> the engine's copy of it, taken when it was first mapped, or why it could not take one
  const files = new Map<string, { copy: string } | { error: string }>();
  let count = 0;
  // The service's own duration: late data may be logged after it exited.
  let lastServiceEnter = 0n;
  let exitMsg: ExitMessage | undefined;
  const warnings: string[] = [];
  let fast: RecordResult['fast'];
  let aslr: boolean | undefined;
  const startedAtNs = BigInt(Date.now()) * 1_000_000n;
  const exit = await runEngine({
    mode: 'record',
    captureDir,
    exe,
    argv: o.command,
    env,
    cwd,
    pin: o.pin ?? true,
    fixedAddresses: o.aslr !== true,
    cpuidRequired: o.cpuid === 'require',
    lateData,
    signalDeferMs: o.signalDeferMs,
    fast: o.fast,
    ringWaitMs: o.ringWaitMs,
    schedule: o.schedule,
    signal: o.signal,
    onEvents(cols) {
      engineBatches.push(cols);
      for (let i = 0; i < cols.n; i++) if (cols.kind[i] !== LATE_DATA_KIND) lastServiceEnter = cols.enter_ns[i];
      count += cols.n;
      o.onProgress?.(count);
    },
    onMessage(m) {
      if (m.type === 'file') files.set(m.path, m.copy !== undefined ? { copy: m.copy } : { error: m.error ?? 'not copied' });
      if (m.type === 'exit') exitMsg = m;
      if (m.type === 'started') aslr = m.aslr;
      if (m.type === 'warning') warnings.push(m.message);
      if (m.type === 'fast') fast = { calls: m.calls, sites: m.sites, lossyFrom: m.lossyFrom };
    },
  });
  const err = engineError(exit.messages);
  if (err) {
    throw new ReplaybookError(err.code, `recording failed: ${err.message}; nothing was stored`);
  }
  if (!exitMsg) {
    throw new ReplaybookError(
      'engine_crashed',
      `the recording engine stopped unexpectedly (${exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`}); nothing was stored`,
    );
  }

  // Secrets are learned from every event first (a header seen late names a value read early),
  // then replaced everywhere, before a batch exists that could be stored.
  for (const cols of engineBatches) redactor.collect(cols);
  for (const cols of engineBatches) redactor.apply(cols);
  const batches: RecordBatch[] = engineBatches.map((cols) => toRecordBatch(cols, o.incident, RECORDING_RUN));
  engineBatches.length = 0;
  const keptOut = redactor.mappedFiles(files.keys());

  // Content-address every file the service mapped or the kernel loaded for it, from the copies
  // taken when it mapped them. One it could not copy is named with no bytes ('') and a warning.
  const fileShas: Record<string, string> = {};
  const blobs = new Map<string, string>();
  const shaOfCopy = new Map<string, string>();
  for (const [p, got] of files) {
    if (keptOut.has(p)) continue;
    if ('error' in got) {
      fileShas[p] = '';
      warnings.push(`could not store ${p}, which the service mapped (${got.error}): the incident names it without its bytes, and a replay that maps it says so`);
      continue;
    }
    let sha = shaOfCopy.get(got.copy);
    if (sha === undefined) {
      sha = sha256File(got.copy);
      shaOfCopy.set(got.copy, sha);
    }
    fileShas[p] = sha;
    blobs.set(sha, got.copy);
  }
  const exeReal = fs.realpathSync(exe);
  const info: IncidentInfo = {
    incident_id: o.incident,
    service: o.service ?? path.basename(exe),
    argv: stored.argv,
    env: stored.env,
    cwd,
    exe_path: exe,
    exe_sha256: fileShas[exeReal] || sha256File(exe),
    started_at_ns: startedAtNs,
    exit_code: exitMsg.exitCode,
    exit_signal: exitMsg.signal,
    event_count: count,
    duration_ns: lastServiceEnter,
    files: fileShas,
    host: os.hostname(),
    ...(aslr !== undefined ? { aslr } : {}),
    ...(rules.length ? { redaction: redactor.report() } : {}),
  };
  const result = await o.store.putIncident(info, batches, blobs);
  return { incident: info, stored: result, warnings, ...(fast ? { fast } : {}) };
}
