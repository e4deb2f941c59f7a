// Every statement the store sends to ClickHouse, DDL and queries alike. The embedded chDB store and
// a future server store share this module: there is no second copy of this SQL anywhere.
//
// Rules: user values only ever travel as `{name:Type}` parameters; the SQL text is built from the
// constants below. Bytes are `String` (ClickHouse strings are byte strings); timestamps are Int64
// nanoseconds; 64-bit counters are UInt64.
import { eventSchema } from '../events/schema';
import type { IncidentFilter } from './types';

/** Bumped whenever the DDL below changes in a way existing stores must be migrated for. */
export const SCHEMA_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// DDL

interface ColumnDef {
  /** ClickHouse type. */
  type: string;
  /** Storage codec, if not the table default (LZ4). */
  codec?: string;
}

/**
 * ClickHouse type of each column of events/schema.ts. The events table is ordered by
 * (incident_id, run_id, seq), so seq and enter_ns grow steadily within a run: Delta then ZSTD
 * stores them in a few bits a row. Byte payloads compress well with ZSTD.
 */
const EVENT_COLUMN_DEFS: Record<string, ColumnDef> = {
  incident_id: { type: 'LowCardinality(String)' },
  run_id: { type: 'LowCardinality(String)' },
  seq: { type: 'UInt64', codec: 'Delta, ZSTD(1)' },
  pid: { type: 'Int32', codec: 'ZSTD(1)' },
  tid: { type: 'Int32', codec: 'ZSTD(1)' },
  nr: { type: 'Int32', codec: 'ZSTD(1)' },
  name: { type: 'LowCardinality(String)' },
  args: { type: 'Array(UInt64)', codec: 'ZSTD(1)' },
  ret: { type: 'Int64', codec: 'ZSTD(1)' },
  enter_ns: { type: 'Int64', codec: 'Delta, ZSTD(1)' },
  dur_ns: { type: 'Int64', codec: 'ZSTD(1)' },
  resource: { type: 'LowCardinality(String)' },
  data_in: { type: 'String', codec: 'ZSTD(3)' },
  data_out: { type: 'String', codec: 'ZSTD(3)' },
  kind: { type: 'LowCardinality(String)' },
};

/** Event columns in the order of events/schema.ts (the order of every SELECT and INSERT). */
export const EVENT_COLUMNS: readonly string[] = eventSchema.fields.map((f) => f.name);

// schema.ts owns the column list; fail at load, not at the first insert, if the two drift apart.
for (const name of EVENT_COLUMNS) {
  if (!EVENT_COLUMN_DEFS[name]) {
    throw new Error(`store/sql.ts: events column '${name}' of events/schema.ts has no ClickHouse type`);
  }
}
for (const name of Object.keys(EVENT_COLUMN_DEFS)) {
  if (!EVENT_COLUMNS.includes(name)) {
    throw new Error(`store/sql.ts: column '${name}' is not in events/schema.ts`);
  }
}

function columnList(defs: Record<string, ColumnDef>, names: readonly string[]): string {
  return names
    .map((n) => `    ${n} ${defs[n].type}${defs[n].codec ? ` CODEC(${defs[n].codec})` : ''}`)
    .join(',\n');
}

/** Plain `name Type, ...` structure for reading an Arrow file with the file() table function. */
function structureOf(defs: Record<string, ColumnDef>, names: readonly string[]): string {
  // LowCardinality is a storage detail; the Arrow file carries plain strings.
  return names.map((n) => `${n} ${defs[n].type.replace(/^LowCardinality\((.*)\)$/, '$1')}`).join(', ');
}

const CREATE_EVENTS = `CREATE TABLE IF NOT EXISTS events (
${columnList(EVENT_COLUMN_DEFS, EVENT_COLUMNS)}
) ENGINE = MergeTree
ORDER BY (incident_id, run_id, seq)`;

// entry_id: the spool entry that wrote the row. Finding it again when re-ingesting the same entry
// (after a crash between commit and cleanup) makes ingestion idempotent.
const CREATE_INCIDENTS = `CREATE TABLE IF NOT EXISTS incidents (
    incident_id String,
    service LowCardinality(String),
    argv Array(String),
    env Array(String),
    cwd String,
    exe_path String,
    exe_sha256 String,
    started_at_ns Int64,
    exit_code Nullable(Int32),
    exit_signal Nullable(String),
    event_count UInt64,
    duration_ns Int64,
    files Map(String, String),
    host String,
    entry_id String
) ENGINE = MergeTree
ORDER BY incident_id`;

const CREATE_RUNS = `CREATE TABLE IF NOT EXISTS runs (
    incident_id String,
    run_id String,
    started_at_ns Int64,
    speed String,
    seed Int64,
    injections String CODEC(ZSTD(1)),
    exit_code Nullable(Int32),
    exit_signal Nullable(String),
    event_count UInt64,
    wall_ns Int64,
    divergence String CODEC(ZSTD(1)),
    stdout String CODEC(ZSTD(3)),
    stderr String CODEC(ZSTD(3)),
    entry_id String
) ENGINE = MergeTree
ORDER BY (incident_id, run_id)`;

