// A recording on its way into the store while it runs. The engine writes it to a spool file of its
// own (native/output.h: event batches and messages as frames, an END frame once it is over), so it
// goes on if Node dies; whoever holds the store next (the recording `replaybook record` itself,
// about once a second, or any later process that opens the store) ingests what is new in that
// file. The incident row exists from the first ingestion on, in state 'recording'; when the
// recording is over its final row replaces it: 'complete', or 'cut short' with the reason.
//
// An entry is a directory `spool/live-<incident>-<random>/`:
//   recording.json  written once at the start: the incident as far as it is known, the engine's
//                   pid (and start time, against pid reuse), the redaction rules and the
//                   service's real environment (to learn its secrets again; the directory is
//                   private, and the entry is removed once ingested)
//   events.frames   the engine's frames
//   files/          the engine's copies of the files the service mapped, taken when it mapped them
//   progress.json   how far ingestion got: byte offset in events.frames, events stored
//   cut.json        why the recording was stopped, written before the engine is told to stop
//   events.frames.failed  the engine's error when a spool write failed (a full disk, EIO, a
//                   quota): the recording stopped there and is finished cut short with it
//   events.frames.reserve room the engine keeps aside and frees when a write fails, so this
//                   bookkeeping still fits on a full disk
//
// Memory stays flat whatever the length of the recording: the file is read one chunk at a time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { nativeAddon } from '../engine/engine';
import { FRAME_END, FRAME_EVENTS, FRAME_MESSAGE, decodeMessage, type EngineMessage } from '../engine/protocol';
import { toRecordBatch } from '../engine/columns';
import type { EventColumns } from '../engine/native';
import { EVENT_KINDS, RECORDING_RUN, eventSchema, type IncidentInfo } from '../events/schema';
import { writeArrowStreamFile } from '../store/arrow';
import { spoolDir } from '../store/location';
import { CONFLICTS_DIR, LIVE_PREFIX, incidentFromJson, jsonReplacer } from '../store/spool';
import { PRIVATE_DIR, PRIVATE_FILE } from '../store/private';
import { sha256File } from '../hash';
import { Redactor, type RedactRule } from './redact';
import { StoreError } from '../store/errors';
import { diskFullText, isDiskFull } from '../store/space';

export const FRAMES_FILE = 'events.frames';
const RECORDING = 'recording.json';
const PROGRESS = 'progress.json';
const CUT = 'cut.json';
const FAILED = `${FRAMES_FILE}.failed`;
const FILES = 'files';
/** Events per insert: bounds the memory of an ingestion step, whatever the recording's length. */
const CHUNK_EVENTS = 100_000;
const CHUNK_BYTES = 32 << 20;
const LATE_DATA_KIND = EVENT_KINDS.indexOf('late_data');

/** What ingestion needs from a store; each store implements it over its own connection. */
export interface LiveSink {
  /** The rows of this incident id: the entry that wrote each, and its state. */
  incidentRows(incidentId: string): Promise<{ entry_id: string; state: string }[]>;
  insertIncidentRow(info: IncidentInfo, entryId: string, dir: string): Promise<void>;
  deleteRecordingRow(incidentId: string, entryId: string): Promise<void>;
  /** Appends the events of an Arrow IPC stream file to the recording of `incidentId`. */
  insertEventsFile(incidentId: string, file: string): Promise<void>;
  /** Blobs the store lacks (sha256 -> file). */
  insertBlobs(blobs: Map<string, string>): Promise<void>;
  /** Replaces `secret` with `placeholder` in the stored events of the recording. */
  redactStored(incidentId: string, secret: Buffer, placeholder: Buffer): Promise<void>;
}

interface RecordingDoc {
  format: 1;
  /** The incident without what only its end tells (exit, counts, files). */
  info: IncidentInfo;
  engine: { pid: number; start: string } | null;
  rules: RedactRule[];
  realEnv: string[];
  realArgv: string[];
  /** The store it goes to (a server's location; '' for the embedded store of this home). */
  store: string;
}

interface Progress {
  offset: number;
  events: number;
  /** enter_ns of the service's last event so far (late data excluded), decimal. */
  last_enter_ns: string;
  /** The 'recording' row is in the store. */
  row: boolean;
}

