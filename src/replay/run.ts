// What a replay takes and gives: its options (the one declaration the CLI, the notebook, sessions
// and batches of runs derive theirs from), its result, and the pieces replay() and ReplaySession
// both build a run from. It imports neither of them.
import { randomBytes } from 'node:crypto';
import type { RecordBatch } from 'apache-arrow';
import type { Divergence as EngineDivergence, InjectionReport } from '../engine/protocol';
import type { IncidentInfo } from '../events/schema';
import { ReplaybookError } from '../errors';
import { shownId } from '../events/ids';
import type { EventStore } from '../store/types';
import type { Injection } from '../inject/types';

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
  /**
   * Injections (src/inject): a counterfactual replay. The run follows the log strictly until the
   * first injection fires (or the program departs from the log after an env/arg change), then
   * switches to the stream policy (docs/injections.md).
   */
  injections?: Injection[];
  /** Replay this rebuilt executable instead of the recorded one (stream policy after it departs). */
  binary?: string;
  /** Seeded timing variation: every recorded arrival up to `ms` later (reproducible from `seed`). */
  jitter?: { ms: number; seed: number };
  /** An interaction with nothing recorded behind it: 'error' (default) ends the run; 'refuse' fails the call. */
  unrecorded?: 'error' | 'refuse';
  /** A name for the run, stored with it ('timeout 5 s'); runs() and compare() show it. */
  label?: string;
  /**
   * Bytes of events kept in memory (default 32 MiB), so a replay of millions of events does not
   * grow with its length: past it, the run's events are written to a private temporary directory
   * (RunResult.batches reads them back when first used), and the recorded log is not kept for
   * restarts (a backward jump reads it from the store again).
   */
  eventMemory?: number;
  /**
   * At speed 'max', answer simple recorded calls inside the program rather than through a ptrace
   * stop each (docs/fast-path.md, "Replay"). Default: on. A pause at a patched call shows the
   * program's own registers, stack and code; a gdb that continues, steps or sets a breakpoint
   * gets the program's code back everywhere first (no call is answered in-process after that).
   * false: every call through ptrace.
   */
  inProcess?: boolean;
}

/**
 * What changes a replay (a counterfactual replay, a named run), as the CLI's flags and a
 * notebook's options give it.
 */
export type ReplayChanges = Pick<ReplayOptions, 'injections' | 'binary' | 'jitter' | 'unrecorded' | 'label'>;

/** An interaction the recording has nothing behind (a new endpoint, a file never read). */
export interface Unrecorded {
  name: string;
  tid: number;
  reason: string;
  policy: 'error' | 'refuse';
}

export type { DivergentCall, InjectionReport } from '../engine/protocol';

/** Where the program stopped following the log: the engine's report, and what the run adds. */
export interface Divergence extends EngineDivergence {
  /**
   * Redaction rules whose placeholders the service had been given by then (names included):
   * where it transforms a secret, the replay cannot write what production wrote.
   */
  redaction?: string[];
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
  /**
   * The run's events (the same rows stored under runId). Read into memory when first used: a
   * run longer than ReplayOptions.eventMemory keeps them on disk until then.
   */
  batches: RecordBatch[];
  /** The recorded outcome, for comparison. */
  recorded: { exitCode: number | null; signal: string | null; stdout: Buffer; stderr: Buffer };
  /** True when exit status, stdout and stderr match the recording and nothing diverged. */
  reproduced: boolean;
  /** The local executable differs from the recorded one (the recorded one ran). */
  localExeChanged: boolean;
  /** What the engine noticed along the way (e.g. no network namespace could be made). */
  warnings: string[];
  /** 'strict' while the run followed the log; 'stream' once an injection changed its path. */
  policy: 'strict' | 'stream';
  /** Where and why the run switched to the stream policy. */
  switchedAt: { seq: number; reason: string } | null;
  injections: Injection[];
  injectionReport: InjectionReport[];
  unrecorded: Unrecorded[];
  /** Changes made to the command before it started (env, arguments). */
  commandChanges: string[];
  /**
   * The recording was cut short (or is still being recorded): why, and whether the run went on
   * to its last event and was stopped there (then its exit status is not compared).
   */
  cutShort?: { reason: string; endedAtCut: boolean } | null;
  /** The name given with the `label` option, stored with the run; null when none. */
  label: string | null;
  /** Events the program answered itself, in-process, rather than through ptrace (speed max). */
  servedInProcess?: number;
  stored: 'stored' | 'spooled' | 'not stored';
}

export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  return `run-${t}-${randomBytes(3).toString('hex')}`;
}

/** The incident's recorded files unpacked in the blob cache: recorded path -> local file. */
export async function materializeFiles(info: IncidentInfo, store: EventStore): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const [recorded, sha] of Object.entries(info.files)) if (sha !== '') files.set(recorded, await store.blobFile(sha)); // '': mapped, not stored
  return files;
}

export async function loadIncident(store: EventStore, id: string): Promise<IncidentInfo> {
  const info = await store.incident(id);
  if (!info) {
    throw new ReplaybookError('unknown_incident', `unknown incident ${shownId(id)}: \`replaybook incidents\` lists the recorded ones`);
  }
  return info;
}
