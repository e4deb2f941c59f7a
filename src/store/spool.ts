// The spool: recordings and runs on their way into the store. Every write goes through it. An
// entry is built in `spool/tmp-<pid>-<random>/`, fsynced and renamed to its final name, so an
// entry either is complete or does not exist under a final name. If the store was free, the writer
// ingests its entry right away; if another process held it, the entry waits for the next process
// that opens the store. Layout of an entry:
//
//   info.json       kind, entry id, the IncidentInfo / RunInfo (bigints as strings, bytes base64)
//   events.arrows   the events, one Arrow IPC stream (events/schema.ts)
//   blobs/<sha256>  blob files the store did not have when the entry was written
import { sha256File } from '../hash';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { INCIDENT_STATES, eventSchema, type IncidentInfo, type IncidentState, type RunInfo } from '../events/schema';
import { writeArrowStreamFile } from './arrow';
import { StoreError, messageOf } from './errors';
import { isSha256, spoolDir } from './location';
import { processAlive } from './lock';
import { redactionFromJson } from './redaction';
import { PRIVATE_DIR, PRIVATE_FILE, makeStoreHomePrivate } from './private';
import { diskFullText, isDiskFull, sizeOf } from './space';

const FORMAT = 1;
const INFO = 'info.json';
export const EVENTS_FILE = 'events.arrows';
const BLOBS = 'blobs';
/** Entries that could not be read are moved here, with a reason.txt, never deleted. */
export const CORRUPT_DIR = 'corrupt';
/** Spooled incidents/runs whose id was taken by the time they were ingested. */
export const CONFLICTS_DIR = 'conflicts';
const TMP_PREFIX = 'tmp-';
/** Recordings being written by their engine (src/record/live.ts); ingested by their own rules. */
export const LIVE_PREFIX = 'live-';

export type SpoolEntry =
  | (EntryBase & { kind: 'incident'; info: IncidentInfo })
  | (EntryBase & { kind: 'run'; info: RunInfo });

interface EntryBase {
  /** The entry directory. */
  dir: string;
  /** Its final name, also the entry id stored with the committed row. */
  id: string;
  /** Rows in events.arrows. */
  eventRows: number;
  /** sha256 of each file under blobs/. */
  blobs: string[];
}

export function eventsFile(entry: SpoolEntry): string {
  return path.join(entry.dir, EVENTS_FILE);
}

export function blobFile(entry: SpoolEntry, sha256: string): string {
  return path.join(entry.dir, BLOBS, sha256);
}

/** An entry being written: events first (no lock needed), then blobs and info, then commit. */
export class PendingEntry {
  private constructor(
    readonly home: string,
    readonly tmpDir: string,
    readonly eventRows: number,
  ) {}