export type LiveOutcome =
  | { state: 'recording'; events: number }
  | { state: 'complete' | 'cut short'; info: IncidentInfo; warnings: string[] }
  | { state: 'failed'; error: { code: string; message: string } }
  | { state: 'conflict' };

/** A new live entry for a recording about to start. */
export function createLiveEntry(home: string, store: string, info: IncidentInfo, rules: RedactRule[], realEnv: string[], realArgv: string[]): string {
  const spool = spoolDir(home);
  fs.mkdirSync(spool, { recursive: true, mode: PRIVATE_DIR });
  const dir = path.join(spool, `${LIVE_PREFIX}${info.incident_id}-${randomBytes(6).toString('hex')}`);
  try {
    fs.mkdirSync(path.join(dir, FILES), { recursive: true, mode: PRIVATE_DIR });
    writeJson(path.join(dir, RECORDING), { format: 1, info, engine: null, rules, realEnv, realArgv, store } satisfies RecordingDoc);
    writeJson(path.join(dir, PROGRESS), { offset: 0, events: 0, last_enter_ns: '0', row: false } satisfies Progress);
    fs.writeFileSync(path.join(dir, FRAMES_FILE), '', { mode: PRIVATE_FILE });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    if (!isDiskFull(err)) throw err;
    throw new StoreError(
      'disk-full',
      `Nothing was recorded: ${diskFullText(spool, "the recording's spool entry", { bytes: sizeOfJson(realEnv) + 4096, atLeast: true })}. ` +
        'Free space there, or set REPLAYBOOK_HOME to a store home on a disk with room, and record again.',
      home,
      { cause: err },
    );
  }
  return dir;
}

export const liveFramesFile = (dir: string): string => path.join(dir, FRAMES_FILE);
export const liveFilesDir = (dir: string): string => path.join(dir, FILES);

const sizeOfJson = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

/**
 * Writes a scratch file for the store to read (an events chunk, an incident row) into the live
 * entry, or, when the entry's disk is full (the very failure that may have ended the recording),
 * into the system's temporary directory. Returns where; the caller removes it after use.
 */
export async function writeScratch(dir: string, name: string, write: (file: string) => Promise<unknown>): Promise<string> {
  const file = path.join(dir, name);
  fs.rmSync(file, { force: true });
  try {
    await write(file);
    return file;
  } catch (err) {
    fs.rmSync(file, { force: true });
    if (!isDiskFull(err)) throw err;
  }
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'replaybook-scratch-')), name);
  await write(tmp);
  return tmp;
}

/** Removes a file writeScratch wrote (and its temporary directory, if it used one). */
export function removeScratch(file: string): void {
  fs.rmSync(file, { force: true });
  if (path.basename(path.dirname(file)).startsWith('replaybook-scratch-')) fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

/** Names the engine writing the entry, so a later process can tell whether it still runs. */
export function setLiveEngine(dir: string, pid: number): void {
  const doc = readRecording(dir);
  doc.engine = { pid, start: processStart(pid) ?? '' };
  writeJson(path.join(dir, RECORDING), doc);
}

/** Why the recording was stopped early; written before the engine is told to stop. */
export function markLiveCut(dir: string, reason: string): void {
  if (!fs.existsSync(path.join(dir, CUT))) writeJson(path.join(dir, CUT), { reason });
}

/** The incident a live entry records, as far as it is known (null: unreadable). */
export function liveIncident(dir: string): IncidentInfo | null {
  try {
    return readRecording(dir).info;
  } catch {
    return null;
  }
}

/** Whether the engine writing a live entry still runs. */
export function liveEngineRunning(dir: string): boolean {
  try {
    const e = readRecording(dir).engine;
    return e !== null && engineAlive(e);
  } catch {
    return false;
  }
}

/** The store a live entry goes to ('' : the embedded store of its home). */
export function liveStoreOf(dir: string): string {
  try {
    return readJson<RecordingDoc>(path.join(dir, RECORDING)).store;
  } catch {
    return '';
  }
}

/** Live entries of the store home, oldest first. */
export function liveEntries(home: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(spoolDir(home));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(LIVE_PREFIX))
    .map((n) => path.join(spoolDir(home), n))
    .sort((a, b) => mtime(a) - mtime(b));
}

// A redactor per entry and process: secrets learned from what this process has read.
const redactors = new Map<string, { redactor: Redactor; scanned: number }>();

