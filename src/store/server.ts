// The server store: a ClickHouse server or cluster over HTTP through @clickhouse/client. The path
// for teams whose incident logs outgrow one machine: recorders across a fleet write into it,
// analysts fetch from it. Same DDL and queries as the embedded store (sql.ts).
//
// Data moves as Arrow both ways: fetches ask for `FORMAT ArrowStream` with client.exec() (the
// client has no Arrow DataFormat) and read the body message by message (ipc-frames.ts) into
// apache-arrow's reader, one record batch at a time, so memory stays flat whatever the incident's
// size; inserts send an Arrow IPC stream as the request body, one batch after another. Every
// value travels as a query parameter. Requests and responses are gzip-compressed.
//
// A recording is stored as blobs, events, then the incident row, which commits it: readers only
// see incidents whose row exists. An insert that fails part-way leaves events without that row;
// they are removed at once when possible, and otherwise found and replaced by the next store of the
// same id, by `replaybook rm ID`, and listed by `replaybook gc`.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { ClickHouseError, createClient, type ClickHouseClient } from '@clickhouse/client';
import { RecordBatch, RecordBatchReader, Schema, Table, tableToIPC } from 'apache-arrow';
import { RECORDING_RUN, eventSchema, type IncidentInfo, type RunInfo } from '../events/schema';
import { sha256File } from '../hash';
import { PRIVATE_DIR, PRIVATE_EXEC, PRIVATE_FILE } from './private';
import { conformBatch, incidentRowTable, incidentsFromBatches, relabelBatch, runRowTable, runsFromBatches, textSchema } from './arrow';
import { checkRecord, checkSchemaVersion, checkSha, describeRecord } from './checks';
import { StoreError, messageOf } from './errors';
import { BodyException, END_OF_STREAM, TruncatedBody, batchMessages, findException, ipcMessages } from './ipc-frames';
import { blobCachePath, storeHome } from './location';
import { collectGarbage, removeIncident } from './maintenance';
import * as sql from './sql';
import type { EventStore, GarbageOptions, GarbageReport, IncidentFilter, Removed } from './types';
import { shownId } from '../events/ids';
import { processAlive } from './lock';
import { ingestLive, liveEntries, liveStoreOf, type LiveOutcome, type LiveSink } from '../record/live';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_PING_TIMEOUT_MS, probeServer } from './probe';

/** Environment variables of the server store. */
export const URL_ENV = 'REPLAYBOOK_CLICKHOUSE_URL';
export const USER_ENV = 'REPLAYBOOK_CLICKHOUSE_USER';
export const PASSWORD_ENV = 'REPLAYBOOK_CLICKHOUSE_PASSWORD';

/** The database a server store uses when the URL names none. */
export const DEFAULT_DATABASE = 'replaybook';
const DEFAULT_TIMEOUT_MS = 300_000;

type Params = Record<string, string | number | bigint | readonly string[]>;

