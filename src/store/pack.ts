// Moving one incident between machines: `replaybook pack ID --out FILE` writes the incident row,
// its recorded events, its stored runs with their events, and every blob it references (the
// executable, libraries, mapped files) into one gzip file; `unpack FILE` stores it all in the
// store in effect. The file is a sequence of named sections: u32 name length, name, u64 data
// length, data. Both ends go through the EventStore interface, so either store works.
import { createHash, randomBytes } from 'node:crypto';
import * as buffer from 'node:buffer';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { RecordBatchReader, RecordBatchStreamWriter, type RecordBatch } from 'apache-arrow';
import { RECORDING_RUN, storedFileShas, type IncidentInfo, type RunInfo } from '../events/schema';
import { ReplaybookError } from '../errors';
import { idProblem, shownId } from '../events/ids';
import { checkRecord } from './checks';
import { StoreError } from './errors';
import { isSha256 } from './location';
import { incidentFromJson, jsonReplacer, runFromJson } from './spool';
import { checkedEventBatch } from './validate';
import type { EventStore } from './types';
import { PRIVATE_FILE } from './private';

const MAGIC = 'replaybook-pack 1\n';
const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export interface PackSummary {
  incident: string;
  events: number;
  runs: number;
  blobs: number;
  bytes: number;
}

function section(name: string, data: Uint8Array): Buffer {
  const n = Buffer.from(name, 'utf8');
  const head = Buffer.alloc(4 + n.length + 8);
  head.writeUInt32LE(n.length, 0);
  n.copy(head, 4);
  head.writeBigUInt64LE(BigInt(data.length), 4 + n.length);
  return Buffer.concat([head, data]);
}

async function eventsIpc(store: EventStore, id: string, runId: string): Promise<{ bytes: Uint8Array; rows: number }> {
  const batches: RecordBatch[] = [];
  let rows = 0;
  for await (const b of store.events(id, runId)) {
    batches.push(b);
    rows += b.numRows;
  }
  if (batches.length === 0) return { bytes: new Uint8Array(0), rows: 0 };
  return { bytes: RecordBatchStreamWriter.writeAll(batches).toUint8Array(true), rows };
}

