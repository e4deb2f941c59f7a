// Every statement the store sends to ClickHouse, DDL and queries alike. The embedded chDB store and
// a future server store share this module: there is no second copy of this SQL anywhere.
//
// Rules: user values only ever travel as `{name:Type}` parameters; the SQL text is built from the
// constants below. Bytes are `String` (ClickHouse strings are byte strings); timestamps are Int64
// nanoseconds; 64-bit counters are UInt64.
import { RECORDING_RUN, eventSchema } from '../events/schema';
import type { IncidentFilter } from './types';

/** Bumped whenever the DDL below changes in a way existing stores must be migrated for. */
export const SCHEMA_VERSION = 4;

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

/**
 * How a server store lays its tables out. The embedded store always uses the defaults (plain
 * MergeTree tables, kept forever). Every option changes only the DDL; queries and inserts are the
 * same text, so a clustered store is read and written exactly like a single server.
 */
export interface SchemaOptions {
  /** Create (and delete from) every table `ON CLUSTER` this cluster of the server's configuration. */
  cluster?: string;
  /**
   * Keep the rows in `<table>_local` on every shard of `cluster`, behind a `Distributed` table of
   * the usual name sharded by `cityHash64(incident_id)` (blobs by sha256): one incident's rows
   * live on one shard, so fetching it reads one shard in seq order. Needs `cluster`.
   */
  distributed?: boolean;
  /**
   * `ReplicatedMergeTree` (Keeper path `/clickhouse/tables/{shard}/{database}/<table>`, replica
   * `{replica}`: the macros of the server's configuration) instead of `MergeTree`.
   */
  replicated?: boolean;
  /**
   * Retention: events, incidents and runs are dropped by ClickHouse's merges this many days after
   * they were stored (a `stored_at` column and a `TTL` clause). Blobs have no TTL (one file may
   * serve incidents of every age); `replaybook gc` removes those no incident refers to any more.
   */
  ttlDays?: number;
}

interface TableSpec {
  name: string;
  columns: string;
  orderBy: string;
  /** Distributed sharding key. */
  shardBy: string;
  /** Rows expire with the TTL option (blobs and meta never do). */
  expires: boolean;
}

const TABLES: readonly TableSpec[] = [
  {
    name: 'events',
    columns: columnList(EVENT_COLUMN_DEFS, EVENT_COLUMNS),
    orderBy: '(incident_id, run_id, seq)',
    shardBy: 'cityHash64(incident_id)',
    expires: true,
  },
  // entry_id: the spool entry (embedded store) or insert (server store) that wrote the row.
  // Finding it again when re-ingesting the same entry (after a crash between commit and cleanup)
  // makes ingestion idempotent.
  {
    name: 'incidents',
    columns: `    incident_id String,
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
    entry_id String,
    redaction String DEFAULT '',
    state LowCardinality(String) DEFAULT 'complete',
    state_reason String DEFAULT '',
    aslr Int8 DEFAULT -1`,
    orderBy: 'incident_id',
    shardBy: 'cityHash64(incident_id)',
    expires: true,
  },
  {
    name: 'runs',
    columns: `    incident_id String,
    run_id String,
    started_at_ns Int64,
    speed String,
    seed Int64,
    injections String CODEC(ZSTD(1)),
    label String DEFAULT '',
    exit_code Nullable(Int32),
    exit_signal Nullable(String),
    event_count UInt64,
    wall_ns Int64,
    divergence String CODEC(ZSTD(1)),
    stdout String CODEC(ZSTD(3)),
    stderr String CODEC(ZSTD(3)),
    entry_id String`,
    orderBy: '(incident_id, run_id)',
    shardBy: 'cityHash64(incident_id)',
    expires: true,
  },
  {
    name: 'blobs',
    columns: `    sha256 String,
    size UInt64,
    content String CODEC(ZSTD(3))`,
    orderBy: 'sha256',
    shardBy: 'cityHash64(sha256)',
    expires: false,
  },
  {
    name: 'meta',
    columns: `    key String,
    value String`,
    orderBy: 'key',
    shardBy: 'cityHash64(key)',
    expires: false,
  },
];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Throws an Error naming the first option that cannot be turned into DDL. */
export function checkSchemaOptions(o: SchemaOptions): void {
  if (o.cluster !== undefined && !IDENTIFIER.test(o.cluster)) {
    throw new Error(`cluster name ${JSON.stringify(o.cluster)} is not an identifier (letters, digits, _ . -)`);
  }
  if (o.distributed && !o.cluster) throw new Error('a Distributed layout needs a cluster name');
  if (o.ttlDays !== undefined && !(Number.isInteger(o.ttlDays) && o.ttlDays > 0)) {
    throw new Error(`retention must be a whole number of days above 0 (got ${String(o.ttlDays)})`);
  }
}

