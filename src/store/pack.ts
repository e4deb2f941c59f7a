// Moving one incident between machines: `replaybook pack ID --out FILE` writes the incident row,
// its recorded events, its stored runs with their events, and every blob it references (the
// executable, libraries, mapped files) into one gzip file; `unpack FILE` stores it all in the
// store in effect. The file is a sequence of named sections: u32 name length, name, u64 data
// length, data. Both ends go through the EventStore interface, so either store works.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { RecordBatchReader, RecordBatchStreamWriter, type RecordBatch } from 'apache-arrow';
import { RECORDING_RUN, storedFileShas, type IncidentInfo, type RunInfo } from '../events/schema';
import { ReplaybookError } from '../errors';
import { incidentFromJson, jsonReplacer, runFromJson } from './spool';
import type { EventStore } from './types';

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
  if (!info) throw new ReplaybookError('unknown_incident', `unknown incident '${id}': \`replaybook incidents\` lists the recorded ones`);
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
  fs.writeFileSync(tmp, packed);
  fs.renameSync(tmp, out); // never a half-written pack under its name
  return { incident: id, events: rec.rows, runs: runs.length, blobs: shas.length, bytes: packed.length };
}

function* sections(buf: Buffer, file: string): Generator<[string, Buffer]> {
  const bad = (why: string) => new ReplaybookError('bad_pack', `${file} is not a readable replaybook pack: ${why}`);
  if (buf.subarray(0, MAGIC.length).toString() !== MAGIC) throw bad('it does not start with the pack header');
  let off = MAGIC.length;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw bad('it is truncated');
    const n = buf.readUInt32LE(off);
    if (off + 4 + n + 8 > buf.length) throw bad('it is truncated');
    const name = buf.toString('utf8', off + 4, off + 4 + n);
    const len = Number(buf.readBigUInt64LE(off + 4 + n));
    const start = off + 4 + n + 8;
    if (start + len > buf.length) throw bad(`section ${name} is truncated`);
    yield [name, buf.subarray(start, start + len)];
    off = start + len;
  }
}

function batchesOf(bytes: Buffer): RecordBatch[] {
  if (bytes.length === 0) return [];
  return RecordBatchReader.from(bytes).readAll();
}

/** Stores the incident in `file` (with its runs and blobs) in `store`. */
export async function unpackIncident(store: EventStore, file: string): Promise<PackSummary> {
  let raw: Buffer;
  try {
    raw = await gunzip(fs.readFileSync(file));
  } catch (e) {
    throw new ReplaybookError('bad_pack', `${file} is not a readable replaybook pack: ${(e as Error).message}`);
  }
  let info: IncidentInfo | undefined;
  const events = new Map<string, RecordBatch[]>();
  const runs: RunInfo[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `replaybook-unpack-${randomBytes(3).toString('hex')}-`));
  const blobs = new Map<string, string>();
  try {
    for (const [name, data] of sections(raw, file)) {
      if (name === 'incident.json') info = incidentFromJson(JSON.parse(data.toString('utf8')));
      else if (name.startsWith('run/')) runs.push(runFromJson(JSON.parse(data.toString('utf8'))));
      else if (name.startsWith('events/')) events.set(name.slice(7), batchesOf(data));
      else if (name.startsWith('blob/')) {
        const sha = name.slice(5);
        if (createHash('sha256').update(data).digest('hex') !== sha) {
          throw new ReplaybookError('bad_pack', `${file} is damaged: the stored copy of blob ${sha} does not match its sha256`);
        }
        const f = path.join(tmp, sha);
        fs.writeFileSync(f, data);
        blobs.set(sha, f);
      }
    }
    if (!info) throw new ReplaybookError('bad_pack', `${file} has no incident in it`);
    for (const sha of storedFileShas(info)) {
      if (!blobs.has(sha)) throw new ReplaybookError('bad_pack', `${file} lacks the blob ${sha} its incident needs`);
    }
    await store.putIncident(info, events.get(RECORDING_RUN) ?? [], blobs);
    for (const run of runs) await store.putRun(run, events.get(run.run_id) ?? []);
    const recorded = (events.get(RECORDING_RUN) ?? []).reduce((n, b) => n + b.numRows, 0);
    return { incident: info.incident_id, events: recorded, runs: runs.length, blobs: blobs.size, bytes: fs.statSync(file).size };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