  /** Starts an entry by streaming the events into it. */
  static async create(
    home: string,
    events: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
  ): Promise<PendingEntry> {
    const spool = spoolDir(home);
    try {
      makeStoreHomePrivate(home);
      fs.mkdirSync(spool, { recursive: true, mode: PRIVATE_DIR });
    } catch (err) {
      throw new StoreError(
        'unreadable',
        `Cannot create the spool directory ${spool}: ${messageOf(err)}. Check that the store ` +
          `home ${home} is writable, or set REPLAYBOOK_HOME to a writable directory.`,
        home,
        { cause: err },
      );
    }
    const tmpDir = path.join(spool, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    fs.mkdirSync(path.join(tmpDir, BLOBS), { recursive: true, mode: PRIVATE_DIR });
    try {
      const rows = await writeArrowStreamFile(path.join(tmpDir, EVENTS_FILE), eventSchema, events);
      return new PendingEntry(home, tmpDir, rows);
    } catch (err) {
      const written = sizeOf(tmpDir);
      fs.rmSync(tmpDir, { recursive: true, force: true });
      if (err instanceof StoreError) throw err;
      if (isDiskFull(err)) {
        throw new StoreError(
          'disk-full',
          `The events cannot be written: ${diskFullText(spool, 'writing them', { bytes: written, atLeast: true })}. ` +
            `Free space there, or set REPLAYBOOK_HOME to a directory on another disk, and record again.`,
          home,
          { cause: err },
        );
      }
      throw new StoreError(
        'invalid',
        `The events cannot be stored: ${messageOf(err)}. Events must follow events/schema.ts.`,
        home,
        { cause: err },
      );
    }
  }

  /**
   * Copies the blob files into the entry, checking each file's content against its sha256 (a file
   * that changed after it was hashed would otherwise be stored under a wrong name).
   */
  addBlobs(blobs: Map<string, string>, skip: ReadonlySet<string>): string[] {
    const added: string[] = [];
    for (const [sha, source] of blobs) {
      if (!isSha256(sha)) {
        throw new StoreError('invalid', `Blob key ${JSON.stringify(sha)} is not a sha256 (64 lowercase hex digits).`, this.home);
      }
      if (skip.has(sha)) continue;
      const dest = path.join(this.tmpDir, BLOBS, sha);
      try {
        fs.copyFileSync(source, dest, fs.constants.COPYFILE_FICLONE);
      } catch (err) {
        if (isDiskFull(err)) {
          const need = [...blobs].filter(([k]) => !skip.has(k)).reduce((n, [, f]) => n + sizeOf(f), sizeOf(this.tmpDir));
          throw new StoreError(
            'disk-full',
            `The recorded files cannot be kept: ${diskFullText(path.dirname(this.tmpDir), 'the spool entry', { bytes: need })}. ` +
              `Free space there, or set REPLAYBOOK_HOME to a directory on another disk.`,
            this.home,
            { cause: err },
          );
        }
        throw new StoreError(
          'invalid',
          `Cannot read blob file ${source} (sha256 ${sha}): ${messageOf(err)}.`,
          this.home,
          { cause: err },
        );
      }
      const actual = sha256File(dest);
      if (actual !== sha) {
        throw new StoreError(
          'invalid',
          `Blob file ${source} has sha256 ${actual}, not ${sha} as given: it changed after it ` +
            `was hashed. Hash it again and retry.`,
          this.home,
        );
      }
      syncFile(dest);
      added.push(sha);
    }
    return added;
  }

  /** Writes info.json and renames the entry to its final name: from here on it is durable. */
  commit(kind: 'incident', info: IncidentInfo, blobs: string[]): SpoolEntry;
  commit(kind: 'run', info: RunInfo, blobs: string[]): SpoolEntry;
  commit(kind: 'incident' | 'run', info: IncidentInfo | RunInfo, blobs: string[]): SpoolEntry {
    const id = `${Date.now().toString().padStart(14, '0')}-${kind}-${process.pid}-${randomBytes(6).toString('hex')}`;
    const doc = { format: FORMAT, kind, id, event_rows: this.eventRows, blobs, info };
    const infoPath = path.join(this.tmpDir, INFO);
    const text = JSON.stringify(doc, jsonReplacer, 1);
    try {
      fs.writeFileSync(infoPath, text, { mode: PRIVATE_FILE });
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      throw new StoreError(
        'disk-full',
        `The ${kind} cannot be kept: ${diskFullText(path.dirname(this.tmpDir), `its ${INFO}`, { bytes: text.length })}. Free space there and retry.`,
        this.home,
        { cause: err },
      );
    }
    syncFile(infoPath);
    syncDir(path.join(this.tmpDir, BLOBS));
    syncDir(this.tmpDir);
    const dir = path.join(spoolDir(this.home), id);
    fs.renameSync(this.tmpDir, dir);
    syncDir(spoolDir(this.home));
    return { kind, id, dir, eventRows: this.eventRows, blobs, info } as SpoolEntry;
  }

  discard(): void {
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

/** Names of complete entries, oldest first. Removes what crashed writers left half-written. */
export function listEntries(home: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(spoolDir(home));
  } catch {
    return [];
  }
  const entries: string[] = [];
  for (const name of names) {
    if (name.startsWith(TMP_PREFIX)) {
      const pid = Number(name.slice(TMP_PREFIX.length).split('-')[0]);
      if (pid && pid !== process.pid && !processAlive(pid)) {
        fs.rmSync(path.join(spoolDir(home), name), { recursive: true, force: true });
      }
      continue;
    }
    if (name === CORRUPT_DIR || name === CONFLICTS_DIR || name.startsWith(LIVE_PREFIX)) continue;
    entries.push(name);
  }
  return entries.sort();
}

/** One entry as `replaybook spool list` shows it. */
export interface SpoolListing {
  id: string;
  /** pending: waits for ingestion; corrupt / conflict: set aside (with a reason), never ingested. */
  state: 'pending' | 'corrupt' | 'conflict';
  kind: 'incident' | 'run' | null;
  incident_id: string | null;
  run_id: string | null;
  event_rows: number | null;
  bytes: number;
  /** When it was written (from its id), null if unknown. */
  written_at: Date | null;
  /** Why it was set aside. */
  reason: string | null;
  dir: string;
  /** A recording its engine writes as it runs (src/record/live.ts), not an entry written in one go. */
  live?: boolean;
}

/** What the spool holds: pending entries (oldest first), then those set aside. */
export function listSpool(home: string): SpoolListing[] {
  const out: SpoolListing[] = [];
  const describe = (dir: string, id: string, state: SpoolListing['state']): SpoolListing => {
    let doc: Record<string, unknown> = {};
    try {
      doc = JSON.parse(fs.readFileSync(path.join(dir, INFO), 'utf8')) as Record<string, unknown>;
    } catch {
      // an unreadable info.json is listed with what the directory tells
    }
    const info = (typeof doc.info === 'object' && doc.info !== null ? doc.info : {}) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    let reason: string | null = null;
    try {
      reason = fs.readFileSync(path.join(dir, 'reason.txt'), 'utf8').trim();
    } catch {
      // pending entries have none
    }
    const ms = Number(/^(\d{14})-/.exec(id)?.[1]);
    return {
      id,
      state,
      kind: doc.kind === 'incident' || doc.kind === 'run' ? doc.kind : null,
      incident_id: text(info.incident_id),
      run_id: doc.kind === 'run' ? text(info.run_id) : null,
      event_rows: typeof doc.event_rows === 'number' ? doc.event_rows : null,
      bytes: sizeOf(dir),
      written_at: Number.isFinite(ms) ? new Date(ms) : null,
      reason,
      dir,
    };
  };
  for (const name of listEntries(home)) out.push(describe(path.join(spoolDir(home), name), name, 'pending'));
  out.push(...liveListings(home));
  for (const [sub, state] of [
    [CORRUPT_DIR, 'corrupt'],
    [CONFLICTS_DIR, 'conflict'],
  ] as const) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.join(spoolDir(home), sub)).sort();
    } catch {
      continue;
    }
    for (const name of names) out.push(describe(path.join(spoolDir(home), sub, name), name, state));
  }
  return out;
}

