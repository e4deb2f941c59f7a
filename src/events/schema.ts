// The event model: one row per event, ordered by `seq`. This module is the single owner of the
// column list; the engine decoder, the store's DDL and the replay plan all read it from here.
import {
  Binary,
  Field,
  Int32,
  Int64,
  List,
  Schema,
  Uint64,
  Utf8,
} from 'apache-arrow';

/** What an event row is: a syscall, a signal delivery, bytes that arrived late, a thread exit. */
export const EVENT_KINDS = ['syscall', 'signal', 'late_data', 'exit', 'instruction'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** run_id of the events captured while recording; replays get their own run ids. */
export const RECORDING_RUN = 'recording';

/**
 * Arrow schema of the `events` table. Text columns are Utf8 here; ClickHouse returns every String
 * as Binary (see store settings) and the store relabels the text ones without copying.
 */
export const eventSchema = new Schema([
  new Field('incident_id', new Utf8(), false),
  new Field('run_id', new Utf8(), false),
  new Field('seq', new Uint64(), false),
  new Field('pid', new Int32(), false),
  new Field('tid', new Int32(), false),
  new Field('nr', new Int32(), false),
  new Field('name', new Utf8(), false),
  new Field('args', new List(new Field('item', new Uint64(), false)), false),
  new Field('ret', new Int64(), false),
  new Field('enter_ns', new Int64(), false),
  new Field('dur_ns', new Int64(), false),
  new Field('resource', new Utf8(), false),
  new Field('data_in', new Binary(), false),
  new Field('data_out', new Binary(), false),
  new Field('kind', new Utf8(), false),
]);

/** Columns that hold text (ClickHouse hands them back as Binary; we relabel them as Utf8). */
export const TEXT_COLUMNS = ['incident_id', 'run_id', 'name', 'resource', 'kind'] as const;

/** One event as a plain object: only for displaying a handful of rows or for tests. */
export interface EventRow {
  incident_id: string;
  run_id: string;
  seq: bigint;
  pid: number;
  tid: number;
  nr: number;
  name: string;
  args: bigint[];
  ret: bigint;
  enter_ns: bigint;
  dur_ns: bigint;
  resource: string;
  data_in: Uint8Array;
  data_out: Uint8Array;
  kind: EventKind;
}

/** The `incidents` table: one row per recorded incident. */
export interface IncidentInfo {
  incident_id: string;
  service: string;
  argv: string[];
  env: string[];
  cwd: string;
  exe_path: string;
  exe_sha256: string;
  /** Wall-clock start of the recording, nanoseconds since the Unix epoch. */
  started_at_ns: bigint;
  /** Exit code, or null when the service was killed by a signal. */
  exit_code: number | null;
  exit_signal: string | null;
  event_count: number;
  duration_ns: bigint;
  /**
   * Files the service mapped or the kernel loaded at exec: path -> sha256 of the blob holding its
   * bytes as they were when first mapped, or '' when the recorder could not read them (the
   * recording's warning said why; a replay that maps the file says so).
   */
  files: Record<string, string>;
  host: string;
  /** What was redacted before the recording reached the store (absent: recorded without rules). */
  redaction?: RedactionReport;
  /**
   * 'recording': still being recorded (the events stored so far can be read); 'cut short': it
   * was interrupted (state_reason says how) and holds every event up to then; absent or
   * 'complete': the service ran to its end under the recorder.
   */
  state?: IncidentState;
  /** Why a recording was cut short ('' otherwise). */
  state_reason?: string;
  /**
   * Whether the service ran with its address space randomized (record --aslr): its replay, which
   * runs with fixed addresses, then cannot give it the addresses it had. false: fixed addresses,
   * the layout its replay reproduces. Absent: recorded before replaybook stored this.
   */
  aslr?: boolean;
}

export const INCIDENT_STATES = ['recording', 'complete', 'cut short'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/**
 * Redaction of an incident (src/record/redact.ts): the rules in force and what each replaced.
 * Secret values are never stored, only where they were (names, event seqs, byte ranges).
 */
export interface RedactionReport {
  /** Every rule in force when recording, as written (`env:*TOKEN*`, `header:Authorization`...). */
  rules: string[];
  /** The rules that replaced something. */
  applied: AppliedRedaction[];
  /** Files whose contents were kept out of the store (`file:PATH` rules). */
  files: RedactedFile[];
}

export interface AppliedRedaction {
  rule: string;
  /** Environment variable or header names it matched (never values). */
  names: string[];
  /** The service was given the placeholder through its environment or arguments. */
  inCommand: boolean;
  /** Events where bytes were replaced (the first 1000), with [start, length] ranges per column. */
  events: { seq: number; column: 'data_in' | 'data_out' | 'resource'; ranges: [number, number][] }[];
  /** Events where bytes were replaced, in all. */
  eventCount: number;
}

export interface RedactedFile {
  path: string;
  sha256: string;
  size: number;
  /**
   * Where its bytes were replaced, for a replay to put them back from the local file: [seq,
   * column (0 data_in, 1 data_out, 2 resource), start, length, offset in the file].
   */
  restore: [number, number, number, number, number][];
  /** The service mapped it (its blob was not stored either). */
  mapped: boolean;
}

/** The sha256 of every blob an incident's files refer to (files stored without bytes excluded). */
export function storedFileShas(info: Pick<IncidentInfo, 'files'>): string[] {
  return [...new Set(Object.values(info.files).filter((sha) => sha !== ''))];
}

/** The `runs` table: one row per replay run. */
export interface RunInfo {
  incident_id: string;
  run_id: string;
  started_at_ns: bigint;
  speed: string;
  seed: number;
  injections: string;
  /** A name the analyst gave the run ('' when none). */
  label: string;
  exit_code: number | null;
  exit_signal: string | null;
  event_count: number;
  wall_ns: bigint;
  /** JSON of the divergence report, or '' when the replay matched the log. */
  divergence: string;
  stdout: Uint8Array;
  stderr: Uint8Array;
}