const onCluster = (o: SchemaOptions) => (o.cluster ? ` ON CLUSTER \`${o.cluster}\`` : '');

/** The table that holds the rows: `<name>_local` in a Distributed layout, else the table itself. */
function storageTable(name: string, o: SchemaOptions): string {
  return o.distributed ? `${name}_local` : name;
}

function createTable(t: TableSpec, o: SchemaOptions): string[] {
  const ttl = o.ttlDays !== undefined && t.expires;
  const columns = ttl ? `${t.columns},\n    stored_at DateTime DEFAULT now()` : t.columns;
  const engine = o.replicated
    ? `ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/${storageTable(t.name, o)}', '{replica}')`
    : 'MergeTree';
  const local = `CREATE TABLE IF NOT EXISTS ${storageTable(t.name, o)}${onCluster(o)} (
${columns}
) ENGINE = ${engine}
ORDER BY ${t.orderBy}${ttl ? `\nTTL stored_at + INTERVAL ${o.ttlDays} DAY` : ''}`;
  if (!o.distributed) return [local];
  return [
    local,
    `CREATE TABLE IF NOT EXISTS ${t.name}${onCluster(o)} AS ${storageTable(t.name, o)}
ENGINE = Distributed(\`${o.cluster}\`, currentDatabase(), ${storageTable(t.name, o)}, ${t.shardBy})`,
  ];
}

/**
 * Statements creating an empty store, in order. `meta` and its version row come last: a store
 * whose meta row exists is complete, so an interrupted creation is simply run again (every
 * statement is idempotent).
 */
export function createStore(o: SchemaOptions = {}): string[] {
  checkSchemaOptions(o);
  return [
    ...TABLES.flatMap((t) => createTable(t, o)),
    `INSERT INTO meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}')`,
  ];
}

/**
 * Statements bringing a store of schema `from` up to SCHEMA_VERSION, in order (empty when it is
 * current). Each is idempotent, and the version row comes last, so an interrupted migration is
 * simply run again.
 *   1 -> 2: runs.label, a name the analyst gives a run (shown by runs() and compare()).
 *   2 -> 3: incidents.redaction, JSON of what was redacted at record time ('' when nothing).
 *   3 -> 4: incidents.state ('recording', 'complete', 'cut short') and state_reason: a
 *           recording is stored while it runs, and one that was interrupted says why.
 *           incidents.aslr: whether the service ran with its address space randomized (1), with
 *           fixed addresses (0), or recorded before this was stored (-1).
 */
export function migrateStore(from: number, o: SchemaOptions = {}): string[] {
  const out: string[] = [];
  if (from < 2) {
    const add = (table: string) => `ALTER TABLE ${table}${onCluster(o)} ADD COLUMN IF NOT EXISTS label String DEFAULT '' AFTER injections`;
    out.push(add(storageTable('runs', o)));
    if (o.distributed) out.push(add('runs'));
  }
  if (from < 3) {
    const add = (table: string) => `ALTER TABLE ${table}${onCluster(o)} ADD COLUMN IF NOT EXISTS redaction String DEFAULT ''`;
    out.push(add(storageTable('incidents', o)));
    if (o.distributed) out.push(add('incidents'));
  }
  if (from < 4) {
    const add = (table: string) =>
      `ALTER TABLE ${table}${onCluster(o)} ADD COLUMN IF NOT EXISTS state LowCardinality(String) DEFAULT 'complete', ` +
      `ADD COLUMN IF NOT EXISTS state_reason String DEFAULT '', ` +
      `ADD COLUMN IF NOT EXISTS aslr Int8 DEFAULT -1`;
    out.push(add(storageTable('incidents', o)));
    if (o.distributed) out.push(add('incidents'));
  }
  if (out.length) out.push(`INSERT INTO meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}')`);
  return out;
}

/** The embedded store's DDL. */
export const CREATE_STORE: readonly string[] = createStore();

/** Settings every insert needs in this layout: a Distributed insert must land before it returns. */
export function insertSettings(o: SchemaOptions): Record<string, string> {
  return o.distributed ? { insert_distributed_sync: '1' } : {};
}

/** 1 when the store has been created (answers one row `{"result":0|1}`). */
export const META_EXISTS = `EXISTS TABLE meta`;

