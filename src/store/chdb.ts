// The embedded store: ClickHouse in-process (chDB) on a local directory.
//
// chDB lets one process at a time open a data directory, so by default the store opens it per
// operation and closes it after (~30-70 ms): a notebook kernel and `replaybook record` in a
// terminal take turns instead of locking each other out. Writes never wait and never fail
// because the store is busy: they go through the spool (spool.ts) and, if another process holds
// the directory, stay there until the next process that opens the store ingests them. Reads
// wait a bounded time for a short operation of another process to finish.
//
// chDB binds one data directory per process and must not be loaded in worker threads.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Session } from 'chdb';
import { RecordBatch, Schema, Table } from 'apache-arrow';
import { RECORDING_RUN, eventSchema, type IncidentInfo, type RunInfo } from '../events/schema';
import { PRIVATE_DIR, PRIVATE_EXEC, PRIVATE_FILE, holdPrivateUmask, makeStoreHomePrivate } from './private';
import { conformBatch, incidentRowTable, incidentsFromBatches, readIpc, relabelBatch, runRowTable, runsFromBatches, textSchema, writeTableFile } from './arrow';
import { checkId, checkRecord, checkSchemaVersion, checkSha, describeRecord } from './checks';
import { collectGarbage, removeIncident } from './maintenance';
import { StoreError, messageOf } from './errors';
import { blobCachePath, chdbDataDir, holdersDir, storeHome } from './location';
import { describeHolder, holderFile, lockHolder, markWanted, processAlive, tryOpeningLock, wantedByOthers, type LockHolder } from './lock';
import * as sql from './sql';
import {
  CONFLICTS_DIR,
  CORRUPT_DIR,
  PendingEntry,
  blobFile,
  deleteSpoolEntry,
  eventsFile,
  findSpoolEntry,
  listEntries,
  listSpool,
  readEntry,
  removeEntry,
  setAside,
  sha256File,
  type SpoolEntry,
  type SpoolListing,
} from './spool';
import { diskFullText, isDiskFull, sizeOf } from './space';
import type { EventStore, GarbageOptions, GarbageReport, IncidentFilter, Removed } from './types';
import { shownId } from '../events/ids';
import { ingestLive, liveEngineRunning, liveEntries, liveIncident, liveStoreOf, removeScratch, writeScratch, type LiveOutcome, type LiveSink } from '../record/live';

export interface OpenStoreOptions {
  /**
   * Hold the chDB directory from openStore() until close(): each operation then starts in ~2 ms
   * instead of ~50 ms, but meanwhile other processes can only spool writes, and their reads fail
   * at once with a message naming this process. For batch jobs and benchmarks; a notebook should
   * keep the default (open per operation).
   */
  keepOpen?: boolean;
  /**
   * How long a read waits for another process's operation to release the directory before
   * failing with StoreError('locked'). Default 30 000 ms.
   */
  lockWaitMs?: number;
  /**
   * Problems that must not fail the operation at hand (a spool entry set aside or left for a
   * retry). Default: process.emitWarning.
   */
  onWarning?: (warning: StoreError) => void;
}

type Params = Record<string, string | number | bigint | readonly string[]>;

const CONNECTION_ARGS = Object.entries(sql.OUTPUT_SETTINGS).map(([k, v]) => `--${k}=${v}`);
const DEFAULT_LOCK_WAIT_MS = 30_000;
/** Stands for "another process is opening the directory at this moment". */
const OPENING: LockHolder = { pid: 0, command: null, keepsOpen: false };

// Process-wide, keyed by chDB data directory: how many sessions this process has open (while > 0
// the directory is ours and opening another session is immediate), the chain serialising spool
// ingestion, and directories whose schema has been checked.
const openSessions = new Map<string, number>();
const ingestChains = new Map<string, Promise<unknown>>();
const schemaChecked = new Set<string>();

/** Opens the store at `home` (default: storeHome()). */
export async function openStore(home: string = storeHome(), options: OpenStoreOptions = {}): Promise<ChdbStore> {
  const store = new ChdbStore(path.resolve(home), options);
  if (options.keepOpen) await store.hold();
  return store;
}

/** One chDB connection for the duration of an operation. */
class Connection {
  private released = false;

  constructor(
    readonly session: Session,
    private readonly dataDir: string,
    private readonly location: string,
    private readonly releaseUmask: () => void,
  ) {}

  private fail(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    return new StoreError(
      'query-failed',
      `ClickHouse rejected ${what} on the store at ${this.location}: ${messageOf(err)}`,
      this.location,
      { cause: err },
    );
  }