/** Writes incident `id` with its runs and blobs to `out` (gzip). */
export async function packIncident(store: EventStore, id: string, out: string): Promise<PackSummary> {
  const info = await store.incident(id);
  if (!info) throw new ReplaybookError('unknown_incident', `unknown incident ${shownId(id)}: \`replaybook incidents\` lists the recorded ones`);
  const parts: Buffer[] = [Buffer.from(MAGIC)];
  parts.push(section('incident.json', Buffer.from(JSON.stringify(info, jsonReplacer))));
  const rec = await eventsIpc(store, id, RECORDING_RUN);
  parts.push(section(`events/${RECORDING_RUN}`, rec.bytes));
  const runs = await store.runs(id);
  for (const run of runs) {
    parts.push(section(`run/${run.run_id}`, Buffer.from(JSON.stringify(run, jsonReplacer))));
    parts.push(section(`events/${run.run_id}`, (await eventsIpc(store, id, run.run_id)).bytes));
  }
  const shas = storedFileShas(info);
  for (const sha of shas) parts.push(section(`blob/${sha}`, fs.readFileSync(await store.blobFile(sha))));
  const packed = await gzip(Buffer.concat(parts));
  const tmp = `${out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, packed, { mode: PRIVATE_FILE });
  fs.chmodSync(tmp, PRIVATE_FILE); // whatever the umask
  fs.renameSync(tmp, out); // never a half-written pack under its name
  return { incident: id, events: rec.rows, runs: runs.length, blobs: shas.length, bytes: packed.length };
}

/** Default bound on a pack's unpacked size; `unpack --max-unpacked-bytes N` raises it. */
export const DEFAULT_MAX_UNPACKED_BYTES = 1024 * 1024 * 1024;

export interface UnpackOptions {
  /** Refuse a pack that expands to more than this many bytes (default 1 GiB). */
  maxUnpackedBytes?: number;
}

function badPack(file: string, why: string): ReplaybookError {
  return new ReplaybookError('bad_pack', `${file} is not a readable replaybook pack: ${why}`);
}

function* sections(buf: Buffer, file: string): Generator<[string, Buffer]> {
  const bad = (why: string) => badPack(file, why);
  if (buf.subarray(0, MAGIC.length).toString() !== MAGIC) throw bad('it does not start with the pack header');
  let off = MAGIC.length;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw bad('it is truncated');
    const n = buf.readUInt32LE(off);
    if (n > 4096) throw bad(`a section name of ${n} bytes`);
    if (off + 4 + n + 8 > buf.length) throw bad('it is truncated');
    const name = buf.toString('utf8', off + 4, off + 4 + n);
    const len = buf.readBigUInt64LE(off + 4 + n);
    const start = off + 4 + n + 8;
    if (BigInt(start) + len > BigInt(buf.length)) throw bad(`section ${JSON.stringify(name.slice(0, 80))} is truncated`);
    yield [name, buf.subarray(start, start + Number(len))];
    off = start + Number(len);
  }
}

function batchesOf(bytes: Buffer): RecordBatch[] {
  if (bytes.length === 0) return [];
  return RecordBatchReader.from(bytes).readAll();
}

/** The pack file, decompressed, never growing past `max` bytes in memory. */
async function unpackedBytes(file: string, max: number): Promise<Buffer> {
  let packed: Buffer;
  try {
    packed = fs.readFileSync(file);
  } catch (e) {
    throw new ReplaybookError('bad_pack', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return await gunzip(packed, { maxOutputLength: max });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new ReplaybookError(
        'pack_too_large',
        `${file} expands to more than ${max} bytes (from ${packed.length}), the limit for a pack: ` +
          `if you trust it, raise the limit with --max-unpacked-bytes N`,
      );
    }
    throw badPack(file, (e as Error).message);
  }
}

/** What a pack holds, every record checked against the pack's one incident. */
interface PackContents {
  info: IncidentInfo;
  recording: RecordBatch[];
  runs: Array<{ info: RunInfo; events: RecordBatch[] }>;
  blobs: Map<string, Buffer>;
}

function readPack(raw: Buffer, file: string): PackContents {
  const bad = (why: string) => badPack(file, why);
  const json = (name: string, data: Buffer): unknown => {
    try {
      return JSON.parse(data.toString('utf8'));
    } catch (e) {
      throw bad(`${name} is not JSON (${(e as Error).message})`);
    }
  };
  let info: IncidentInfo | undefined;
  const runJson = new Map<string, unknown>();
  const eventBytes = new Map<string, Buffer>();
  const blobs = new Map<string, Buffer>();
  for (const [name, data] of sections(raw, file)) {
    const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 77)}...` : name);
    const slash = name.indexOf('/');
    const [kind, key] = slash < 0 ? [name, ''] : [name.slice(0, slash), name.slice(slash + 1)];
    if (name === 'incident.json') {
      if (info) throw bad('it holds two incidents');
      try {
        info = incidentFromJson(json(name, data));
      } catch (e) {
        if (e instanceof ReplaybookError) throw e;
        throw bad(`its incident.json is malformed: ${(e as Error).message}`);
      }
      const problem = idProblem(info.incident_id);
      if (problem) throw bad(`its incident id ${shownId(info.incident_id)} is not valid: ${problem}`);
    } else if (kind === 'run' || kind === 'events') {
      if (key !== RECORDING_RUN || kind === 'run') {
        const problem = idProblem(key);
        if (problem) throw bad(`section ${shown} names a run id that is not valid: ${problem}`);
      }
      const into = kind === 'run' ? runJson : eventBytes;
      if (into.has(key)) throw bad(`section ${shown} appears twice`);
      into.set(key, kind === 'run' ? json(name, data) : data);
    } else if (kind === 'blob') {
      if (!isSha256(key)) throw bad(`section ${shown} does not name a sha256`);
      if (blobs.has(key)) throw bad(`section ${shown} appears twice`);
      if (createHash('sha256').update(data).digest('hex') !== key) {
        throw new ReplaybookError('bad_pack', `${file} is damaged: the stored copy of blob ${key} does not match its sha256`);
      }
      blobs.set(key, data);
    } else {
      throw bad(`unknown section ${shown}`);
    }
  }
  if (!info) throw new ReplaybookError('bad_pack', `${file} has no incident in it`);
  const id = info.incident_id;
  for (const sha of storedFileShas(info)) {
    if (!blobs.has(sha)) throw new ReplaybookError('bad_pack', `${file} lacks the blob ${sha} its incident needs`);
  }
  const events = (runId: string): RecordBatch[] => {
    const bytes = eventBytes.get(runId);
    if (!bytes) return [];
    let batches: RecordBatch[];
    try {
      batches = batchesOf(bytes);
    } catch (e) {
      throw bad(`the events of ${runId === RECORDING_RUN ? 'the recording' : `run ${shownId(runId)}`} are not an Arrow stream (${(e as Error).message})`);
    }
    return batches.map((b) => {
      try {
        return checkedEventBatch(b, id, runId);
      } catch (e) {
        throw bad(`the events of ${runId === RECORDING_RUN ? 'the recording' : `run ${shownId(runId)}`} are malformed: ${(e as Error).message}`);
      }
    });
  };
  const runs: PackContents['runs'] = [];
  for (const [runId, doc] of runJson) {
    let run: RunInfo;
    try {
      run = runFromJson(doc);
    } catch (e) {
      throw bad(`run ${shownId(runId)} is malformed: ${(e as Error).message}`);
    }
    if (run.incident_id !== id) {
      throw bad(`run ${shownId(runId)} names incident ${shownId(run.incident_id)}, not the pack's incident ${shownId(id)}: a pack holds one incident`);
    }
    if (run.run_id !== runId) throw bad(`section run/${runId} holds run ${shownId(run.run_id)}`);
    runs.push({ info: run, events: events(runId) });
  }
  for (const runId of eventBytes.keys()) {
    if (runId !== RECORDING_RUN && !runJson.has(runId)) throw bad(`it has events of run ${shownId(runId)} but no such run`);
  }
  return { info, recording: events(RECORDING_RUN), runs, blobs };
}