export interface ServerStoreOptions {
  /**
   * `http[s]://[user[:password]@]host[:port][/database][?cluster=C&distributed=1&replicated=1&ttl_days=N]`.
   * The database defaults to `replaybook` and is created if missing; the query options choose the
   * DDL of a new store (see SchemaOptions in sql.ts).
   */
  url: string;
  /** Default: the URL's user, else $REPLAYBOOK_CLICKHOUSE_USER, else the server's `default`. */
  user?: string;
  /** Default: the URL's password, else $REPLAYBOOK_CLICKHOUSE_PASSWORD, else none. */
  password?: string;
  /** How long one request may wait for the server before failing with StoreError('timeout'). */
  requestTimeoutMs?: number;
  /** How long the first connection may take to be established (default 10 s). */
  connectTimeoutMs?: number;
  /** Where blobFile() keeps its local copies. Default: the embedded store's home (storeHome()). */
  blobCacheHome?: string;
  /** Where credentials are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** A server URL taken apart: where to connect, as whom, which database and layout. */
export interface ServerTarget {
  origin: string;
  database: string;
  user: string | undefined;
  password: string | undefined;
  layout: sql.SchemaOptions;
  /** The URL without credentials: safe to print. */
  location: string;
}

/** Parses a server URL; credentials come from it or from the environment and are never printed. */
export function serverTarget(options: ServerStoreOptions): ServerTarget {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new StoreError('invalid', `Not a ClickHouse URL: ${JSON.stringify(redact(options.url))} (expected http://host:8123/database).`, redact(options.url));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StoreError('invalid', `A ClickHouse URL starts with http:// or https:// (its HTTP interface), not ${url.protocol}//.`, redact(options.url));
  }
  const env = options.env ?? process.env;
  const database = decodeURIComponent(url.pathname.replace(/^\/+|\/+$/g, '')) || DEFAULT_DATABASE;
  const q = url.searchParams;
  const flag = (name: string) => ['1', 'true', 'yes'].includes((q.get(name) ?? '').toLowerCase());
  const layout: sql.SchemaOptions = {
    cluster: q.get('cluster') ?? undefined,
    distributed: flag('distributed') || undefined,
    replicated: flag('replicated') || undefined,
    ttlDays: q.has('ttl_days') ? Number(q.get('ttl_days')) : undefined,
  };
  const location = `${url.protocol}//${url.host}/${database}`;
  for (const name of q.keys()) {
    if (!['cluster', 'distributed', 'replicated', 'ttl_days'].includes(name)) {
      throw new StoreError('invalid', `Unknown option '${name}' in the ClickHouse URL (known: cluster, distributed, replicated, ttl_days).`, location);
    }
  }
  try {
    sql.checkSchemaOptions(layout);
    sql.createDatabase(database);
  } catch (err) {
    throw new StoreError('invalid', `The ClickHouse URL for ${location} is not usable: ${messageOf(err)}.`, location, { cause: err });
  }
  return {
    origin: `${url.protocol}//${url.host}`,
    database,
    user: options.user ?? (url.username ? decodeURIComponent(url.username) : env[USER_ENV] || undefined),
    password: options.password ?? (url.password ? decodeURIComponent(url.password) : env[PASSWORD_ENV] || undefined),
    layout,
    location,
  };
}

/** A URL with any user:password removed, for messages about a URL that did not parse. */
function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}

/** Opens (and if needed creates) the store on a ClickHouse server, after checking the server. */
export async function openServerStore(options: ServerStoreOptions): Promise<ServerStore> {
  const store = new ServerStore(serverTarget(options), options);
  try {
    await store.prepare();
  } catch (err) {
    await store.close();
    throw err;
  }
  // Recordings of this server whose `replaybook record` is gone (its engine wrote on): what is
  // new in them goes in now, and those that are over are finished.
  for (const dir of liveEntries(storeHome())) {
    if (liveStoreOf(dir) !== store.location) continue;
    await store.ingestLive(dir).catch((err: unknown) => {
      process.emitWarning(`The live recording in ${dir} could not be ingested into ${store.location}: ${messageOf(err)}`, { type: 'StoreWarning' });
    });
  }
  return store;
}

/** The server went quiet for a whole request timeout in the middle of an answer. */
class Stalled extends Error {}

/**
 * A response body as bytes. The client aborts a request whose socket stays idle for its timeout;
 * mid-body that surfaces as a bare "aborted", so an abort after that long a silence is reported
 * as the timeout it is.
 */
async function* bytesOf(stream: Readable, timeoutMs: number): AsyncGenerator<Uint8Array> {
  let last = Date.now();
  try {
    for await (const chunk of stream) {
      last = Date.now();
      yield chunk as Uint8Array;
    }
  } catch (err) {
    if (Date.now() - last >= timeoutMs * 0.9) throw new Stalled(`no data for ${Date.now() - last} ms`, { cause: err });
    throw err;
  }
}