/** Recordings streamed by their engine (live.ts's entries), listed as pending incidents. */
function liveListings(home: string): SpoolListing[] {
  let names: string[];
  try {
    names = fs.readdirSync(spoolDir(home)).filter((n) => n.startsWith(LIVE_PREFIX)).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const dir = path.join(spoolDir(home), name);
    let incident: string | null = null;
    let written: Date | null = null;
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(dir, 'recording.json'), 'utf8')) as { info?: { incident_id?: unknown } };
      if (typeof doc.info?.incident_id === 'string') incident = doc.info.incident_id;
      written = fs.statSync(path.join(dir, 'recording.json')).mtime;
    } catch {
      // listed with what the directory tells
    }
    return { id: name, state: 'pending', kind: 'incident', incident_id: incident, run_id: null, event_rows: null, bytes: sizeOf(dir), written_at: written, reason: null, dir, live: true };
  });
}

/** The entry named `id` (or by a prefix of its name that only it has), else a StoreError. */
export function findSpoolEntry(home: string, id: string): SpoolListing {
  const all = listSpool(home);
  const exact = all.filter((e) => e.id === id);
  const found = exact.length > 0 ? exact : id.length >= 4 ? all.filter((e) => e.id.startsWith(id)) : [];
  if (found.length === 1) return found[0];
  const shown = JSON.stringify(id.length > 60 ? `${id.slice(0, 57)}...` : id);
  throw new StoreError(
    found.length === 0 ? 'not-found' : 'invalid',
    found.length === 0
      ? `The spool of ${home} has no entry ${shown}: replaybook spool list shows them.`
      : `${shown} names ${found.length} spool entries: give more of the id (replaybook spool list).`,
    home,
  );
}