export const SELECT_SCHEMA_VERSION = `SELECT toUInt32OrZero(max(value)) AS version FROM meta WHERE key = 'schema_version'`;

// ---------------------------------------------------------------------------------------------
// Ingestion. The rows come from a source the engine reads itself, so row data never passes
// through JS as values: the embedded store reads a spool file with the file() table function,
// a server store sends the same Arrow IPC stream as the body of the request, read with input().
// The SELECT around the source is the same text for both.

/** Where an insert's rows come from. */
export type InsertSource = 'file' | 'body';

function source(from: InsertSource, format: 'ArrowStream' | 'RawBLOB', structure: string): string {
  return from === 'file' ? `file({path:String}, '${format}', '${structure}')` : `input('${structure}')`;
}

/** `FORMAT` clause of a statement whose data is the request body. */
function formatOf(from: InsertSource, format: string): string {
  return from === 'body' ? `\nFORMAT ${format}` : '';
}

/** Structure of the events Arrow stream of a spool entry or insert body: exactly events/schema.ts. */
export const EVENTS_FILE_STRUCTURE = structureOf(EVENT_COLUMN_DEFS, EVENT_COLUMNS);

/**
 * Bulk insert of one run's events from an Arrow IPC stream. Params: incident_id, run_id (and path
 * for a file). The ids come from the caller, not from the rows, so a batch can never land under
 * another incident's id.
 */
export function insertEvents(from: InsertSource): string {
  return `INSERT INTO events (${EVENT_COLUMNS.join(', ')})
SELECT ${EVENT_COLUMNS.map((c) =>
    c === 'incident_id' ? '{incident_id:String}' : c === 'run_id' ? '{run_id:String}' : c,
  ).join(', ')}
FROM ${source(from, 'ArrowStream', EVENTS_FILE_STRUCTURE)}${from === 'file' ? FILE_INSERT_SETTINGS : ''}${formatOf(from, 'ArrowStream')}`;
}

/**
 * An embedded store ingests a file in this process: read with pread (a mapped file of millions
 * of events counts in full towards its memory) in blocks of 65536 rows or 16 MiB, so that
 * storing a replay of 4M events takes ~130 MB instead of ~1.1 GB (more parts, merged later).
 */
const FILE_INSERT_SETTINGS =
  "\nSETTINGS storage_file_read_method = 'pread', max_insert_block_size = 65536, min_insert_block_size_rows = 65536, min_insert_block_size_bytes = 16777216";

/** Column names of the one-row Arrow stream holding an incident row (files as two arrays). */
export const INCIDENT_FILE_STRUCTURE =
  'incident_id String, service String, argv Array(String), env Array(String), cwd String, ' +
  'exe_path String, exe_sha256 String, started_at_ns Int64, exit_code Nullable(Int32), ' +
  'exit_signal Nullable(String), event_count UInt64, duration_ns Int64, ' +
  'file_paths Array(String), file_shas Array(String), host String, entry_id String, redaction String, ' +
  'state String, state_reason String, aslr Int8';

/** The incident row: the commit marker of a recording, so it is inserted last. */
export function insertIncident(from: InsertSource): string {
  return `INSERT INTO incidents (incident_id, service, argv, env, cwd,
    exe_path, exe_sha256, started_at_ns, exit_code, exit_signal, event_count, duration_ns, files,
    host, entry_id, redaction, state, state_reason, aslr)
SELECT incident_id, service, argv, env, cwd, exe_path, exe_sha256, started_at_ns, exit_code,
    exit_signal, event_count, duration_ns, mapFromArrays(file_paths, file_shas), host, entry_id,
    redaction, state, state_reason, aslr
FROM ${source(from, 'ArrowStream', INCIDENT_FILE_STRUCTURE)}${formatOf(from, 'ArrowStream')}`;
}

export const RUN_FILE_STRUCTURE =
  'incident_id String, run_id String, started_at_ns Int64, speed String, seed Int64, ' +
  'injections String, label String, exit_code Nullable(Int32), exit_signal Nullable(String), ' +
  'event_count UInt64, wall_ns Int64, divergence String, stdout String, stderr String, ' +
  'entry_id String';