/**
 * Ingests what is new in a live entry: events in chunks, the 'recording' row at first, and the
 * final row once the recording is over (the END frame, or the engine gone without one). `engineDone`:
 * the caller saw the engine exit (its own run). Serialised by the caller with every other ingestion
 * of the store (one process holds the store at a time).
 */
export async function ingestLive(dir: string, sink: LiveSink, o: { engineDone?: boolean } = {}): Promise<LiveOutcome> {
  const doc = readRecording(dir);
  const progress = readJson<Progress>(path.join(dir, PROGRESS));
  const info = doc.info;
  const entryId = path.basename(dir);
  const rows = await sink.incidentRows(info.incident_id);
  if (rows.some((r) => r.entry_id !== entryId)) {
    const conflicts = path.join(path.dirname(dir), CONFLICTS_DIR);
    fs.mkdirSync(conflicts, { recursive: true, mode: PRIVATE_DIR });
    fs.renameSync(dir, path.join(conflicts, entryId));
    redactors.delete(dir);
    return { state: 'conflict' };
  }
  // Asked before reading: an engine gone by now has written everything it will write.
  const engineGone = o.engineDone || (doc.engine !== null && !engineAlive(doc.engine));
  const redaction = redactorFor(dir, doc, progress.offset);
  const frames = liveFramesFile(dir);
  // Messages are read from the start each time they are needed (they are few; events are skipped).
  let ended = false;
  let error: { code: string; message: string } | null = null;
  const addon = nativeAddon();
  let chunk: EventColumns[] = [];
  let chunkEvents = 0;
  let chunkBytes = 0;
  let chunkEnd = progress.offset;
  const flush = async (): Promise<void> => {
    if (chunk.length > 0) {
      if (!progress.row) await putRecordingRow();
      for (const c of chunk) redaction.redactor.collect(c);
      for (const c of chunk) redaction.redactor.apply(c);
      // A name of its own per chunk: chDB's file() may serve a path it has read before from a cache.
      const file = await writeScratch(dir, `chunk-${process.pid}-${progress.offset}.arrows`, (f) =>
        writeArrowStreamFile(f, eventSchema, chunk.map((c) => toRecordBatch(c, info.incident_id, RECORDING_RUN))),
      );
      try {
        await sink.insertEventsFile(info.incident_id, file);
      } finally {
        removeScratch(file);
      }
      for (const c of chunk) {
        for (let i = 0; i < c.n; i++) if (c.kind[i] !== LATE_DATA_KIND) progress.last_enter_ns = c.enter_ns[i].toString();
      }
      progress.events += chunkEvents;
    }
    progress.offset = chunkEnd;
    redaction.scanned = Math.max(redaction.scanned, chunkEnd);
    writeJson(path.join(dir, PROGRESS), progress);
    chunk = [];
    chunkEvents = 0;
    chunkBytes = 0;
  };
  const putRecordingRow = async (): Promise<void> => {
    await sink.insertIncidentRow({ ...info, state: 'recording', state_reason: '' }, entryId, dir);
    progress.row = true;
  };
  for (const f of readFrames(frames, progress.offset)) {
    if (f.type === FRAME_EVENTS) {
      const buf = new ArrayBuffer(f.length);
      readAt(f.fd, new Uint8Array(buf), f.at);
      const cols = addon.decodeEvents(buf);
      chunk.push(cols);
      chunkEvents += cols.n;
      chunkBytes += f.length;
    } else if (f.type === FRAME_END) {
      ended = true;
    } else if (f.type === FRAME_MESSAGE) {
      const m = messageAt(f.fd, f.at, f.length);
      if (m?.type === 'error') error = { code: m.code, message: m.message };
    }
    chunkEnd = f.at + f.length;
    if (chunkEvents >= CHUNK_EVENTS || chunkBytes >= CHUNK_BYTES) await flush();
  }
  await flush();
  if (!progress.row && !ended && !error) await putRecordingRow();
  writeJson(path.join(dir, PROGRESS), progress);

  if (!ended && !engineGone) return { state: 'recording', events: progress.events };
  if (error && progress.events === 0) {
    if (progress.row) await sink.deleteRecordingRow(info.incident_id, entryId);
    removeLive(dir);
    return { state: 'failed', error };
  }
  return finish(dir, doc, progress, sink, redaction.redactor, ended, error, readFailed(dir));
}