  async exec(statement: string, params: Params = {}): Promise<void> {
    try {
      await this.session.queryBindAsync(statement, params, { format: 'TabSeparated' });
    } catch (err) {
      throw this.fail(err, 'a statement');
    }
  }

  /** Small results as objects (JSONEachRow: 64-bit integers arrive as strings). */
  async rows<T>(query: string, params: Params = {}): Promise<T[]> {
    let text: string;
    try {
      text = (await this.session.queryBindAsync(query, params, { format: 'JSONEachRow' })).text();
    } catch (err) {
      throw this.fail(err, 'a query');
    }
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as T);
  }

  async arrow(query: string, params: Params = {}): Promise<{ schema: Schema | null; batches: RecordBatch[] }> {
    let bytes: Uint8Array;
    try {
      bytes = (await this.session.queryBindAsync(query, params, { format: 'ArrowStream' })).bytes();
    } catch (err) {
      throw this.fail(err, 'a query');
    }
    return readIpc(bytes);
  }

  async bytes(query: string, params: Params, format: string): Promise<Uint8Array> {
    try {
      return (await this.session.queryBindAsync(query, params, { format })).bytes();
    } catch (err) {
      throw this.fail(err, 'a query');
    }
  }

  /** Streams a result block by block (one stream per connection at a time). */
  async *stream(query: string, params: Params): AsyncGenerator<RecordBatch> {
    let chunks;
    try {
      chunks = this.session.queryStreamBind(query, params, { format: 'ArrowStream' });
    } catch (err) {
      throw this.fail(err, 'a query');
    }
    try {
      for await (const chunk of chunks) {
        for (const batch of readIpc(chunk.raw()).batches) yield batch;
      }
    } catch (err) {
      throw this.fail(err, 'a query');
    } finally {
      chunks.cancel();
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.session.close();
    this.releaseUmask();
    const n = (openSessions.get(this.dataDir) ?? 1) - 1;
    if (n > 0) openSessions.set(this.dataDir, n);
    else openSessions.delete(this.dataDir);
  }
}

export class ChdbStore implements EventStore {
  readonly location: string;
  /** The chDB data directory inside the home. */
  readonly dataDir: string;
  private readonly lockWaitMs: number;
  private readonly warn: (w: StoreError) => void;
  /** The connection a recording's ingestion keeps between its steps (ingestLive's `keep`). */
  private liveHeld: Connection | null = null;
  /** keepOpen: the connection that holds the directory until close(). */
  private anchor: Connection | null = null;
  private closed = false;