const header = (headers: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export class ServerStore implements EventStore {
  readonly location: string;
  readonly database: string;
  readonly layout: sql.SchemaOptions;
  private readonly client: ClickHouseClient;
  private readonly boot: ClickHouseClient;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly origin: string;
  private readonly cacheHome: string;
  private readonly user: string;
  private closed = false;

  constructor(target: ServerTarget, options: ServerStoreOptions) {
    this.location = target.location;
    this.database = target.database;
    this.layout = target.layout;
    this.user = target.user ?? 'default';
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.origin = target.origin;
    this.cacheHome = options.blobCacheHome ?? storeHome();
    const connection = {
      url: target.origin,
      username: target.user,
      password: target.password,
      application: 'replaybook',
      request_timeout: this.timeoutMs,
      compression: { request: true, response: true },
      log: { level: 127 as never }, // OFF: every failure reaches the caller as a StoreError instead
    };
    this.client = createClient({ ...connection, database: target.database });
    // Without the database: for the checks that run before it exists.
    this.boot = createClient(connection);
  }

  // -------------------------------------------------------------------------------------------
  // Connecting

  /**
   * Checks the server (version, formats, query parameters), then creates the database and the
   * tables if they are missing (idempotent: every statement is IF NOT EXISTS, the version row
   * last) and checks the schema version. The first requests ask nothing an old release cannot
   * answer, so a server that is too old gets a message saying so, not a syntax error.
   */
  async prepare(): Promise<void> {
    try {
      await probeServer(this.origin, {
        connectTimeoutMs: this.connectTimeoutMs,
        readTimeoutMs: Math.min(this.timeoutMs, DEFAULT_PING_TIMEOUT_MS),
        location: this.location,
      });
    } catch (err) {
      throw this.failure(err, 'GET /ping');
    }
    const version = (await this.text(sql.SERVER_VERSION, {}, 'the version query', false)).trim();
    const [major, minor] = version.split('.').map(Number);
    const [minMajor, minMinor] = sql.MIN_SERVER_VERSION.split('.').map(Number);
    if (!(major > minMajor || (major === minMajor && minor >= minMinor))) {
      throw new StoreError(
        'too-old',
        `The ClickHouse server at ${this.location} runs version ${version}; replaybook needs ClickHouse ` +
          `${sql.MIN_SERVER_VERSION} or newer (ArrowStream, query parameters, input(), Map columns, ` +
          `lightweight DELETE). Upgrade the server, or unset ${URL_ENV} (and drop --clickhouse) to use ` +
          `the embedded store.`,
        this.location,
      );
    }
    const formats = new Set((await this.rows<{ name: string }>(sql.FORMATS_AVAILABLE, {}, 'the format check', false)).map((r) => r.name));
    const missing = ['ArrowStream', 'RawBLOB'].filter((f) => !formats.has(f));
    if (missing.length > 0) {
      throw new StoreError(
        'too-old',
        `The ClickHouse server at ${this.location} (version ${version}) cannot read and write ` +
          `${missing.join(' and ')}; replaybook needs ClickHouse ${sql.MIN_SERVER_VERSION} or newer built with them.`,
        this.location,
      );
    }
    const probe = "tab\there, quote ' and backslash \\";
    const echoed = await this.rows<{ probe: string }>(sql.PARAMETER_PROBE, { probe }, 'the query parameter check', false);
    if (echoed[0]?.probe !== probe) {
      throw new StoreError(
        'too-old',
        `The ClickHouse server at ${this.location} (version ${version}) does not bind query parameters ` +
          `faithfully; replaybook needs ClickHouse ${sql.MIN_SERVER_VERSION} or newer.`,
        this.location,
      );
    }
    await this.exec(sql.createDatabase(this.database, this.layout), {}, 'creating the database', false);
    const [exists] = await this.rows<{ result: number | string }>(sql.META_EXISTS);
    if (Number(exists?.result ?? 0) === 0) {
      for (const statement of sql.createStore(this.layout)) await this.exec(statement, {}, 'creating the store');
    }
    const [row] = await this.rows<{ version: number | string }>(sql.SELECT_SCHEMA_VERSION);
    const schema = Number(row?.version ?? 0);
    checkSchemaVersion(schema, this.location, `name another database in the URL (${this.location.replace(/[^/]*$/, 'NAME')})`);
    for (const statement of sql.migrateStore(schema, this.layout)) await this.exec(statement, {}, 'bringing the store to the current schema');
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  /**
   * One request. `inDatabase: false` sends it without the store's database (which may not exist
   * yet). Failures become StoreErrors that say what to do.
   */
  private async request(
    query: string,
    params: Params,
    what: string,
    options: { body?: Readable; settings?: Record<string, string>; signal?: AbortSignal; inDatabase?: boolean } = {},
  ) {
    this.checkOpen();
    const settings = { ...options.settings } as Record<string, string>;
    try {
      const client = options.inDatabase === false ? this.boot : this.client;
      return await client.exec({
        query,
        query_params: params as Record<string, unknown>,
        clickhouse_settings: settings,
        abort_signal: options.signal,
        ...(options.body ? { values: options.body } : {}),
      });
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  private failure(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    const message = messageOf(err);
    if (err instanceof ClickHouseError) {
      const code = Number(err.code);
      if (code === 516 || code === 192 || code === 193 || err.type === 'AUTHENTICATION_FAILED') {
        return new StoreError(
          'auth-failed',
          `The ClickHouse server at ${this.location} refused user '${this.user}': ${firstLine(message)}. ` +
            `Check the user and password (in the URL, or ${USER_ENV} / ${PASSWORD_ENV}).`,
          this.location,
          { cause: err },
        );
      }
      const named = err.type && !message.includes(err.type) ? ` (${err.type}, code ${err.code})` : '';
      return new StoreError('query-failed', `ClickHouse at ${this.location} rejected ${what}: ${firstLine(message)}${named}`, this.location, { cause: err });
    }
    const code = (err as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN') {
      return new StoreError(
        'unreachable',
        `Cannot reach the ClickHouse server at ${this.location} (${code === 'ECONNREFUSED' ? 'connection refused' : code}). ` +
          `Check the URL (${URL_ENV} or --clickhouse) and that the server is running.`,
        this.location,
        { cause: err },
      );
    }
    if (err instanceof Stalled || /timeout/i.test(message) || code === 'ETIMEDOUT') {
      return new StoreError(
        'timeout',
        `The ClickHouse server at ${this.location} did not answer ${what} within ${this.timeoutMs / 1000} s. ` +
          `It may be overloaded or unreachable; retry, or check the server.`,
        this.location,
        { cause: err },
      );
    }
    if (err instanceof BodyException) {
      return new StoreError(
        'query-failed',
        `ClickHouse at ${this.location} failed during ${what}, after it had started answering: ${firstLine(err.serverMessage)}`,
        this.location,
        { cause: err },
      );
    }
    if (err instanceof TruncatedBody || code === 'ECONNRESET' || code === 'EPIPE' || /aborted|socket hang up|unexpected end/i.test(message)) {
      return new StoreError(
        'interrupted',
        `The answer of the ClickHouse server at ${this.location} to ${what} was cut short (${message}). ` +
          `Nothing partial was returned; retry.`,
        this.location,
        { cause: err },
      );
    }
    // An error status with an empty body (a proxy, a server that is not ClickHouse) has no message.
    const reason = message.trim() || 'an error answer with no message (is the URL the HTTP interface of ClickHouse?)';
    return new StoreError('query-failed', `ClickHouse at ${this.location} failed during ${what}: ${reason}`, this.location, { cause: err });
  }

  /** The whole (small) body of a query in a text format, checked for an appended exception. */
  private async body(query: string, params: Params, what: string, inDatabase = true): Promise<Uint8Array> {
    const result = await this.request(query, params, what, { inDatabase });
    const chunks: Uint8Array[] = [];
    try {
      for await (const chunk of bytesOf(result.stream, this.timeoutMs)) chunks.push(chunk);
    } catch (err) {
      throw this.failure(err, what);
    }
    return Buffer.concat(chunks);
  }

  private async text(query: string, params: Params, what: string, inDatabase = true): Promise<string> {
    const bytes = await this.body(`${query}\nFORMAT TabSeparated`, params, what, inDatabase);
    const found = findException(bytes);
    if (found) throw this.failure(found, what);
    return Buffer.from(bytes).toString('utf8');
  }

  /** Small results as objects (64-bit integers arrive as strings). */
  private async rows<T>(query: string, params: Params = {}, what = 'a query', inDatabase = true): Promise<T[]> {
    const bytes = await this.body(`${query}\nFORMAT JSONEachRow`, params, what, inDatabase);
    const rows: T[] = [];
    for (const line of Buffer.from(bytes).toString('utf8').split('\n')) {
      if (line.trim().length === 0) continue;
      try {
        rows.push(JSON.parse(line) as T);
      } catch {
        throw this.failure(findException(bytes) ?? new TruncatedBody(`an unreadable line in the answer: ${line.slice(0, 120)}`, bytes.byteLength), what);
      }
    }
    return rows;
  }

  /** A statement without a result; its (normally empty) body is checked for an exception. */
  private async exec(statement: string, params: Params = {}, what = 'a statement', inDatabase = true): Promise<void> {
    const bytes = await this.body(statement, params, what, inDatabase);
    const found = findException(bytes);
    if (found) throw this.failure(found, what);
  }

  /**
   * Record batches of a query, streamed: one batch in memory at a time. The body is checked
   * message by message; an exception, a dropped connection or a missing end marker throws.
   */
  private async *arrow(query: string, params: Params, what: string): AsyncGenerator<RecordBatch, Schema | null> {
    const abort = new AbortController();
    const result = await this.request(`${query}\nFORMAT ArrowStream`, params, what, { settings: { ...sql.OUTPUT_SETTINGS }, signal: abort.signal });
    const tag = header(result.response_headers, 'x-clickhouse-exception-tag');
    let schema: Schema | null = null;
    try {
      const messages = ipcMessages(bytesOf(result.stream, this.timeoutMs), tag);
      const bytes = (async function* () {
        for await (const m of messages) yield m.bytes;
      })();
      for await (const reader of RecordBatchReader.readAll(bytes)) {
        schema ??= reader.schema;
        for await (const batch of reader) if (batch.numRows > 0) yield batch;
      }
    } catch (err) {
      throw this.failure(err, what);
    } finally {
      result.stream.destroy();
      abort.abort();
    }
    return schema;
  }

  private async table(query: string, params: Params, what: string): Promise<{ schema: Schema | null; batches: RecordBatch[] }> {
    const batches: RecordBatch[] = [];
    const it = this.arrow(query, params, what);
    for (;;) {
      const next = await it.next();
      if (next.done) return { schema: next.value, batches };
      batches.push(next.value);
    }
  }

  /** An insert whose rows are the request body; its answer is checked like any other. */
  private async insert(statement: string, params: Params, body: Readable, what: string): Promise<void> {
    const result = await this.request(statement, params, what, { body, settings: sql.insertSettings(this.layout) });
    let bytes: Buffer;
    try {
      const chunks: Uint8Array[] = [];
      for await (const chunk of bytesOf(result.stream, this.timeoutMs)) chunks.push(chunk);
      bytes = Buffer.concat(chunks);
    } catch (err) {
      throw this.failure(err, what);
    }
    const found = findException(bytes);
    if (found) throw this.failure(found, what);
  }

  /** An SqlRunner over this store, for the steps shared with the embedded store. */
  private runner() {
    return {
      rows: <T>(q: string, p: Params = {}) => this.rows<T>(q, p),
      exec: (q: string, p: Params = {}) => this.exec(q, p),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  async putIncident(
    info: IncidentInfo,
    events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
    blobs: Map<string, string>,
  ): Promise<'stored'> {
    checkRecord('incident', info, this.location);
    await this.put('incident', info, { incident_id: info.incident_id, run_id: RECORDING_RUN }, events, blobs);
    return 'stored';
  }

  async putRun(info: RunInfo, events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>): Promise<'stored'> {
    checkRecord('run', info, this.location);
    await this.put('run', info, { incident_id: info.incident_id, run_id: info.run_id }, events, new Map());
    return 'stored';
  }

  /**
   * Blobs, events, then the row that commits them. Events left by an earlier interrupted insert
   * of the same id are removed first (the insert is redone whole); events of a failed insert are
   * removed before the error is thrown, or the error says how to remove them.
   */
  private async put(
    kind: 'incident' | 'run',
    info: IncidentInfo | RunInfo,
    ids: { incident_id: string; run_id: string },
    events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
    blobs: Map<string, string>,
  ): Promise<void> {
    const committed = await this.rows(kind === 'incident' ? sql.INCIDENT_ENTRY : sql.RUN_ENTRY, ids);
    if (committed.length > 0) {
      throw new StoreError(
        'exists',
        `The store at ${this.location} already has ${describeRecord(kind, ids)}. Store it under another id, or delete the existing one first (replaybook rm).`,
        this.location,
      );
    }
    await this.removeUncommitted(ids);
    await this.putBlobs(blobs);

    const what = `storing the events of ${describeRecord(kind, ids)}`;
    const sent = { rows: 0 };
    try {
      await this.insert(sql.insertEvents('body'), ids, Readable.from(ipcBody(eventSchema, events, sent)), what);
      const [stored] = await this.rows<{ n: string }>(sql.COUNT_RUN_EVENTS, ids);
      if (Number(stored?.n ?? 0) !== sent.rows) {
        throw new StoreError(
          'interrupted',
          `The server at ${this.location} holds ${Number(stored?.n ?? 0)} of the ${sent.rows} events sent for ${describeRecord(kind, ids)}.`,
          this.location,
        );
      }
    } catch (err) {
      throw await this.abandon(kind, ids, err);
    }

    const entry = `server-${os.hostname()}-${process.pid}-${randomBytes(6).toString('hex')}`;
    const row = kind === 'incident' ? incidentRowTable(info as IncidentInfo, entry) : runRowTable(info as RunInfo, entry);
    try {
      await this.insert(kind === 'incident' ? sql.insertIncident('body') : sql.insertRun('body'), {}, Readable.from([tableToIPC(row, 'stream')]), `committing ${describeRecord(kind, ids)}`);
    } catch (err) {
      // The row may have landed before the answer was lost: then the insert did commit.
      const rows = await this.rows<{ entry_id: string }>(kind === 'incident' ? sql.INCIDENT_ENTRY : sql.RUN_ENTRY, ids).catch(() => []);
      if (rows.some((r) => r.entry_id === entry)) return;
      throw await this.abandon(kind, ids, err);
    }
  }

  /** Removes the events of an insert that failed, and says what happened and what is left. */
  private async abandon(kind: 'incident' | 'run', ids: { incident_id: string; run_id: string }, err: unknown): Promise<StoreError> {
    const cause = err instanceof StoreError ? err : this.failure(err, `storing ${describeRecord(kind, ids)}`);
    let cleanup: string;
    try {
      await this.removeUncommitted(ids);
      cleanup = 'The events already sent were removed: nothing of it is in the store.';
    } catch (again) {
      cleanup =
        `Its events already sent could not be removed (${messageOf(again)}); they are not visible as an ` +
        `incident, and storing it again, \`replaybook rm ${ids.incident_id}\` or \`replaybook gc --uncommitted\` removes them.`;
    }
    return new StoreError(cause.code, `${cause.message} ${describeRecord(kind, ids)} was not stored. ${cleanup}`, this.location, { cause: err });
  }

  private async removeUncommitted(ids: { incident_id: string; run_id: string }): Promise<void> {
    const [leftover] = await this.rows<{ n: string }>(sql.COUNT_RUN_EVENTS, ids);
    if (Number(leftover?.n ?? 0) > 0) await this.exec(sql.deleteRunEvents(this.layout), ids, 'removing uncommitted events');
  }

  /** Sends the blobs the server lacks, each checked against its sha256 first. */
  private async putBlobs(blobs: Map<string, string>): Promise<void> {
    if (blobs.size === 0) return;
    for (const sha of blobs.keys()) checkSha(sha, this.location);
    const present = new Set((await this.rows<{ sha256: string }>(sql.BLOBS_PRESENT, { shas: [...blobs.keys()] })).map((r) => r.sha256));
    for (const [sha, file] of blobs) {
      if (present.has(sha)) continue;
      let actual: string;
      let size: number;
      try {
        actual = sha256File(file);
        size = fs.statSync(file).size;
      } catch (err) {
        throw new StoreError('invalid', `Cannot read blob file ${file} (sha256 ${sha}): ${messageOf(err)}.`, this.location, { cause: err });
      }
      if (actual !== sha) {
        throw new StoreError('invalid', `Blob file ${file} has sha256 ${actual}, not ${sha} as given: it changed after it was hashed. Hash it again and retry.`, this.location);
      }
      if (size === 0) await this.exec(sql.INSERT_EMPTY_BLOB, { sha256: sha }, 'storing a blob');
      else await this.insert(sql.insertBlob('body'), { sha256: sha }, fs.createReadStream(file), `storing blob ${sha}`);
    }
  }

  /**
   * The server has no lock of its own: a lock file in the entry keeps two processes of this
   * machine from ingesting the same live recording at once (null: another one is at it).
   */
  async ingestLive(dir: string, o: { engineDone?: boolean; wait?: boolean } = {}): Promise<LiveOutcome | null> {
    const lock = path.join(dir, 'ingesting.lock');
    for (let attempt = 0; ; attempt++) {
      if (!fs.existsSync(dir)) return null;
      try {
        fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
        break;
      } catch {
        const holder = Number(fs.readFileSync(lock, 'utf8') || 0);
        if (holder && holder !== process.pid && !processAlive(holder)) {
          fs.rmSync(lock, { force: true });
          continue;
        }
        if (!o.wait || attempt > 300) return null;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      return await ingestLive(dir, this.liveSink(), o);
    } finally {
      fs.rmSync(lock, { force: true });
    }
  }

  private liveSink(): LiveSink {
    return {
      incidentRows: (id) => this.rows<{ entry_id: string; state: string }>(sql.INCIDENT_ENTRY, { incident_id: id }),
      insertIncidentRow: (info, entryId) =>
        this.insert(sql.insertIncident('body'), {}, Readable.from([tableToIPC(incidentRowTable(info, entryId), 'stream')]), `storing the row of incident ${shownId(info.incident_id)}`),
      deleteRecordingRow: (id, entryId) => this.exec(sql.deleteRecordingRow(this.layout), { incident_id: id, entry_id: entryId }, 'replacing the row of a recording in progress'),
      insertEventsFile: (id, file) =>
        this.insert(sql.insertEvents('body'), { incident_id: id, run_id: RECORDING_RUN }, fs.createReadStream(file), `storing events of incident ${shownId(id)}`),
      insertBlobs: (blobs) => this.putBlobs(blobs),
      redactStored: (id, secret, placeholder) =>
        this.exec(sql.redactStoredEvents(this.layout), { incident_id: id, secret: secret.toString('hex'), placeholder: placeholder.toString('hex') }, 'redacting stored events'),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  async incidents(filter: IncidentFilter = {}): Promise<IncidentInfo[]> {
    const { sql: query, params } = sql.selectIncidents(filter);
    return incidentsFromBatches((await this.table(query, params, 'listing incidents')).batches);
  }

  async incident(id: string): Promise<IncidentInfo | null> {
    const found = incidentsFromBatches((await this.table(sql.SELECT_INCIDENT, { incident_id: id }, `reading incident ${shownId(id)}`)).batches);
    return found[0] ?? null;
  }

  async runs(incidentId: string): Promise<RunInfo[]> {
    return runsFromBatches((await this.table(sql.SELECT_RUNS, { incident_id: incidentId }, `listing the runs of ${shownId(incidentId)}`)).batches);
  }

  async *events(incidentId: string, runId: string = RECORDING_RUN): AsyncGenerator<RecordBatch> {
    const ids = { incident_id: incidentId, run_id: runId };
    const marker = await this.rows<{ n: string }>(runId === RECORDING_RUN ? sql.INCIDENT_EXISTS : sql.RUN_EXISTS, ids);
    if (Number(marker[0]?.n ?? 0) === 0) {
      const what = runId === RECORDING_RUN ? `incident ${shownId(incidentId)}` : `run ${shownId(runId)} of incident ${shownId(incidentId)}`;
      throw new StoreError('not-found', `The store at ${this.location} has no ${what}.`, this.location);
    }
    for await (const batch of this.arrow(sql.SELECT_EVENTS, ids, `fetching the events of ${describeRecord(runId === RECORDING_RUN ? 'incident' : 'run', ids)}`)) {
      yield conformBatch(batch, eventSchema);
    }
  }

  async eventsTable(incidentId: string, runId: string = RECORDING_RUN): Promise<Table> {
    const batches: RecordBatch[] = [];
    for await (const batch of this.events(incidentId, runId)) batches.push(batch);
    return new Table(eventSchema, batches);
  }

  async readBlob(sha256: string, dest: string): Promise<void> {
    fs.copyFileSync(await this.blobFile(sha256), dest);
    fs.chmodSync(dest, PRIVATE_FILE);
  }

  /** The blob's local copy in the blob cache, fetched (streamed to disk, then checked) on first use. */
  async blobFile(sha256: string): Promise<string> {
    checkSha(sha256, this.location);
    const cached = blobCachePath(this.cacheHome, sha256);
    if (fs.existsSync(cached)) return cached;
    const [row] = await this.rows<{ size: string }>(sql.BLOB_SIZE, { sha256 });
    if (!row) {
      throw new StoreError('blob-missing', `The store at ${this.location} has no blob with sha256 ${sha256}.`, this.location);
    }
    const size = Number(row.size);
    fs.mkdirSync(path.dirname(cached), { recursive: true, mode: PRIVATE_DIR });
    const tmp = `${cached}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const what = `fetching blob ${sha256}`;
    const result = await this.request(`${sql.BLOB_CONTENT}\nFORMAT RawBLOB`, { sha256 }, what);
    const hash = createHash('sha256');
    const fd = fs.openSync(tmp, 'w', PRIVATE_EXEC);
    let written = 0;
    const tail: Uint8Array[] = [];
    try {
      for await (const chunk of bytesOf(result.stream, this.timeoutMs)) {
        // Bytes past the announced size are not the blob: an exception appended to the body.
        const keep = chunk.subarray(0, Math.max(0, size - written));
        if (keep.byteLength < chunk.byteLength) tail.push(chunk.subarray(keep.byteLength));
        hash.update(keep);
        let off = 0;
        while (off < keep.byteLength) off += fs.writeSync(fd, keep, off);
        written += keep.byteLength;
      }
      fs.fsyncSync(fd);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw this.failure(err, what);
    } finally {
      fs.closeSync(fd);
    }
    const actual = hash.digest('hex');
    if (tail.length > 0 || written !== size || actual !== sha256) {
      fs.rmSync(tmp, { force: true });
      const found = findException(Buffer.concat(tail));
      if (found) throw this.failure(found, what);
      throw new StoreError(
        written < size ? 'interrupted' : 'query-failed',
        `Blob ${sha256} from the store at ${this.location} arrived as ${written} of ${size} bytes with sha256 ${actual}` +
          (written < size ? ': the connection was cut. Retry.' : ': the store is damaged.'),
        this.location,
      );
    }
    fs.renameSync(tmp, cached);
    return cached;
  }

  async query(statement: string, params: Record<string, string | number | bigint> = {}): Promise<Table> {
    const { schema, batches } = await this.table(statement, params, 'a query');
    if (!schema) return new Table();
    const shown = textSchema(schema, sql.BINARY_COLUMNS);
    return new Table(shown, batches.map((b) => relabelBatch(b, shown)));
  }

  async command(statement: string, params: Record<string, string | number | bigint> = {}): Promise<void> {
    await this.exec(statement, params);
  }

  async remove(incidentId: string): Promise<Removed | null> {
    return removeIncident(this.runner(), incidentId, this.layout);
  }

  async collectGarbage(options: GarbageOptions = {}): Promise<GarbageReport> {
    return collectGarbage(this.runner(), options, this.layout);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
    await this.boot.close();
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new StoreError('invalid', `The store at ${this.location} has been closed; open it again.`, this.location);
    }
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

/**
 * The events as one Arrow IPC stream, produced as the request body is sent: the schema, each
 * batch's message as it comes, the end marker. `sent.rows` counts what went out.
 */
async function* ipcBody(
  schema: Schema,
  batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
  sent: { rows: number },
): AsyncGenerator<Uint8Array> {
  const empty = tableToIPC(new Table(schema), 'stream');
  yield empty.subarray(0, empty.byteLength - END_OF_STREAM.byteLength);
  for await (const batch of batches) {
    const conformed = conformBatch(batch, schema);
    for (const message of batchMessages(tableToIPC(new Table(schema, [conformed]), 'stream'))) yield message;
    sent.rows += conformed.numRows;
  }
  yield END_OF_STREAM;
}