/** The engine's reason when a spool write failed (events.frames.failed), null if none did. */
function readFailed(dir: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, FAILED), 'utf8');
  } catch {
    return null;
  }
  try {
    const m = decodeMessage(text);
    if (m.type === 'error') return m.message;
  } catch {
    // written in part: the failure is known, its details are not
  }
  return 'spool write failed (the engine could not say more)';
}

/** What to do after a failed spool write, for the incident's reason and record's error. */
export function spoolFailedAdvice(spool: string): string {
  return `Free space on the disk holding ${spool} (or set REPLAYBOOK_HOME to a store home on a disk with room) and record again.`;
}

async function finish(
  dir: string,
  doc: RecordingDoc,
  progress: Progress,
  sink: LiveSink,
  redactor: Redactor,
  ended: boolean,
  error: { code: string; message: string } | null,
  failed: string | null,
): Promise<LiveOutcome> {
  const entryId = path.basename(dir);
  const messages = readMessages(liveFramesFile(dir));
  const exit = messages.find((m): m is Extract<EngineMessage, { type: 'exit' }> => m.type === 'exit');
  const budget = messages.find((m): m is Extract<EngineMessage, { type: 'budget' }> => m.type === 'budget');
  const started = messages.find((m): m is Extract<EngineMessage, { type: 'started' }> => m.type === 'started');
  const warnings = messages.filter((m): m is Extract<EngineMessage, { type: 'warning' }> => m.type === 'warning' && m.code !== 'stopped').map((m) => m.message);
  const cut = fs.existsSync(path.join(dir, CUT)) ? readJson<{ reason: string }>(path.join(dir, CUT)).reason : null;
  const stopped = messages.find((m) => m.type === 'warning' && m.code === 'stopped');
  let reason = '';
  // A failed spool write comes first: it is why the engine stopped the service.
  if (failed) reason = `${failed}. ${spoolFailedAdvice(path.dirname(dir))}`;
  else if (cut) reason = cut;
  else if (stopped?.type === 'warning') reason = stopped.message;
  else if (budget) reason = `its budget of ${budget.limit} ${budget.what === 'events' ? 'events' : 'bytes'} (--max-${budget.what}) was reached: the service was stopped there`;
  else if (!ended) reason = 'the recording engine stopped before the service ended (it was killed or crashed): the service could not run on without it and was killed with it';
  else if (error) reason = `the recording failed: ${error.message}`;
  else if (!exit) reason = 'the recording ended without the service exiting';

  // Every file the service mapped, content-addressed from the copies taken when it mapped them.
  const files = new Map<string, { copy: string } | { error: string }>();
  for (const m of messages) if (m.type === 'file') files.set(m.path, m.copy !== undefined ? { copy: m.copy } : { error: m.error ?? 'not copied' });
  const keptOut = redactor.mappedFiles(files.keys());
  const fileShas: Record<string, string> = {};
  const blobs = new Map<string, string>();
  for (const [p, got] of files) {
    if (keptOut.has(p)) continue;
    if ('error' in got || !fs.existsSync(got.copy)) {
      fileShas[p] = '';
      warnings.push(`could not store ${p}, which the service mapped (${'error' in got ? got.error : 'its copy is gone'}): the incident names it without its bytes, and a replay that maps it says so`);
      continue;
    }
    const sha = sha256File(got.copy);
    fileShas[p] = sha;
    blobs.set(sha, got.copy);
  }
  await sink.insertBlobs(blobs);
  // A secret learned late (a header naming a value read earlier) is replaced in what was stored
  // before it was known too.
  if (progress.events > 0) {
    for (const secret of redactor.secretValues()) await sink.redactStored(doc.info.incident_id, secret, Buffer.alloc(secret.length, 0x2a));
  }
  let exeSha = doc.info.exe_sha256;
  try {
    exeSha = fileShas[fs.realpathSync(doc.info.exe_path)] || exeSha;
  } catch {
    // the executable is gone: keep the hash taken at the start
  }
  const info: IncidentInfo = {
    ...doc.info,
    exe_sha256: exeSha,
    exit_code: exit?.exitCode ?? null,
    exit_signal: exit ? exit.signal : null,
    event_count: progress.events,
    duration_ns: BigInt(progress.last_enter_ns),
    files: fileShas,
    ...(doc.rules.length ? { redaction: redactor.report() } : {}),
    ...(started?.aslr !== undefined ? { aslr: started.aslr } : {}),
    state: reason ? 'cut short' : 'complete',
    state_reason: reason,
  };
  await sink.insertIncidentRow(info, entryId, dir);
  if (progress.row) await sink.deleteRecordingRow(info.incident_id, entryId);
  removeLive(dir);
  return { state: info.state as 'complete' | 'cut short', info, warnings };
}