/**
 * Stores the incident in `file` (with its runs and blobs) in `store`. The pack is untrusted: it
 * is decompressed within a size bound and every record is checked (one incident, the id rule,
 * Arrow buffers, blob hashes) before anything is stored, so a bad pack stores nothing.
 */
export async function unpackIncident(store: EventStore, file: string, options: UnpackOptions = {}): Promise<PackSummary> {
  const max = options.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
  if (!Number.isSafeInteger(max) || max <= 0) throw new ReplaybookError('usage', `the unpacked size limit must be a whole number of bytes, not ${max}`);
  const pack = readPack(await unpackedBytes(file, Math.min(max, buffer.constants.MAX_LENGTH)), file);
  const { info } = pack;
  // Everything the stores would refuse, refused before the first write.
  checkRecord('incident', info, store.location);
  for (const run of pack.runs) checkRecord('run', run.info, store.location);
  if (await store.incident(info.incident_id)) {
    throw new StoreError(
      'exists',
      `The store at ${store.location} already has incident ${shownId(info.incident_id)}: delete it first (replaybook rm) to unpack this copy.`,
      store.location,
    );
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `replaybook-unpack-${randomBytes(3).toString('hex')}-`));
  try {
    const blobs = new Map<string, string>();
    for (const [sha, data] of pack.blobs) {
      const f = path.join(tmp, sha);
      fs.writeFileSync(f, data, { mode: PRIVATE_FILE });
      blobs.set(sha, f);
    }
    await store.putIncident(info, pack.recording, blobs);
    try {
      for (const run of pack.runs) await store.putRun(run.info, run.events);
    } catch (e) {
      // All or nothing: an incident without the runs the pack carried is taken out again.
      await store.remove(info.incident_id).catch(() => undefined);
      throw e;
    }
    const recorded = pack.recording.reduce((n, b) => n + b.numRows, 0);
    return { incident: info.incident_id, events: recorded, runs: pack.runs.length, blobs: blobs.size, bytes: fs.statSync(file).size };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