  constructor(
    readonly home: string,
    options: OpenStoreOptions = {},
  ) {
    this.location = home;
    this.dataDir = chdbDataDir(home);
    this.lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
    this.warn =
      options.onWarning ?? ((w) => process.emitWarning(w.message, { type: 'StoreWarning', code: w.code }));
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  async putIncident(
    info: IncidentInfo,
    events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
    blobs: Map<string, string>,
  ): Promise<'stored' | 'spooled'> {
    checkRecord('incident', info, this.location);
    return this.put('incident', info, events, blobs);
  }

  async putRun(info: RunInfo, events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>): Promise<'stored' | 'spooled'> {
    checkRecord('run', info, this.location);
    return this.put('run', info, events, new Map());
  }

  private async put(
    kind: 'incident' | 'run',
    info: IncidentInfo | RunInfo,
    events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
    blobs: Map<string, string>,
  ): Promise<'stored' | 'spooled'> {
    this.checkOpen();
    // The events are written before the store is opened: a live recording may stream them for
    // minutes, and the directory must not be held meanwhile.
    const pending = await PendingEntry.create(this.home, events);
    let conn: Connection | null = null;
    try {
      try {
        conn = await this.connect('try');
      } catch (err) {
        if (!(err instanceof StoreError) || err.code !== 'unreadable') throw err;
        // The store cannot be opened at all: keep the recording rather than drop it.
        const entry = this.commitEntry(pending, kind, info, pending.addBlobs(blobs, new Set()));
        throw new StoreError(
          'unreadable',
          `${err.message} The ${kind} was kept in the spool (${entry.dir}) and is ingested once ` +
            `the store can be opened again.`,
          this.location,
          { cause: err },
        );
      }
      if (!conn) {
        this.commitEntry(pending, kind, info, pending.addBlobs(blobs, new Set()));
        return 'spooled';
      }
      if (await this.committedEntry(conn, kind, info)) {
        throw this.exists(kind, info);
      }
      const present = await this.blobsPresent(conn, [...blobs.keys()]);
      const added = pending.addBlobs(blobs, present);
      // Commit and ingest under the ingestion lock, so no concurrent operation of this process
      // ingests the entry first.
      return await this.serialiseIngest(async () => {
        const entry = this.commitEntry(pending, kind, info, added);
        let outcome: 'stored' | 'conflict';
        try {
          outcome = await this.ingest(conn!, entry);
        } catch (err) {
          throw this.ingestFailed(entry, err, `The ${kind} was written to the spool but could not be ingested`);
        }
        if (outcome === 'conflict') throw this.exists(kind, info, true);
        return 'stored' as const;
      });
    } catch (err) {
      pending.discard(); // a no-op once committed: the entry has moved to its final name
      throw err;
    } finally {
      conn?.release();
    }
  }

  private commitEntry(
    pending: PendingEntry,
    kind: 'incident' | 'run',
    info: IncidentInfo | RunInfo,
    blobs: string[],
  ): SpoolEntry {
    return kind === 'incident'
      ? pending.commit('incident', info as IncidentInfo, blobs)
      : pending.commit('run', info as RunInfo, blobs);
  }

  private exists(kind: 'incident' | 'run', info: IncidentInfo | RunInfo, keptAside = false): StoreError {
    return new StoreError(
      'exists',
      `The store at ${this.location} already has ${describeRecord(kind, info)}. ` +
        (keptAside ? `This one was kept in ${path.join(this.home, 'spool', CONFLICTS_DIR)}. ` : '') +
        `Store it under another id, or delete the existing one first (replaybook rm).`,
      this.location,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  async incidents(filter: IncidentFilter = {}): Promise<IncidentInfo[]> {
    const { sql: query, params } = sql.selectIncidents(filter);
    return this.read(async (conn) => incidentsFromBatches((await conn.arrow(query, params)).batches));
  }

  async incident(id: string): Promise<IncidentInfo | null> {
    return this.read(async (conn) => {
      const found = incidentsFromBatches((await conn.arrow(sql.SELECT_INCIDENT, { incident_id: id })).batches);
      return found[0] ?? null;
    });
  }

  async runs(incidentId: string): Promise<RunInfo[]> {
    return this.read(async (conn) => runsFromBatches((await conn.arrow(sql.SELECT_RUNS, { incident_id: incidentId })).batches));
  }

  async *events(incidentId: string, runId: string = RECORDING_RUN): AsyncGenerator<RecordBatch> {
    this.checkOpen();
    const conn = await this.connect('wait');
    try {
      // Rows of a recording whose incident row is not there yet are not part of the store.
      const marker =
        runId === RECORDING_RUN
          ? await conn.rows<{ n: string }>(sql.INCIDENT_EXISTS, { incident_id: incidentId })
          : await conn.rows<{ n: string }>(sql.RUN_EXISTS, { incident_id: incidentId, run_id: runId });
      if (Number(marker[0]?.n ?? 0) === 0) {
        const what = runId === RECORDING_RUN ? `incident ${shownId(incidentId)}` : `run ${shownId(runId)} of incident ${shownId(incidentId)}`;
        throw new StoreError('not-found', `The store at ${this.location} has no ${what}.`, this.location);
      }
      for await (const batch of conn.stream(sql.SELECT_EVENTS, { incident_id: incidentId, run_id: runId })) {
        yield conformBatch(batch, eventSchema);
      }
    } finally {
      conn.release();
    }
  }

  async eventsTable(incidentId: string, runId: string = RECORDING_RUN): Promise<Table> {
    const batches: RecordBatch[] = [];
    for await (const batch of this.events(incidentId, runId)) batches.push(batch);
    return new Table(eventSchema, batches);
  }

  async readBlob(sha256: string, dest: string): Promise<void> {
    checkSha(sha256, this.location);
    const cached = blobCachePath(this.home, sha256);
    if (fs.existsSync(cached)) {
      fs.copyFileSync(cached, dest, fs.constants.COPYFILE_FICLONE);
      return;
    }
    const bytes = await this.fetchBlob(sha256);
    writeFileAtomic(dest, bytes, PRIVATE_FILE);
  }

  /**
   * A local file holding the blob: its copy in the blob cache (`blobCachePath`), fetched from the
   * store on first use. The file is read-only; callers must not modify it.
   */
  async blobFile(sha256: string): Promise<string> {
    checkSha(sha256, this.location);
    const cached = blobCachePath(this.home, sha256);
    if (!fs.existsSync(cached)) {
      const bytes = await this.fetchBlob(sha256);
      fs.mkdirSync(path.dirname(cached), { recursive: true, mode: PRIVATE_DIR });
      // Read-only, and executable: replay mounts the recorded executable from this file.
      writeFileAtomic(cached, bytes, PRIVATE_EXEC);
    }
    return cached;
  }

  private async fetchBlob(sha256: string): Promise<Uint8Array> {
    return this.read(async (conn) => {
      const size = await conn.rows<{ size: string }>(sql.BLOB_SIZE, { sha256 });
      if (size.length === 0) {
        throw new StoreError('blob-missing', `The store at ${this.location} has no blob with sha256 ${sha256}.`, this.location);
      }
      const bytes = await conn.bytes(sql.BLOB_CONTENT, { sha256 }, 'RawBLOB');
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (bytes.byteLength !== Number(size[0].size) || actual !== sha256) {
        throw new StoreError(
          'query-failed',
          `Blob ${sha256} in the store at ${this.location} reads back as ${bytes.byteLength} bytes ` +
            `with sha256 ${actual}: the store is damaged.`,
          this.location,
        );
      }
      return bytes;
    });
  }

  async query(statement: string, params: Record<string, string | number | bigint> = {}): Promise<Table> {
    return this.read(async (conn) => {
      const { schema, batches } = await conn.arrow(statement, params);
      if (!schema) return new Table();
      const shown = textSchema(schema, sql.BINARY_COLUMNS);
      return new Table(shown, batches.map((b) => relabelBatch(b, shown)));
    });
  }

  async command(statement: string, params: Record<string, string | number | bigint> = {}): Promise<void> {
    return this.read((conn) => conn.exec(statement, params));
  }

  async remove(incidentId: string): Promise<Removed | null> {
    checkId('incident', incidentId, this.location);
    return this.read((conn) => removeIncident(conn, incidentId));
  }

  /** Also drops the removed blobs' copies from the blob cache. */
  async collectGarbage(options: GarbageOptions = {}): Promise<GarbageReport> {
    // Serialised with ingestion: a recording being ingested by this process is never half-seen.
    const report = await this.read((conn) => this.serialiseIngest(() => collectGarbage(conn, options)));
    for (const sha of report.blobs) fs.rmSync(blobCachePath(this.home, sha), { force: true });
    return report;
  }

  /**
   * `keep`: the recorder's periodic ingestion keeps the directory open until its next one (an
   * open of chDB costs a few hundred ms of CPU, which a service being recorded would pay), unless
   * another process waits for it (lock.ts markWanted), the recording is over, or the store closes.
   */
  async ingestLive(dir: string, o: { engineDone?: boolean; wait?: boolean; keep?: boolean } = {}): Promise<LiveOutcome | null> {
    this.checkOpen();
    const held = this.liveHeld;
    this.liveHeld = null;
    const conn = held ?? (o.wait ? await this.connect('wait', { ingest: false }) : await this.connect('try', { ingest: false }));
    if (!conn) return null;
    let keep = false;
    try {
      const r = await this.serialiseIngest(async () => (fs.existsSync(dir) ? this.ingestLiveOrSay(conn, dir, o) : null));
      keep = o.keep === true && r?.state === 'recording' && !this.closed && !wantedByOthers(this.home);
      return r;
    } finally {
      if (keep) this.liveHeld = conn;
      else conn.release();
    }
  }

  /** Lets go of the directory a recording's ingestion kept open (ingestLive's `keep`). */
  releaseLive(): void {
    this.liveHeld?.release();
    this.liveHeld = null;
  }

  /** ingestLive, its failure said with the way forward (a full disk: spool retry / rm). */
  private async ingestLiveOrSay(conn: Connection, dir: string, o: { engineDone?: boolean } = {}): Promise<LiveOutcome> {
    try {
      return await ingestLive(dir, this.liveSink(conn), o);
    } catch (err) {
      const info = liveIncident(dir);
      throw this.ingestFailed({ kind: 'incident', info: info ?? { incident_id: '?' }, dir, id: path.basename(dir) }, err, 'The recording could not be stored');
    }
  }

  private liveSink(conn: Connection): LiveSink {
    return {
      incidentRows: (id) => conn.rows<{ entry_id: string; state: string }>(sql.INCIDENT_ENTRY, { incident_id: id }),
      insertIncidentRow: async (info, entryId, dir) => {
        // A name of its own each time: chDB's file() may serve a path it has read before from a cache.
        const file = await writeScratch(dir, `row-${process.pid}-${randomBytes(6).toString('hex')}.arrows`, async (f) =>
          writeTableFile(f, incidentRowTable(info, entryId)),
        );
        try {
          await conn.exec(sql.INSERT_INCIDENT_FROM_FILE, { path: file });
        } finally {
          removeScratch(file);
        }
      },
      deleteRecordingRow: (id, entryId) => conn.exec(sql.deleteRecordingRow(), { incident_id: id, entry_id: entryId }),
      insertEventsFile: (id, file) => conn.exec(sql.INSERT_EVENTS_FROM_FILE, { incident_id: id, run_id: RECORDING_RUN, path: file }),
      insertBlobs: async (blobs) => {
        const present = await this.blobsPresent(conn, [...blobs.keys()]);
        for (const [sha, file] of blobs) {
          if (present.has(sha)) continue;
          if (fs.statSync(file).size === 0) await conn.exec(sql.INSERT_EMPTY_BLOB, { sha256: sha });
          else await conn.exec(sql.INSERT_BLOB_FROM_FILE, { sha256: sha, path: file });
        }
      },
      redactStored: (id, secret, placeholder) =>
        conn.exec(sql.redactStoredEvents(), { incident_id: id, secret: secret.toString('hex'), placeholder: placeholder.toString('hex') }),
    };
  }

  /** Live recordings in the spool: what is new in each goes in; finished ones are finished. */
  private async ingestLiveEntries(conn: Connection): Promise<void> {
    for (const dir of liveEntries(this.home)) {
      if (liveStoreOf(dir) !== '') continue; // bound for a server store
      try {
        const outcome = await this.ingestLiveOrSay(conn, dir);
        if (outcome.state === 'conflict') {
          this.warn(new StoreError('exists', `A live recording in ${dir} was not ingested: the store at ${this.location} already has an incident with its id. It was kept in ${path.join(this.home, 'spool', CONFLICTS_DIR)}.`, this.location));
        }
      } catch (err) {
        this.warn(err instanceof StoreError ? err : new StoreError('ingest-failed', `The live recording in ${dir} could not be ingested: ${messageOf(err)}.`, this.location, { cause: err }));
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.releaseLive();
    if (this.anchor) {
      this.anchor.release();
      this.anchor = null;
      fs.rmSync(holderFile(this.home), { force: true });
    }
  }

  /** keepOpen: takes the directory and keeps it until close(). */
  async hold(): Promise<void> {
    if (this.anchor) return;
    const conn = await this.connect('wait');
    this.anchor = conn;
    fs.mkdirSync(holdersDir(this.home), { recursive: true, mode: PRIVATE_DIR });
    for (const name of fs.readdirSync(holdersDir(this.home))) {
      const pid = Number.parseInt(name, 10);
      if (pid && !processAlive(pid)) fs.rmSync(path.join(holdersDir(this.home), name), { force: true });
    }
    fs.writeFileSync(holderFile(this.home), JSON.stringify({ pid: process.pid, since: new Date().toISOString() }), { mode: PRIVATE_FILE });
  }

  // -------------------------------------------------------------------------------------------
  // Opening, locking, ingestion

  private async read<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    this.checkOpen();
    const conn = await this.connect('wait');
    try {
      return await fn(conn);
    } finally {
      conn.release();
    }
  }

  /**
   * A ready connection: the directory opened, the schema checked, the spool ingested. 'try'
   * answers null at once when another process holds the directory; 'wait' waits up to lockWaitMs
   * for it, unless the holder keeps the store open, then throws StoreError('locked').
   */
  private connect(mode: 'wait', o?: { ingest: boolean }): Promise<Connection>;
  private connect(mode: 'try', o?: { ingest: boolean }): Promise<Connection | null>;
  private async connect(mode: 'wait' | 'try', o: { ingest: boolean } = { ingest: true }): Promise<Connection | null> {
    const conn = await this.openSession(mode);
    if (!conn) return null;
    try {
      await this.ensureSchema(conn);
      if (o.ingest) await this.serialiseIngest(() => this.ingestSpool(conn));
      return conn;
    } catch (err) {
      conn.release();
      throw err;
    }
  }

  private async openSession(mode: 'wait' | 'try'): Promise<Connection | null> {
    for (const [dir, n] of openSessions) {
      if (dir !== this.dataDir && n > 0) {
        throw new StoreError(
          'unreadable',
          `This process already has the store at ${path.dirname(dir)} open, and chDB can open one ` +
            `store directory per process. Close that store before opening ${this.location}.`,
          this.location,
        );
      }
    }
    try {
      makeStoreHomePrivate(this.home);
      fs.mkdirSync(this.dataDir, { recursive: true, mode: PRIVATE_DIR });
    } catch (err) {
      throw this.unreadable(err);
    }
    const deadline = Date.now() + this.lockWaitMs;
    let unexplained = 0;
    let lastError: unknown = null;
    let unwant: (() => void) | null = null;
    try {
      for (let attempt = 0; ; attempt++) {
        const ours = (openSessions.get(this.dataDir) ?? 0) > 0;
        // undefined: no /proc/locks to ask, so only an attempt to open can tell.
        // Another replaybook process in the middle of opening counts as a holder (tryOpeningLock).
        const release = ours ? () => undefined : tryOpeningLock(this.home);
        let holder: LockHolder | null | undefined = ours ? null : release ? lockHolder(this.home, this.dataDir) : OPENING;
        if (!holder && release) {
          const releaseUmask = holdPrivateUmask();
          try {
            const session = new Session(this.dataDir, { connectionArgs: CONNECTION_ARGS });
            openSessions.set(this.dataDir, (openSessions.get(this.dataDir) ?? 0) + 1);
            return new Connection(session, this.dataDir, this.location, releaseUmask);
          } catch (err) {
            releaseUmask();
            lastError = err;
            holder = lockHolder(this.home, this.dataDir);
            // Free, yet the open failed: either the holder let go in between (try again) or chDB
            // cannot open the directory at all.
            if (holder === null && ++unexplained >= 3) throw this.unreadable(err);
          } finally {
            release();
          }
        } else {
          release?.();
        }
        if (holder === OPENING) holder = undefined;
        if (mode === 'try') return null;
        if (holder?.keepsOpen) throw this.locked(holder, null);
        if (Date.now() >= deadline) throw this.locked(holder ?? undefined, lastError);
        // A recorder keeping the store open between its ingestions lets go at its next one.
        unwant ??= markWanted(this.home);
        await sleep(Math.min(25 * 2 ** attempt, 250));
      }
    } finally {
      unwant?.();
    }
  }

  private locked(holder: LockHolder | undefined, lastError: unknown): StoreError {
    const note =
      ' (Recordings are never blocked: while the store is busy they are spooled, and the next ' +
      'process that opens the store ingests them.)';
    if (holder?.keepsOpen) {
      return new StoreError(
        'locked',
        `The store at ${this.location} is held open by ${describeHolder(holder)}, which keeps it ` +
          `open until it closes the store or exits. Read it from that process, or close the store ` +
          `there (store.close()) and retry.${note}`,
        this.location,
      );
    }
    const seconds = Math.round(this.lockWaitMs / 100) / 10;
    if (holder) {
      return new StoreError(
        'locked',
        `The store at ${this.location} has been in use by ${describeHolder(holder)} for more than ` +
          `${seconds} s. Wait for it to finish and retry, or stop it.${note}`,
        this.location,
      );
    }
    return new StoreError(
      'locked',
      `The store at ${this.location} could not be opened for ${seconds} s: chDB says ` +
        `"${messageOf(lastError)}" (its reason is on stderr; usually another process has the ` +
        `directory ${this.dataDir} open). Wait for it to finish and retry.${note}`,
      this.location,
      { cause: lastError },
    );
  }

  private unreadable(err: unknown): StoreError {
    return new StoreError(
      'unreadable',
      `Cannot open the store at ${this.location}: ${messageOf(err)} (chDB prints its reason on ` +
        `stderr). Check that ${this.dataDir} is a chDB directory you can write to, or set ` +
        `REPLAYBOOK_HOME to another directory.`,
      this.location,
      { cause: err },
    );
  }

  private async ensureSchema(conn: Connection): Promise<void> {
    if (schemaChecked.has(this.dataDir)) return;
    const exists = await conn.rows<{ result: number }>(sql.META_EXISTS);
    if (Number(exists[0]?.result ?? 0) === 0) {
      for (const statement of sql.CREATE_STORE) await conn.exec(statement);
    } else {
      const [row] = await conn.rows<{ version: number }>(sql.SELECT_SCHEMA_VERSION);
      const version = Number(row?.version ?? 0);
      checkSchemaVersion(version, this.location, 'set REPLAYBOOK_HOME to another directory');
      for (const statement of sql.migrateStore(version)) await conn.exec(statement);
    }
    schemaChecked.add(this.dataDir);
  }

  /** Runs `fn` after every ingestion already queued in this process (another process cannot
   *  ingest meanwhile: it cannot open the directory). */
  private serialiseIngest<T>(fn: () => Promise<T>): Promise<T> {
    const previous = ingestChains.get(this.dataDir) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    ingestChains.set(this.dataDir, settled);
    void settled.then(() => {
      if (ingestChains.get(this.dataDir) === settled) ingestChains.delete(this.dataDir);
    });
    return next;
  }

  /** Ingests every complete spool entry, oldest first; problems are warnings, not failures. */
  private async ingestSpool(conn: Connection): Promise<void> {
    for (const name of listEntries(this.home)) {
      let entry: SpoolEntry;
      try {
        entry = readEntry(this.home, name);
      } catch (err) {
        if (!fs.existsSync(path.join(this.home, 'spool', name))) continue; // ingested meanwhile
        const reason = err instanceof StoreError ? err.message : messageOf(err);
        const kept = setAside(this.home, name, CORRUPT_DIR, reason);
        this.warn(new StoreError('corrupt-spool', `${reason} It was moved to ${kept}; nothing was deleted.`, this.location, { cause: err }));
        continue;
      }
      try {
        const outcome = await this.ingest(conn, entry);
        if (outcome === 'conflict') {
          const what = entry.kind === 'incident' ? `incident ${shownId(entry.info.incident_id)}` : `run ${shownId(entry.info.run_id)} of incident ${shownId(entry.info.incident_id)}`;
          this.warn(
            new StoreError(
              'exists',
              `A spooled recording of ${what} was not ingested: the store at ${this.location} ` +
                `already has one with that id. It was kept in ${path.join(this.home, 'spool', CONFLICTS_DIR, name)}.`,
              this.location,
            ),
          );
        }
      } catch (err) {
        this.warn(this.ingestFailed(entry, err, `A spooled ${entry.kind} could not be ingested`));
      }
    }
    await this.ingestLiveEntries(conn);
  }

  /**
   * Ingests one entry: blobs, then events, then the incident/run row, the commit marker. Safe to
   * repeat after an interruption at any point: a committed row from this entry means done; rows
   * of an uncommitted run are leftovers and are deleted before the events go in again.
   */
  private async ingest(conn: Connection, entry: SpoolEntry): Promise<'stored' | 'conflict'> {
    const ids =
      entry.kind === 'incident'
        ? { incident_id: entry.info.incident_id, run_id: RECORDING_RUN }
        : { incident_id: entry.info.incident_id, run_id: entry.info.run_id };
    const committed =
      entry.kind === 'incident'
        ? await conn.rows<{ entry_id: string }>(sql.INCIDENT_ENTRY, { incident_id: ids.incident_id })
        : await conn.rows<{ entry_id: string }>(sql.RUN_ENTRY, ids);
    if (committed.some((r) => r.entry_id === entry.id)) {
      removeEntry(entry);
      return 'stored';
    }
    if (committed.length > 0) {
      setAside(this.home, entry.id, CONFLICTS_DIR, `The store already had this ${entry.kind} id when the entry was ingested.`);
      return 'conflict';
    }

    const present = await this.blobsPresent(conn, entry.blobs);
    for (const sha of entry.blobs) {
      if (present.has(sha)) continue;
      const file = blobFile(entry, sha);
      if (fs.statSync(file).size === 0) await conn.exec(sql.INSERT_EMPTY_BLOB, { sha256: sha });
      else await conn.exec(sql.INSERT_BLOB_FROM_FILE, { sha256: sha, path: file });
    }

    const [leftover] = await conn.rows<{ n: string }>(sql.COUNT_RUN_EVENTS, ids);
    if (Number(leftover?.n ?? 0) > 0) await conn.exec(sql.DELETE_RUN_EVENTS, ids);
    if (entry.eventRows > 0) await conn.exec(sql.INSERT_EVENTS_FROM_FILE, { ...ids, path: eventsFile(entry) });

    const rowFile = path.join(entry.dir, 'row.arrows');
    if (entry.kind === 'incident') {
      writeTableFile(rowFile, incidentRowTable(entry.info, entry.id));
      await conn.exec(sql.INSERT_INCIDENT_FROM_FILE, { path: rowFile });
    } else {
      writeTableFile(rowFile, runRowTable(entry.info, entry.id));
      await conn.exec(sql.INSERT_RUN_FROM_FILE, { path: rowFile });
    }
    removeEntry(entry);
    return 'stored';
  }

  /** Why `entry` could not be ingested, and the way forward: retry it or remove it. */
  private ingestFailed(entry: { kind: 'incident' | 'run'; info: { incident_id: string; run_id?: string }; dir: string; id: string }, err: unknown, what: string): StoreError {
    const record = describeRecord(entry.kind, entry.info);
    const forward =
      `It stays in the spool (${entry.dir}) and every operation on the store retries it: ` +
      `replaybook spool retry ${entry.id} retries it now, replaybook spool rm ${entry.id} drops it.`;
    if (isDiskFull(err)) {
      // ClickHouse reserves at least 1 MiB for a part, whatever it writes.
      const need = Math.max(sizeOf(entry.dir), 1024 * 1024);
      return new StoreError(
        'disk-full',
        `${what} (${record}): ${diskFullText(this.dataDir, 'storing it', { bytes: need })}. Free space there. ${forward}`,
        this.location,
        { cause: err },
      );
    }
    return new StoreError('ingest-failed', `${what} (${record}): ${messageOf(err)}. ${forward}`, this.location, { cause: err });
  }

  // -------------------------------------------------------------------------------------------
  // The spool from outside: what waits in it, and a way forward for each entry

  /** Entries waiting in the spool, and those set aside (corrupt, conflicting). Opens nothing. */
  spool(): SpoolListing[] {
    this.checkOpen();
    return listSpool(this.home);
  }

  /**
   * Ingests one pending entry now, throwing what stops it (a full disk, a conflict) instead of
   * warning. The other entries are left for the next operation.
   */
  async retrySpoolEntry(id: string): Promise<SpoolListing> {
    this.checkOpen();
    const listed = findSpoolEntry(this.home, id);
    if (listed.state !== 'pending') {
      throw new StoreError(
        'invalid',
        `Spool entry ${listed.id} was set aside (${listed.reason ?? listed.state}) and is never ingested: ` +
          `look at ${listed.dir}, then drop it with replaybook spool rm ${listed.id}.`,
        this.location,
      );
    }
    const conn = await this.connect('wait', { ingest: false });
    try {
      await this.serialiseIngest(async () => {
        if (!fs.existsSync(listed.dir)) return; // another operation ingested it meanwhile
        if (listed.live) {
          // A streamed recording: what is new goes in, and it is finished once its engine is gone.
          const outcome = await this.ingestLiveOrSay(conn, listed.dir);
          if (outcome.state === 'conflict') {
            throw new StoreError('exists', `The store at ${this.location} already has incident '${listed.incident_id ?? '?'}': this recording was kept in ${path.join(this.home, 'spool', CONFLICTS_DIR)}.`, this.location);
          }
          return;
        }
        const entry = readEntry(this.home, listed.id);
        let outcome: 'stored' | 'conflict';
        try {
          outcome = await this.ingest(conn, entry);
        } catch (err) {
          throw this.ingestFailed(entry, err, `Spool entry ${entry.id} could not be ingested`);
        }
        if (outcome === 'conflict') throw this.exists(entry.kind, entry.info, true);
      });
    } finally {
      conn.release();
    }
    return listed;
  }

  /** Deletes one spool entry (pending or set aside): the recording in it is gone. */
  async removeSpoolEntry(id: string): Promise<SpoolListing> {
    this.checkOpen();
    const listed = findSpoolEntry(this.home, id);
    if (listed.live && liveEngineRunning(listed.dir)) {
      throw new StoreError(
        'invalid',
        `Spool entry ${listed.id} is a recording still under way (its engine runs): stop it first (Ctrl-C in its terminal, or SIGTERM to the engine), then drop it.`,
        this.location,
      );
    }
    // Holding the directory means no other process is ingesting the entry meanwhile; a store
    // that cannot be opened at all cannot be ingesting it either.
    let conn: Connection | null = null;
    try {
      conn = await this.connect('wait', { ingest: false });
    } catch (err) {
      if (!(err instanceof StoreError) || err.code !== 'unreadable') throw err;
    }
    try {
      await this.serialiseIngest(async () => {
        if (fs.existsSync(listed.dir)) deleteSpoolEntry(this.home, listed);
      });
    } finally {
      conn?.release();
    }
    return listed;
  }

  private async committedEntry(conn: Connection, kind: 'incident' | 'run', info: IncidentInfo | RunInfo): Promise<boolean> {
    const rows =
      kind === 'incident'
        ? await conn.rows(sql.INCIDENT_ENTRY, { incident_id: info.incident_id })
        : await conn.rows(sql.RUN_ENTRY, { incident_id: info.incident_id, run_id: (info as RunInfo).run_id });
    return rows.length > 0;
  }

  private async blobsPresent(conn: Connection, shas: string[]): Promise<Set<string>> {
    if (shas.length === 0) return new Set();
    const rows = await conn.rows<{ sha256: string }>(sql.BLOBS_PRESENT, { shas });
    return new Set(rows.map((r) => r.sha256));
  }

  // -------------------------------------------------------------------------------------------

  private checkOpen(): void {
    if (this.closed) {
      throw new StoreError('invalid', `The store at ${this.location} has been closed; open it again with openStore().`, this.location);
    }
  }
}

function writeFileAtomic(dest: string, bytes: Uint8Array, mode: number): void {
  const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, bytes, { mode });
  fs.chmodSync(tmp, mode); // whatever the umask
  fs.renameSync(tmp, dest);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Re-exported for callers that only import the store module.
export { sha256File };
