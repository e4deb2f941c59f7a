// A seeded fuzzer for what comes from outside into the store and the replayer: a real recorded
// incident is packed, then its events (bytes, return values, order, missing rows, other fields),
// its Arrow data and the pack itself are mutated; each mutant is unpacked and, when the store
// takes it, replayed. Every case must end in a result or a structured error (a ReplaybookError
// with a code) within a watchdog, and the store's other incidents must not change. The same seed
// gives the same cases (test/store-fuzz.test.ts runs a few; `npm run fuzz` many).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { RecordBatchStreamWriter, tableFromIPC, type RecordBatch } from 'apache-arrow';
import { ReplaybookError } from '../../src/errors';
import type { EventRow } from '../../src/events/schema';
import { replay } from '../../src/replay/replay';
import type { ChdbStore } from '../../src/store';
import { packIncident, unpackIncident } from '../../src/store/pack';
import { packBytes, readPack, type Section } from './pack-file';
import { eventBatch, prng } from './store-fixtures';

export const MUTATIONS = ['bytes', 'ret', 'order', 'missing', 'fields', 'arrow-truncate', 'arrow-flip', 'pack-flip', 'pack-json', 'pack-length'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export type Outcome = 'refused' | 'replayed' | 'diverged' | 'replay-error' | 'crash' | 'hang' | 'store-changed';

export interface FuzzCase {
  index: number;
  mutation: Mutation;
  /** What was changed, for reproducing a failure by hand. */
  detail: string;
  outcome: Outcome;
  /** The error code or message that ended it. */
  reason: string;
  ms: number;
}

export interface FuzzReport {
  seed: number;
  cases: FuzzCase[];
  /** Cases that broke a rule: crash (not a structured error), hang, or another incident changed. */
  failures: FuzzCase[];
  byOutcome: Record<string, number>;
  byMutation: Record<string, number>;
  ms: number;
}

export interface FuzzOptions {
  store: ChdbStore;
  /** A recorded incident in `store` to mutate (left untouched). */
  base: string;
  seed: number;
  cases: number;
  /** Scratch directory for packs. */
  work: string;
  /** Watchdog per case (default 60 s): a case taking longer is a hang. */
  watchdogMs?: number;
  onCase?(c: FuzzCase): void;
}

/** The rows of an events section, as plain objects. */
function rowsOf(ipc: Buffer): EventRow[] {
  if (ipc.length === 0) return [];
  const t = tableFromIPC(ipc);
  const rows: EventRow[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const r = t.get(i)!.toJSON() as Record<string, unknown>;
    rows.push({
      ...(r as unknown as EventRow),
      args: Array.from(r.args as Iterable<bigint>),
      data_in: new Uint8Array(r.data_in as Uint8Array),
      data_out: new Uint8Array(r.data_out as Uint8Array),
    });
  }
  return rows;
}

function ipcOf(rows: EventRow[]): Buffer {
  const batches: RecordBatch[] = rows.length ? [eventBatch(rows)] : [];
  return Buffer.from(RecordBatchStreamWriter.writeAll(batches).toUint8Array(true));
}

/** The store as the fuzz must leave it: every incident but `except`, its runs and events. */
async function fingerprint(store: ChdbStore, except: string): Promise<string> {
  const q = async (sql: string) => JSON.stringify((await store.query(sql, { except })).toArray(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return [
    await q('SELECT incident_id, event_count, exe_sha256, entry_id FROM incidents WHERE incident_id != {except:String} ORDER BY incident_id'),
    await q('SELECT incident_id, run_id, event_count, entry_id FROM runs WHERE incident_id != {except:String} ORDER BY incident_id, run_id'),
    await q(
      'SELECT incident_id, run_id, count() AS n, sum(cityHash64(seq, ret, name, resource, data_in, data_out)) AS h FROM events ' +
        'WHERE incident_id != {except:String} GROUP BY incident_id, run_id ORDER BY incident_id, run_id',
    ),
  ].join('\n');
}

class Watchdog extends Error {}

async function within<T>(ms: number, abort: AbortController, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const dog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Watchdog(`no result after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, dog]);
  } finally {
    clearTimeout(timer);
  }
}

/** One mutant pack of `base` (sections of the packed base incident) under incident id `id`. */
function mutant(base: Section[], id: string, mutation: Mutation, next: () => number): { sections: Section[]; raw?: Buffer; detail: string } {
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const info = JSON.parse(base.find(([n]) => n === 'incident.json')![1].toString('utf8')) as Record<string, unknown>;
  info.incident_id = id;
  const blobs = base.filter(([n]) => n.startsWith('blob/'));
  let rows = rowsOf(base.find(([n]) => n === 'events/recording')![1]).map((r) => ({ ...r, incident_id: id }));
  const details: string[] = [];
  const some = () => Array.from({ length: 1 + int(3) }, () => int(rows.length));
  switch (mutation) {
    case 'bytes':
      for (const i of some()) {
        const r = rows[i];
        const col = next() < 0.5 ? 'data_in' : 'data_out';
        const b = Buffer.from(r[col]);
        const how = pick(['flip', 'cut', 'grow', 'empty'] as const);
        if (how === 'flip' && b.length) b[int(b.length)] ^= 1 << int(8);
        const out = how === 'cut' ? b.subarray(0, int(b.length + 1)) : how === 'grow' ? Buffer.concat([b, Buffer.alloc(1 + int(64), int(256))]) : how === 'empty' ? Buffer.alloc(0) : b;
        r[col] = new Uint8Array(out);
        details.push(`${how} ${col} of seq ${r.seq}`);
      }
      break;
    case 'ret':
      for (const i of some()) {
        const v = pick([0n, -1n, -4n, -11n, -110n, -4095n, -(2n ** 63n), 2n ** 62n, BigInt(int(1 << 20)), -BigInt(1 + int(200))]);
        rows[i].ret = v;
        details.push(`ret ${v} at seq ${rows[i].seq}`);
      }
      break;
    case 'order': {
      const a = int(rows.length);
      const b = int(rows.length);
      const how = pick(['swap-seq', 'swap-rows', 'dup-seq', 'reverse'] as const);
      if (how === 'swap-seq') [rows[a].seq, rows[b].seq] = [rows[b].seq, rows[a].seq];
      else if (how === 'swap-rows') [rows[a], rows[b]] = [rows[b], rows[a]];
      else if (how === 'dup-seq') rows[a].seq = rows[b].seq;
      else rows = [...rows.slice(0, Math.min(a, b)), ...rows.slice(Math.min(a, b), Math.max(a, b)).reverse(), ...rows.slice(Math.max(a, b))];
      details.push(`${how} ${a} ${b}`);
      break;
    }
    case 'missing': {
      const gone = new Set(some());
      rows = rows.filter((_, i) => !gone.has(i));
      details.push(`rows ${[...gone].join(',')} removed`);
      break;
    }
    case 'fields':
      for (const i of some()) {
        const r = rows[i];
        const what = pick(['name', 'nr', 'kind', 'resource', 'tid', 'pid', 'args', 'dur_ns', 'enter_ns'] as const);
        if (what === 'name') r.name = pick(['read', 'write', 'poll', 'connect', 'unknown', '', 'no_such_call']);
        else if (what === 'nr') r.nr = pick([-1, 0, 7, 9999, 2 ** 31 - 1]);
        else if (what === 'kind') r.kind = pick(['syscall', 'signal', 'late_data', 'exit', 'instruction', 'bogus']) as EventRow['kind'];
        else if (what === 'resource') r.resource = pick(['', 'file:/etc/passwd', 'tcp:1.2.3.4:80', 'stdout', 'x'.repeat(300)]);
        else if (what === 'tid') r.tid = pick([0, -1, 1, r.tid + 1, 2 ** 31 - 1]);
        else if (what === 'pid') r.pid = pick([0, -1, 1, r.pid + 1]);
        else if (what === 'args') r.args = pick([[], [1n], Array.from({ length: 6 }, () => BigInt(int(2 ** 30))), Array(9).fill(2n ** 64n - 1n)]);
        else if (what === 'dur_ns') r.dur_ns = pick([0n, -1n, 10n ** 12n, 2n ** 62n]);
        else r.enter_ns = pick([0n, -1n, 10n ** 15n, 2n ** 62n]);
        details.push(`${what} of seq ${r.seq}`);
      }
      break;
    default:
      break;
  }
  info.event_count = rows.length;
  let events = ipcOf(rows);
  if (mutation === 'arrow-truncate') {
    const at = int(events.length);
    events = events.subarray(0, at);
    details.push(`events cut at byte ${at} of ${ipcOf(rows).length}`);
  } else if (mutation === 'arrow-flip') {
    events = Buffer.from(events);
    for (let k = 0, n = 1 + int(4); k < n; k++) {
      const at = int(events.length);
      events[at] ^= 1 << int(8);
      details.push(`events byte ${at} flipped`);
    }
  }
  if (mutation === 'pack-json') {
    const key = pick(['event_count', 'started_at_ns', 'duration_ns', 'argv', 'env', 'files', 'exe_path', 'exit_code', 'cwd', 'service'] as const);
    const value = pick([null, -1, 1e308, '', 'x'.repeat(5000), [], {}, ['a', 1], { '/bin/sh': 'f'.repeat(64) }, '../../etc/passwd', '99999999999999999999999']);
    info[key] = value;
    details.push(`incident.json ${key} = ${JSON.stringify(value).slice(0, 40)}`);
  }
  const sections: Section[] = [['incident.json', Buffer.from(JSON.stringify(info))], ['events/recording', events], ...blobs];
  if (mutation === 'pack-flip') {
    const raw = Buffer.from(packBytes(sections));
    // Mostly in the incident and its events: a flipped blob byte only ever fails its sha256.
    const head = packBytes(sections.filter(([n]) => !n.startsWith('blob/'))).length;
    for (let k = 0, n = 1 + int(8); k < n; k++) {
      const at = int(next() < 0.9 ? head : raw.length);
      raw[at] ^= 1 << int(8);
      details.push(`pack byte ${at} flipped`);
    }
    return { sections, raw, detail: details.join('; ') };
  }
  if (mutation === 'pack-length') {
    const raw = Buffer.from(packBytes(sections));
    // The length field of the incident.json section (right after the header and its name).
    const at = 'replaybook-pack 1\n'.length + 4 + 'incident.json'.length;
    const v = pick([0n, 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(raw.length)]);
    raw.writeBigUInt64LE(v, at);
    details.push(`incident.json length = ${v}`);
    return { sections, raw, detail: details.join('; ') };
  }
  return { sections, detail: details.join('; ') || mutation };
}

/** Runs `o.cases` seeded cases against `o.store`; never throws for a case, reports instead. */
export async function fuzzStore(o: FuzzOptions): Promise<FuzzReport> {
  const t0 = Date.now();
  const next = prng(o.seed);
  const basePack = path.join(o.work, `fuzz-base-${o.seed}.rbpack`);
  await packIncident(o.store, o.base, basePack);
  const base = readPack(basePack);
  const watchdogMs = o.watchdogMs ?? 60_000;
  const cases: FuzzCase[] = [];
  for (let index = 0; index < o.cases; index++) {
    // Every kind in turn, so a short run covers them all; what each changes is drawn from the seed.
    const mutation = MUTATIONS[index % MUTATIONS.length];
    const id = `fz-${o.seed}-${index}`;
    const before = await fingerprint(o.store, id);
    const m = mutant(base, id, mutation, next);
    const file = path.join(o.work, `${id}.rbpack`);
    fs.writeFileSync(file, gzipSync(m.raw ?? packBytes(m.sections)));
    const started = Date.now();
    let outcome: Outcome;
    let reason = '';
    const abort = new AbortController();
    try {
      await within(watchdogMs, abort, unpackIncident(o.store, file));
      try {
        const run = await within(watchdogMs, abort, replay(id, { store: o.store, speed: 'max', ephemeral: true, signal: abort.signal }));
        outcome = run.divergence ? 'diverged' : 'replayed';
        reason = run.divergence ? run.divergence.reason.slice(0, 120) : `exit ${run.exitCode ?? run.signal}`;
      } catch (e) {
        [outcome, reason] = classify(e, 'replay-error');
      }
    } catch (e) {
      [outcome, reason] = classify(e, 'refused');
    }
    await o.store.remove(id).catch(() => null);
    fs.rmSync(file, { force: true });
    if (outcome !== 'crash' && outcome !== 'hang') {
      const after = await fingerprint(o.store, id);
      if (after !== before) [outcome, reason] = ['store-changed', `${reason}; the store's other incidents changed`];
      const spooled = o.store.spool();
      if (spooled.length > 0) [outcome, reason] = ['store-changed', `${reason}; the spool kept ${spooled.map((s) => s.id).join(', ')}`];
    }
    const c: FuzzCase = { index, mutation, detail: m.detail, outcome, reason, ms: Date.now() - started };
    cases.push(c);
    o.onCase?.(c);
  }
  fs.rmSync(basePack, { force: true });
  const count = (key: (c: FuzzCase) => string) => cases.reduce<Record<string, number>>((acc, c) => ((acc[key(c)] = (acc[key(c)] ?? 0) + 1), acc), {});
  return {
    seed: o.seed,
    cases,
    failures: cases.filter((c) => c.outcome === 'crash' || c.outcome === 'hang' || c.outcome === 'store-changed'),
    byOutcome: count((c) => c.outcome),
    byMutation: count((c) => c.mutation),
    ms: Date.now() - t0,
  };
}

function classify(e: unknown, structured: Outcome): [Outcome, string] {
  if (e instanceof Watchdog) return ['hang', e.message];
  if (e instanceof ReplaybookError) return [structured, `${e.code}: ${e.message.slice(0, 160)}`];
  const err = e as Error;
  return ['crash', `${err?.name ?? typeof e}: ${String(err?.message ?? e).slice(0, 200)}\n${err?.stack?.split('\n').slice(1, 4).join('\n') ?? ''}`];
}
