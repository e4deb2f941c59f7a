// Recording an incident: run the service under the engine's recorder, which writes its events to
// a spool file while this process stores them as they come (live.ts); the incident row exists
// from the start ('recording') and is finished with the exit, the counts and every file the
// service mapped (as content-addressed blobs).
import { sha256File } from '../hash';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEngine } from '../engine/engine';
import type { EngineMessage } from '../engine/protocol';
import { type IncidentInfo } from '../events/schema';
import type { EventStore } from '../store/types';
import { ChdbStore } from '../store/chdb';
import { storeHome } from '../store/location';
import { createLiveEntry, liveFilesDir, liveFramesFile, markLiveCut, setLiveEngine, spoolFailedAdvice, type LiveOutcome } from './live';
import { diskFullText } from '../store/space';
import { StoreError } from '../store/errors';
import { ReplaybookError } from '../errors';
import { Redactor, redactRules, type RedactOptions } from './redact';
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
  /**
   * Budgets: the recording stops after this many events (give or take the batch under way and
   * the calls in flight), or once its spool file holds this many bytes. The service is stopped
   * there (it cannot run on untraced: its seccomp filter would fail its calls), and the incident
   * is marked cut short with the reason.
   */
  maxEvents?: number;
  maxBytes?: number;
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


export async function record(o: RecordOptions): Promise<RecordResult> {
  checkIncidentId(o.incident);
  if (o.command.length === 0) throw new ReplaybookError('no_command', 'nothing to record: give the command after --');
  // Fail before running the service when we can tell; a store held by another process cannot
  // be read now, and the ingestion refuses a duplicate later instead.
  let exists = false;
  try {
    exists = (await o.store.incident(o.incident)) !== null;
  } catch (e) {
    if (!(e instanceof StoreError && e.code === 'locked')) throw e;
  }
  if (exists) throw new ReplaybookError('incident_exists', `incident '${o.incident}' already exists: choose another id`);
  for (const [name, v] of [['maxEvents', o.maxEvents], ['maxBytes', o.maxBytes]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) throw new ReplaybookError('bad_option', `${name} must be a whole number above 0, not ${String(v)}`);
  }
  const lateData = lateDataConfig(o.lateData);
  const cwd = path.resolve(o.cwd ?? process.cwd());
  const envObj = o.env ?? process.env;
  const exe = resolveExecutable(o.command[0], cwd, envObj);
  const env = Object.entries(envObj)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  // The service runs with its real environment; the store and every replay get the redacted one.
  const rules = redactRules(o);
  const stored = new Redactor(rules, cwd).command(env, o.command);
  const base: IncidentInfo = {
    incident_id: o.incident,
    service: o.service ?? path.basename(exe),
    argv: stored.argv,
    env: stored.env,
    cwd,
    exe_path: exe,
    exe_sha256: sha256File(exe),
    started_at_ns: BigInt(Date.now()) * 1_000_000n,
    exit_code: null,
    exit_signal: null,
    event_count: 0,
    duration_ns: 0n,
    files: {},
    host: os.hostname(),
  };
  // The engine writes the recording into a live spool entry; this process (or, if it dies, the
  // next one to open the store) ingests it as it grows (live.ts).
  const isServer = !(o.store instanceof ChdbStore);
  const home = o.store instanceof ChdbStore ? o.store.home : storeHome();
  const dir = createLiveEntry(home, isServer ? o.store.location : '', base, rules, env, o.command);
  const warnings: string[] = [];
  let cutReason: string | null = null;
  let spooledEvents = 0;
  let spooledBytes = 0;
  let spoolFailure: string | null = null;
  let spoolFull = '';
  let ingesting: Promise<unknown> = Promise.resolve();
  let ingestError: unknown = null;
  // The step that finished the recording, whichever it was: a periodic one may see the engine
  // gone before this process hears it exit, and its outcome (the warnings) must not be lost.
  let finished: LiveOutcome | null = null;
  const step = (engineDone: boolean, wait: boolean, keep = false): Promise<LiveOutcome | null> => {
    const run = ingesting
      .then(() => o.store.ingestLive(dir, { engineDone, wait, keep }))
      .then((r) => {
        if (r && r.state !== 'recording') finished = r;
        return r;
      });
    ingesting = run.catch((e: unknown) => {
      ingestError ??= e;
    });
    return run;
  };
  let fast: RecordResult['fast'];
  const engine = startEngine({
    mode: 'record',
    captureDir: liveFilesDir(dir),
    spool: liveFramesFile(dir),
    maxEvents: o.maxEvents,
    maxBytes: o.maxBytes,
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
    onEvents() {
      // a recording with a spool file sends none: its batches are in the file
    },
    onMessage(m: EngineMessage) {
      if (m.type === 'error' && m.code === 'spool_write') {
        // The engine stopped the recording: a spool write failed. It wrote why next to the spool
        // file, room permitting; if it could not, the reason is kept here.
        spoolFailure = m.message;
        // The disk's free space now, while the failure holds (ingestion frees it again).
        if (/\b(ENOSPC|EDQUOT)\b/.test(m.message)) spoolFull = ` (${diskFullText(path.dirname(dir), 'the recording', { bytes: spooledBytes, atLeast: true })})`;
        try {
          if (!fs.existsSync(`${liveFramesFile(dir)}.failed`)) markLiveCut(dir, `${m.message}. ${spoolFailedAdvice(path.dirname(dir))}`);
        } catch {
          // the disk is full for this too: the recording still ends cut short (engine gone, no END)
        }
      }
      if (m.type === 'spooled') {
        spooledBytes = m.bytes;
        spooledEvents = m.events;
        o.onProgress?.(m.events);
      }
      if (m.type === 'fast') fast = { calls: m.calls, sites: m.sites, lossyFrom: m.lossyFrom };
    },
  });
  setLiveEngine(dir, engine.pid);
  // Interrupted: the reason goes into the entry first, then the engine stops the service; every
  // event written until then is kept.
  const onAbort = (): void => {
    cutReason = `interrupted: replaybook record was stopped (${abortName(o.signal?.reason)}) and the service with it`;
    markLiveCut(dir, cutReason);
    engine.stop();
  };
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  // Each step keeps the embedded store open until the next (unless another process waits for it).
  const ticker = setInterval(() => {
    void step(false, false, true);
  }, INGEST_INTERVAL_MS);
  void step(false, false, true);
  let exit;
  try {
    exit = await engine.done;
  } catch (e) {
    void ingesting.then(() => o.store.releaseLive?.());
    throw e;
  } finally {
    clearInterval(ticker);
    o.signal?.removeEventListener('abort', onAbort);
  }
  await ingesting;
  // A store another process keeps open is not waited for: the recording stays spooled for it.
  // (The last step goes through the connection the periodic ones kept, and lets it go.)
  let outcome = ingestError ? null : (finished ?? (await step(true, false)));
  o.store.releaseLive?.();
  if (ingestError) throw ingestError;
  if (outcome === null) {
    // Another process finished it meanwhile (or holds the store: then it stays spooled).
    if (fs.existsSync(dir)) return { incident: { ...base, event_count: spooledEvents }, stored: 'spooled', warnings, ...(fast ? { fast } : {}) };
    const info = await o.store.incident(o.incident);
    if (!info) throw new ReplaybookError('record_failed', `the recording of '${o.incident}' ended, but the store has no such incident`);
    outcome = { state: info.state === 'cut short' ? 'cut short' : 'complete', info, warnings: [] };
  }
  if (outcome.state === 'failed') {
    throw new ReplaybookError(outcome.error.code, `recording failed: ${outcome.error.message}; nothing was stored`);
  }
  if (outcome.state === 'conflict') throw new ReplaybookError('incident_exists', `incident '${o.incident}' already exists: the recording was kept in the spool's conflicts`);
  if (outcome.state === 'recording') throw new ReplaybookError('record_failed', 'the recording engine exited but its recording is not over');
  warnings.push(...outcome.warnings);
  const engineDied = exit.signal !== null && !cutReason && outcome.state === 'cut short' && !outcome.info.state_reason?.startsWith('its budget');
  if (engineDied) {
    throw new ReplaybookError(
      'engine_crashed',
      `the recording engine stopped unexpectedly (signal ${exit.signal}): the service was killed with it, since it cannot run on ` +
        `without its tracer; the ${outcome.info.event_count} events recorded until then are stored as incident '${o.incident}', cut short`,
    );
  }
  const reason = outcome.info.state_reason ?? '';
  if (spoolFailure !== null || /^spool (write|sync) failed/.test(reason)) {
    // Never silent: the recording is kept up to the failure, and record fails with why.
    throw new ReplaybookError(
      'spool_write_failed',
      `the recording was cut short: ${spoolFailure !== null ? `${spoolFailure}${spoolFull}. ${spoolFailedAdvice(path.dirname(dir))}` : reason} ` +
        `The ${outcome.info.event_count} events recorded until then are stored as incident '${o.incident}', cut short (replaybook incidents shows it).`,
    );
  }
  return { incident: outcome.info, stored: 'stored', warnings, ...(fast ? { fast } : {}) };
}

/** How often a running recording's new events go into the store. */
const INGEST_INTERVAL_MS = 1000;

function abortName(reason: unknown): string {
  return typeof reason === 'string' ? reason : 'SIGINT or SIGTERM';
}