const CREATE_BLOBS = `CREATE TABLE IF NOT EXISTS blobs (
    sha256 String,
    size UInt64,
    content String CODEC(ZSTD(3))
) ENGINE = MergeTree
ORDER BY sha256`;

const CREATE_META = `CREATE TABLE IF NOT EXISTS meta (
    key String,
    value String
) ENGINE = MergeTree
ORDER BY key`;

/**
 * Statements creating an empty store, in order. `meta` and its version row come last: a store
 * whose meta row exists is complete, so an interrupted creation is simply run again.
 */
export const CREATE_STORE: readonly string[] = [
  CREATE_EVENTS,
  CREATE_INCIDENTS,
  CREATE_RUNS,
  CREATE_BLOBS,
  CREATE_META,
  `INSERT INTO meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}')`,
];

/** 1 when the store has been created (answers one row `{"result":0|1}`). */
export const META_EXISTS = `EXISTS TABLE meta`;

export const SELECT_SCHEMA_VERSION = `SELECT toUInt32OrZero(max(value)) AS version FROM meta WHERE key = 'schema_version'`;

// ---------------------------------------------------------------------------------------------
// Ingestion (from spool entries; see spool.ts). Every file is read by the engine itself through
// the file() table function, so row data never passes through JS.

/** Structure of the events Arrow file of a spool entry: exactly events/schema.ts. */
export const EVENTS_FILE_STRUCTURE = structureOf(EVENT_COLUMN_DEFS, EVENT_COLUMNS);

/**
 * Bulk insert of one run's events from an Arrow IPC stream file. Params: path, incident_id, run_id.
 * The ids come from the spool entry, not from the rows, so a batch can never land under another
 * incident's id.
 */
export const INSERT_EVENTS_FROM_FILE = `INSERT INTO events (${EVENT_COLUMNS.join(', ')})
SELECT ${EVENT_COLUMNS.map((c) =>
  c === 'incident_id' ? '{incident_id:String}' : c === 'run_id' ? '{run_id:String}' : c,
).join(', ')}
FROM file({path:String}, 'ArrowStream', '${EVENTS_FILE_STRUCTURE}')`;

/** Column names of the one-row Arrow file holding an incident row (files as two arrays). */
export const INCIDENT_FILE_STRUCTURE =
  'incident_id String, service String, argv Array(String), env Array(String), cwd String, ' +
  'exe_path String, exe_sha256 String, started_at_ns Int64, exit_code Nullable(Int32), ' +
  'exit_signal Nullable(String), event_count UInt64, duration_ns Int64, ' +
  'file_paths Array(String), file_shas Array(String), host String, entry_id String';

/** The incident row: the commit marker of an ingested recording, so it is inserted last. */
export const INSERT_INCIDENT_FROM_FILE = `INSERT INTO incidents (incident_id, service, argv, env, cwd,
    exe_path, exe_sha256, started_at_ns, exit_code, exit_signal, event_count, duration_ns, files,
    host, entry_id)
SELECT incident_id, service, argv, env, cwd, exe_path, exe_sha256, started_at_ns, exit_code,
    exit_signal, event_count, duration_ns, mapFromArrays(file_paths, file_shas), host, entry_id
FROM file({path:String}, 'ArrowStream', '${INCIDENT_FILE_STRUCTURE}')`;

export const RUN_FILE_STRUCTURE =
  'incident_id String, run_id String, started_at_ns Int64, speed String, seed Int64, ' +
  'injections String, exit_code Nullable(Int32), exit_signal Nullable(String), ' +
  'event_count UInt64, wall_ns Int64, divergence String, stdout String, stderr String, ' +
  'entry_id String';

export const INSERT_RUN_FROM_FILE = `INSERT INTO runs (incident_id, run_id, started_at_ns, speed,
    seed, injections, exit_code, exit_signal, event_count, wall_ns, divergence, stdout, stderr,
    entry_id)
SELECT incident_id, run_id, started_at_ns, speed, seed, injections, exit_code, exit_signal,
    event_count, wall_ns, divergence, stdout, stderr, entry_id
FROM file({path:String}, 'ArrowStream', '${RUN_FILE_STRUCTURE}')`;

/** A whole file as one blob row. Params: sha256, path. */
export const INSERT_BLOB_FROM_FILE = `INSERT INTO blobs (sha256, size, content)
SELECT {sha256:String}, length(content), content
FROM file({path:String}, 'RawBLOB', 'content String')`;

/** The empty blob: RawBLOB reads an empty file as no row at all. Params: sha256. */
export const INSERT_EMPTY_BLOB = `INSERT INTO blobs (sha256, size, content) SELECT {sha256:String}, 0, ''`;

