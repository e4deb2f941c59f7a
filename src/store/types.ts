// The boundary between replaybook and ClickHouse. Callers speak Arrow and plain records; only the
// store knows SQL. The embedded chDB store and the ClickHouse server store implement it.
import type { RecordBatch, Table } from 'apache-arrow';
import type { IncidentInfo, RunInfo } from '../events/schema';
import type { LiveOutcome } from '../record/live';

export interface Removed {
  /** The incident row existed (false: only uncommitted events were left). */
  incident: boolean;
  runs: number;
  events: number;
}

export interface UncommittedRun {
  incident_id: string;
  run_id: string;
  events: number;
}

export interface GarbageReport {
  /** Blobs no incident refers to any more, removed. */
  blobs: string[];
  /** Their total size in bytes. */
  bytes: number;
  /** Events of runs with no committed row: interrupted inserts, or inserts still under way. */
  uncommitted: UncommittedRun[];
  /** Whether those were removed too (only when asked: a recording being stored looks the same). */
  uncommittedRemoved: boolean;
}

export interface GarbageOptions {
  /** Also remove events of uncommitted runs. Only safe when no recording is being stored. */
  uncommitted?: boolean;
}

export interface IncidentFilter {
  service?: string;
  /** Only incidents whose service exited non-zero or was killed. */
  failed?: boolean;
  /** Only incidents started at or after this instant. */
  since?: Date;
}

export interface EventStore {
  /** Where the data lives (a directory for chDB, a URL for a server), for messages. */
  readonly location: string;

  /**
   * Store a whole recording atomically from the reader's point of view: blobs, events, then the
   * incident row (readers only see incidents whose row exists). If the store is locked by another
   * process the recording is spooled and ingested by the next process that opens the store.
   * Returns 'stored' or 'spooled'.
   */
  putIncident(
    info: IncidentInfo,
    events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
    blobs: Map<string, string>,
  ): Promise<'stored' | 'spooled'>;

  /** Store a replay run with its events (same atomicity and spooling as putIncident). */
  putRun(info: RunInfo, events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>): Promise<'stored' | 'spooled'>;

  incidents(filter?: IncidentFilter): Promise<IncidentInfo[]>;
  /** The incident, or null when the store has no incident with this id. */
  incident(id: string): Promise<IncidentInfo | null>;
  runs(incidentId: string): Promise<RunInfo[]>;

  /**
   * Events of one run (default: the recording), in seq order, streamed as record batches with
   * exactly the schema of events/schema.ts. Throws StoreError('not-found') for an unknown
   * incident/run. The embedded store holds its directory until the iteration ends: iterate to the
   * end or break out of the loop (both release it).
   */
  events(incidentId: string, runId?: string): AsyncIterable<RecordBatch>;
  /** The same as one Table, for analyses that need everything at once. */
  eventsTable(incidentId: string, runId?: string): Promise<Table>;

  /** Write the blob with this sha256 to `dest` (a file path). Throws if the store lacks it. */
  readBlob(sha256: string, dest: string): Promise<void>;
  /**
   * A local, read-only file with the blob's bytes (kept in the store home's blob cache, see
   * `blobCachePath`), fetched on first use. Throws if the store lacks it.
   */
  blobFile(sha256: string): Promise<string>;

  /** ClickHouse SQL over the store with `{name:Type}` parameters, the result as an Arrow Table. */
  query(sql: string, params?: Record<string, string | number | bigint>): Promise<Table>;
  /** A statement without a result (ALTER, DELETE...), parameterised the same way. */
  command(sql: string, params?: Record<string, string | number | bigint>): Promise<void>;

  /**
   * Removes an incident with its runs and all their events (and events an interrupted insert
   * left under its id). Null when the store has nothing under that id. Blobs stay until
   * collectGarbage().
   */
  remove(incidentId: string): Promise<Removed | null>;
  /** Removes blobs no incident refers to; lists (and if asked removes) uncommitted events. */
  collectGarbage(options?: GarbageOptions): Promise<GarbageReport>;

  /**
   * Ingests what is new in a live recording's spool entry (src/record/live.ts), finishing it
   * when the recording is over (`engineDone`: its engine has exited). Null when the store is held
   * by another process (`wait` false) or the entry was finished meanwhile. `keep`: the recorder's
   * own periodic step, which may keep the store open until its next one (the embedded store).
   */
  ingestLive(dir: string, options?: { engineDone?: boolean; wait?: boolean; keep?: boolean }): Promise<LiveOutcome | null>;
  /** Lets go of what ingestLive's `keep` kept open (nothing for a server store). */
  releaseLive?(): void;

  /** Release the store (closes the chDB session or the server connections). */
  close(): Promise<void>;
}