function redactorFor(dir: string, doc: RecordingDoc, offset: number): { redactor: Redactor; scanned: number } {
  let r = redactors.get(dir);
  if (!r) {
    const redactor = new Redactor(doc.rules, doc.info.cwd);
    redactor.command(doc.realEnv, doc.realArgv);
    r = { redactor, scanned: 0 };
    redactors.set(dir, r);
  }
  // What another process stored before: learn its secrets again (they are replaced at the end).
  if (r.scanned < offset && doc.rules.length > 0) {
    const addon = nativeAddon();
    for (const f of readFrames(liveFramesFile(dir), r.scanned)) {
      if (f.at >= offset) break;
      if (f.type !== FRAME_EVENTS) continue;
      const buf = new ArrayBuffer(f.length);
      readAt(f.fd, new Uint8Array(buf), f.at);
      r.redactor.collect(addon.decodeEvents(buf));
    }
  }
  r.scanned = Math.max(r.scanned, offset);
  return r;
}

function removeLive(dir: string): void {
  redactors.delete(dir);
  const doomed = path.join(path.dirname(dir), `tmp-${process.pid}-done-${path.basename(dir)}`);
  fs.renameSync(dir, doomed);
  fs.rmSync(doomed, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The frames file: u32 type, u32 length, payload (native/batch.h). A frame being written when
// this reads (or cut off by a crash) is not complete yet: reading stops before it.

interface FrameAt {
  fd: number;
  type: number;
  /** Offset of the payload. */
  at: number;
  length: number;
}

function* readFrames(file: string, from: number): Generator<FrameAt> {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const hdr = Buffer.alloc(8);
    let pos = from;
    while (pos + 8 <= size) {
      readAt(fd, hdr, pos);
      const type = hdr.readUInt32LE(0);
      const length = hdr.readUInt32LE(4);
      if (pos + 8 + length > size) break;
      yield { fd, type, at: pos + 8, length };
      pos += 8 + length;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, into: Uint8Array, at: number): void {
  let got = 0;
  while (got < into.length) {
    const n = fs.readSync(fd, into, got, into.length - got, at + got);
    if (n <= 0) throw new Error(`${FRAMES_FILE} ended early`);
    got += n;
  }
}

function messageAt(fd: number, at: number, length: number): EngineMessage | null {
  const b = Buffer.alloc(length);
  readAt(fd, b, at);
  try {
    return decodeMessage(b.toString('utf8'));
  } catch {
    return null;
  }
}

function readMessages(file: string): EngineMessage[] {
  const out: EngineMessage[] = [];
  for (const f of readFrames(file, 0)) {
    if (f.type !== FRAME_MESSAGE) continue;
    const m = messageAt(f.fd, f.at, f.length);
    if (m && m.type !== 'spooled') out.push(m);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Field 22 of /proc/PID/stat: when the process started (null when it does not exist). */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function engineAlive(e: { pid: number; start: string }): boolean {
  const start = processStart(e.pid);
  if (start === null) return false;
  // A zombie is gone for our purpose: it writes nothing more.
  try {
    const stat = fs.readFileSync(`/proc/${e.pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
  } catch {
    return false;
  }
  return e.start === '' || start === e.start;
}

function mtime(p: string): number {
  try {
    return fs.statSync(path.join(p, RECORDING)).mtimeMs;
  } catch {
    return 0;
  }
}

function writeJson(file: string, v: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(v, jsonReplacer), { mode: PRIVATE_FILE });
  fs.renameSync(tmp, file);
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

function readRecording(dir: string): RecordingDoc {
  const doc = readJson<RecordingDoc>(path.join(dir, RECORDING));
  return { ...doc, info: incidentFromJson(doc.info) };
}