/** Which of these blobs the store already has. Params: shas Array(String). */
export const BLOBS_PRESENT = `SELECT DISTINCT sha256 FROM blobs WHERE has({shas:Array(String)}, sha256)`;

/** Entry that committed this incident, if any. Params: incident_id. */
export const INCIDENT_ENTRY = `SELECT entry_id FROM incidents WHERE incident_id = {incident_id:String}`;

/** Entry that committed this run, if any. Params: incident_id, run_id. */
export const RUN_ENTRY = `SELECT entry_id FROM runs
WHERE incident_id = {incident_id:String} AND run_id = {run_id:String}`;

/** Rows of one run, committed or left behind by an interrupted ingestion. */
export const COUNT_RUN_EVENTS = `SELECT count() AS n FROM events
WHERE incident_id = {incident_id:String} AND run_id = {run_id:String}`;

/** Removes rows an interrupted ingestion left behind (only ever for an uncommitted run). */
export const DELETE_RUN_EVENTS = `DELETE FROM events
WHERE incident_id = {incident_id:String} AND run_id = {run_id:String}`;

// ---------------------------------------------------------------------------------------------
// Reads

const INCIDENT_COLUMNS = `incident_id, service, argv, env, cwd, exe_path, exe_sha256, started_at_ns,
    exit_code, exit_signal, event_count, duration_ns, mapKeys(files) AS file_paths,
    mapValues(files) AS file_shas, host`;

/** Incidents matching a filter, newest first. */
export function selectIncidents(filter: IncidentFilter = {}): {
  sql: string;
  params: Record<string, string | bigint>;
} {
  const where: string[] = [];
  const params: Record<string, string | bigint> = {};
  if (filter.service !== undefined) {
    where.push('service = {service:String}');
    params.service = filter.service;
  }
  if (filter.failed === true) {
    where.push('(exit_signal IS NOT NULL OR exit_code IS NULL OR exit_code != 0)');
  } else if (filter.failed === false) {
    where.push('(exit_signal IS NULL AND exit_code = 0)');
  }
  if (filter.since !== undefined) {
    where.push('started_at_ns >= {since_ns:Int64}');
    params.since_ns = BigInt(filter.since.getTime()) * 1_000_000n;
  }
  const sql = `SELECT ${INCIDENT_COLUMNS} FROM incidents
${where.length ? `WHERE ${where.join(' AND ')}\n` : ''}ORDER BY started_at_ns DESC, incident_id`;
  return { sql, params };
}

/** One incident. Params: incident_id. */
export const SELECT_INCIDENT = `SELECT ${INCIDENT_COLUMNS} FROM incidents
WHERE incident_id = {incident_id:String}
LIMIT 1`;

/** Replay runs of one incident, oldest first. Params: incident_id. */
export const SELECT_RUNS = `SELECT incident_id, run_id, started_at_ns, speed, seed, injections,
    exit_code, exit_signal, event_count, wall_ns, divergence, stdout, stderr
FROM runs
WHERE incident_id = {incident_id:String}
ORDER BY started_at_ns, run_id`;

/** 1 if the run is committed. Params: incident_id, run_id. */
export const RUN_EXISTS = `SELECT count() AS n FROM runs
WHERE incident_id = {incident_id:String} AND run_id = {run_id:String}`;

/** 1 if the incident is committed. Params: incident_id. */
export const INCIDENT_EXISTS = `SELECT count() AS n FROM incidents WHERE incident_id = {incident_id:String}`;

/** Events of one run in seq order, every column of events/schema.ts. Params: incident_id, run_id. */
export const SELECT_EVENTS = `SELECT ${EVENT_COLUMNS.join(', ')}
FROM events
WHERE incident_id = {incident_id:String} AND run_id = {run_id:String}
ORDER BY seq`;

/** Size of a blob, no row if absent. Params: sha256. */
export const BLOB_SIZE = `SELECT size FROM blobs WHERE sha256 = {sha256:String} LIMIT 1`;

/** The blob's bytes (read with FORMAT RawBLOB). Params: sha256. */
export const BLOB_CONTENT = `SELECT content FROM blobs WHERE sha256 = {sha256:String} LIMIT 1`;

// ---------------------------------------------------------------------------------------------
// Output settings. Given to the chDB session at connect; a server store sends them per query.

export const OUTPUT_SETTINGS: Readonly<Record<string, string>> = {
  // apache-arrow cannot read the default LZ4-framed Arrow buffers.
  output_format_arrow_compression_method: 'none',
  // As Binary, a String column keeps its exact bytes; as Utf8 non-UTF-8 bytes are mangled. The
  // store relabels the text columns as Utf8 afterwards (same buffers, no copy).
  output_format_arrow_string_as_string: '0',
};

/** Column names that hold bytes, not text (kept as Binary by query(); everything else is Utf8). */
export const BINARY_COLUMNS: ReadonlySet<string> = new Set(['data_in', 'data_out', 'content', 'stdout', 'stderr']);