/** The run row: the commit marker of a replay run. */
export function insertRun(from: InsertSource): string {
  return `INSERT INTO runs (incident_id, run_id, started_at_ns, speed,
    seed, injections, label, exit_code, exit_signal, event_count, wall_ns, divergence, stdout, stderr,
    entry_id)
SELECT incident_id, run_id, started_at_ns, speed, seed, injections, label, exit_code, exit_signal,
    event_count, wall_ns, divergence, stdout, stderr, entry_id
FROM ${source(from, 'ArrowStream', RUN_FILE_STRUCTURE)}${formatOf(from, 'ArrowStream')}`;
}

/** A whole file or body as one blob row. Params: sha256 (and path for a file). */
export function insertBlob(from: InsertSource): string {
  return `INSERT INTO blobs (sha256, size, content)
SELECT {sha256:String}, length(content), content
FROM ${source(from, 'RawBLOB', 'content String')}${formatOf(from, 'RawBLOB')}`;
}

export const INSERT_EVENTS_FROM_FILE = insertEvents('file');
export const INSERT_INCIDENT_FROM_FILE = insertIncident('file');
export const INSERT_RUN_FROM_FILE = insertRun('file');
export const INSERT_BLOB_FROM_FILE = insertBlob('file');

/** The empty blob: RawBLOB reads an empty file as no row at all. Params: sha256. */
export const INSERT_EMPTY_BLOB = `INSERT INTO blobs (sha256, size, content) SELECT {sha256:String}, 0, ''`;

/** Which of these blobs the store already has. Params: shas Array(String). */
export const BLOBS_PRESENT = `SELECT DISTINCT sha256 FROM blobs WHERE has({shas:Array(String)}, sha256)`;

/** Entry that committed this incident, if any. Params: incident_id. */
export const INCIDENT_ENTRY = `SELECT entry_id, state FROM incidents WHERE incident_id = {incident_id:String}`;

/**
 * The rows of a recording that are not its latest word: the 'recording' row once its final row
 * is in (a reader between the two statements sees both, SELECT_INCIDENT prefers the final one).
 * Params: incident_id, entry_id.
 */
export function deleteRecordingRow(o: SchemaOptions = {}): string {
  return deleteFrom('incidents', `${INCIDENT_WHERE} AND entry_id = {entry_id:String} AND state = 'recording'`, o);
}

/**
 * Secrets learned after part of a live recording was stored are replaced in that part too, byte
 * for byte with the placeholder. Params: incident_id, secret, placeholder (both hex).
 */
export function redactStoredEvents(o: SchemaOptions = {}): string {
  const r = (c: string) => `${c} = replaceAll(${c}, unhex({secret:String}), unhex({placeholder:String}))`;
  return `ALTER TABLE ${storageTable('events', o)}${onCluster(o)}
UPDATE ${r('data_in')}, ${r('data_out')}
WHERE incident_id = {incident_id:String} AND run_id = '${RECORDING_RUN}'
SETTINGS mutations_sync = 2`;
}

/** Entry that committed this run, if any. Params: incident_id, run_id. */
export const RUN_ENTRY = `SELECT entry_id FROM runs
WHERE incident_id = {incident_id:String} AND run_id = {run_id:String}`;

/** Rows of one run, committed or left behind by an interrupted ingestion. */
export const COUNT_RUN_EVENTS = `SELECT count() AS n FROM events
WHERE incident_id = {incident_id:String} AND run_id = {run_id:String}`;

/**
 * `DELETE FROM` the table holding `table`'s rows: on every shard in a Distributed layout (a
 * Distributed table takes no DELETE). Lightweight deletes: the rows vanish from reads at once.
 */
function deleteFrom(table: string, where: string, o: SchemaOptions): string {
  return `DELETE FROM ${storageTable(table, o)}${onCluster(o)}\nWHERE ${where}`;
}

const RUN_WHERE = 'incident_id = {incident_id:String} AND run_id = {run_id:String}';
const INCIDENT_WHERE = 'incident_id = {incident_id:String}';

/**
 * Removes rows an interrupted ingestion left behind (only ever for an uncommitted run), or the
 * events of one run. Params: incident_id, run_id.
 */
export function deleteRunEvents(o: SchemaOptions = {}): string {
  return deleteFrom('events', RUN_WHERE, o);
}
export const DELETE_RUN_EVENTS = deleteRunEvents();

/**
 * Removing an incident with its runs and all their events (`replaybook rm`). The incident row
 * goes first: once it is gone, readers no longer see the incident, whatever is left. Params:
 * incident_id.
 */
export function deleteIncident(o: SchemaOptions = {}): string[] {
  return [
    deleteFrom('incidents', INCIDENT_WHERE, o),
    deleteFrom('runs', INCIDENT_WHERE, o),
    deleteFrom('events', INCIDENT_WHERE, o),
  ];
}