/** Deletes an entry (renamed aside first, so a crash never leaves half of it under its name). */
export function deleteSpoolEntry(home: string, entry: SpoolListing): void {
  const doomed = path.join(spoolDir(home), `${TMP_PREFIX}${process.pid}-rm-${entry.id}`);
  fs.renameSync(entry.dir, doomed);
  fs.rmSync(doomed, { recursive: true, force: true });
}

/** Reads an entry; a StoreError('corrupt-spool') if it is not a well-formed entry. */
export function readEntry(home: string, name: string): SpoolEntry {
  const dir = path.join(spoolDir(home), name);
  const bad = (why: string, cause?: unknown) =>
    new StoreError('corrupt-spool', `Spool entry ${dir} is unreadable: ${why}.`, home, { cause });
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(fs.readFileSync(path.join(dir, INFO), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw bad(`cannot read ${INFO} (${messageOf(err)})`, err);
  }
  if (doc.format !== FORMAT) throw bad(`unknown format ${JSON.stringify(doc.format)}`);
  if (doc.id !== name) throw bad(`its ${INFO} names entry ${JSON.stringify(doc.id)}`);
  if (typeof doc.event_rows !== 'number') throw bad('event_rows missing');
  if (!Array.isArray(doc.blobs) || !doc.blobs.every((s) => typeof s === 'string' && isSha256(s))) {
    throw bad('blobs is not a list of sha256');
  }
  if (!fs.existsSync(path.join(dir, EVENTS_FILE))) throw bad(`${EVENTS_FILE} is missing`);
  const blobs = doc.blobs as string[];
  for (const sha of blobs) {
    if (!fs.existsSync(path.join(dir, BLOBS, sha))) throw bad(`blob ${sha} is missing`);
  }
  const base = { dir, id: name, eventRows: doc.event_rows, blobs };
  try {
    if (doc.kind === 'incident') return { ...base, kind: 'incident', info: incidentFromJson(doc.info) };
    if (doc.kind === 'run') return { ...base, kind: 'run', info: runFromJson(doc.info) };
  } catch (err) {
    throw bad(messageOf(err), err);
  }
  throw bad(`unknown kind ${JSON.stringify(doc.kind)}`);
}

/** Moves an entry out of the way (corrupt/ or conflicts/), with a reason.txt; returns where. */
export function setAside(home: string, name: string, into: string, reason: string): string {
  const target = path.join(spoolDir(home), into);
  fs.mkdirSync(target, { recursive: true, mode: PRIVATE_DIR });
  const dest = path.join(target, name);
  fs.renameSync(path.join(spoolDir(home), name), dest);
  fs.writeFileSync(path.join(dest, 'reason.txt'), `${reason}\n`, { mode: PRIVATE_FILE });
  return dest;
}

export function removeEntry(entry: SpoolEntry): void {
  // Renamed aside first so a crash mid-removal never leaves a half-deleted entry under its name.
  const doomed = path.join(path.dirname(entry.dir), `${TMP_PREFIX}${process.pid}-done-${entry.id}`);
  fs.renameSync(entry.dir, doomed);
  fs.rmSync(doomed, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

type Json = Record<string, unknown>;

function str(o: Json, k: string): string {
  if (typeof o[k] !== 'string') throw new Error(`${k} is not a string`);
  return o[k] as string;
}
function strOrNull(o: Json, k: string): string | null {
  return o[k] === null ? null : str(o, k);
}
function num(o: Json, k: string): number {
  if (typeof o[k] !== 'number') throw new Error(`${k} is not a number`);
  return o[k] as number;
}
function numOrNull(o: Json, k: string): number | null {
  return o[k] === null ? null : num(o, k);
}
function big(o: Json, k: string): bigint {
  if (typeof o[k] !== 'string' || !/^-?\d+$/.test(o[k] as string)) throw new Error(`${k} is not an integer`);
  return BigInt(o[k] as string);
}
function strs(o: Json, k: string): string[] {
  const v = o[k];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error(`${k} is not a list of strings`);
  return v as string[];
}
function bytes(o: Json, k: string): Uint8Array {
  return new Uint8Array(Buffer.from(str(o, k), 'base64'));
}

export function incidentFromJson(v: unknown): IncidentInfo {
  if (typeof v !== 'object' || v === null) throw new Error('info is missing');
  const o = v as Json;
  const files = o.files;
  if (typeof files !== 'object' || files === null || !Object.values(files).every((s) => typeof s === 'string')) {
    throw new Error('files is not a map of path to sha256');
  }
  return {
    incident_id: str(o, 'incident_id'),
    service: str(o, 'service'),
    argv: strs(o, 'argv'),
    env: strs(o, 'env'),
    cwd: str(o, 'cwd'),
    exe_path: str(o, 'exe_path'),
    exe_sha256: str(o, 'exe_sha256'),
    started_at_ns: big(o, 'started_at_ns'),
    exit_code: numOrNull(o, 'exit_code'),
    exit_signal: strOrNull(o, 'exit_signal'),
    event_count: num(o, 'event_count'),
    duration_ns: big(o, 'duration_ns'),
    files: files as Record<string, string>,
    host: str(o, 'host'),
    ...(o.redaction !== undefined ? { redaction: redactionFromJson(o.redaction) } : {}),
    ...(o.state !== undefined ? { state: incidentState(str(o, 'state')) } : {}),
    ...(o.state_reason !== undefined ? { state_reason: str(o, 'state_reason') } : {}),
    ...(typeof o.aslr === 'boolean' ? { aslr: o.aslr } : {}),
  };
}

function incidentState(s: string): IncidentState {
  if (!(INCIDENT_STATES as readonly string[]).includes(s)) throw new Error(`state is not one of ${INCIDENT_STATES.join(', ')}`);
  return s as IncidentState;
}

export function runFromJson(v: unknown): RunInfo {
  if (typeof v !== 'object' || v === null) throw new Error('info is missing');
  const o = v as Json;
  return {
    incident_id: str(o, 'incident_id'),
    run_id: str(o, 'run_id'),
    started_at_ns: big(o, 'started_at_ns'),
    speed: str(o, 'speed'),
    seed: num(o, 'seed'),
    injections: str(o, 'injections'),
    label: typeof o.label === 'string' ? o.label : '',
    exit_code: numOrNull(o, 'exit_code'),
    exit_signal: strOrNull(o, 'exit_signal'),
    event_count: num(o, 'event_count'),
    wall_ns: big(o, 'wall_ns'),
    divergence: str(o, 'divergence'),
    stdout: bytes(o, 'stdout'),
    stderr: bytes(o, 'stderr'),
  };
}

/**
 * The same checks a spooled entry gets when it is read back, run before anything is written, so
 * a caller hears about a malformed IncidentInfo / RunInfo at once rather than at ingestion.
 */
export function checkInfo(kind: 'incident' | 'run', info: IncidentInfo | RunInfo): void {
  const roundTrip = JSON.parse(JSON.stringify(info, jsonReplacer)) as unknown;
  if (kind === 'incident') incidentFromJson(roundTrip);
  else runFromJson(roundTrip);
}

export { sha256File };

function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function syncDir(dir: string): void {
  syncFile(dir);
}