/** Committed replay runs of this incident. Params: incident_id. */
export const COUNT_INCIDENT_RUNS = `SELECT count() AS n FROM runs WHERE incident_id = {incident_id:String}`;

/** Events of this incident under any run id (committed or not). Params: incident_id. */
export const COUNT_INCIDENT_EVENTS = `SELECT count() AS n FROM events WHERE incident_id = {incident_id:String}`;

/**
 * Blobs no incident refers to (as its executable or a mapped file): what garbage collection
 * removes. Params: none.
 */
export const UNREFERENCED_BLOBS = `SELECT sha256, size FROM blobs
WHERE sha256 NOT IN (SELECT exe_sha256 FROM incidents)
  AND sha256 NOT IN (SELECT arrayJoin(mapValues(files)) FROM incidents)`;

/** Removes these blobs. Params: shas Array(String). */
export function deleteBlobs(o: SchemaOptions = {}): string {
  return deleteFrom('blobs', 'has({shas:Array(String)}, sha256)', o);
}

/**
 * Event rows of runs that were never committed (no incident row for a recording, no run row for
 * a replay): left by an insert that was interrupted, or still being written. Params: none.
 */
export const UNCOMMITTED_RUNS = `SELECT incident_id, run_id, count() AS n FROM events
WHERE (run_id = '${RECORDING_RUN}' AND incident_id NOT IN (SELECT incident_id FROM incidents))
   OR (run_id != '${RECORDING_RUN}' AND (incident_id, run_id) NOT IN (SELECT incident_id, run_id FROM runs))
GROUP BY incident_id, run_id
ORDER BY incident_id, run_id`;

// ---------------------------------------------------------------------------------------------
// Reads

const INCIDENT_COLUMNS = `incident_id, service, argv, env, cwd, exe_path, exe_sha256, started_at_ns,
    exit_code, exit_signal, event_count, duration_ns, mapKeys(files) AS file_paths,
    mapValues(files) AS file_shas, host, redaction, state, state_reason, aslr`;

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
    where.push("state != 'recording' AND (exit_signal IS NOT NULL OR exit_code IS NULL OR exit_code != 0)");
  } else if (filter.failed === false) {
    where.push('(exit_signal IS NULL AND exit_code = 0)');
  }
  if (filter.since !== undefined) {
    where.push('started_at_ns >= {since_ns:Int64}');
    params.since_ns = BigInt(filter.since.getTime()) * 1_000_000n;
  }
  const sql = `SELECT ${INCIDENT_COLUMNS} FROM incidents
${where.length ? `WHERE ${where.join(' AND ')}\n` : ''}ORDER BY started_at_ns DESC, incident_id, state = 'recording'
LIMIT 1 BY incident_id`;
  return { sql, params };
}

/** One incident. Params: incident_id. */
export const SELECT_INCIDENT = `SELECT ${INCIDENT_COLUMNS} FROM incidents
WHERE incident_id = {incident_id:String}
ORDER BY state = 'recording'
LIMIT 1`;

/** Replay runs of one incident, oldest first. Params: incident_id. */
export const SELECT_RUNS = `SELECT incident_id, run_id, started_at_ns, speed, seed, injections, label,
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
// Server capabilities, checked when a server store connects.

/**
 * The oldest ClickHouse release the server store works with: ArrowStream in and out, query
 * parameters over HTTP, input(), Map columns and mapFromArrays, lightweight DELETE (GA in 23.3).
 */
export const MIN_SERVER_VERSION = '23.3';

/** One row, one column: the server's version string. Asked without parameters or Arrow, so that
 *  any release can answer it. */
export const SERVER_VERSION = `SELECT version()`;

/** The formats the store exchanges, among those the server can both read and write. */
export const FORMATS_AVAILABLE = `SELECT name FROM system.formats
WHERE is_input AND is_output AND name IN ('ArrowStream', 'RawBLOB')`;

/** Echoes a parameter, to prove the server binds them. Params: probe. */
export const PARAMETER_PROBE = `SELECT {probe:String} AS probe`;

/** The database a server store lives in. */
export function createDatabase(database: string, o: SchemaOptions = {}): string {
  if (!IDENTIFIER.test(database)) {
    throw new Error(`database name ${JSON.stringify(database)} is not an identifier (letters, digits, _ . -)`);
  }
  return `CREATE DATABASE IF NOT EXISTS \`${database}\`${onCluster(o)}`;
}

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
