// Synthetic incidents for the store tests: events as Arrow batches of events/schema.ts, and the
// IncidentInfo / RunInfo rows that go with them.
import { RecordBatch, Struct, makeData, vectorFromArray } from 'apache-arrow';
import { RECORDING_RUN, eventSchema, type EventRow, type IncidentInfo, type RunInfo } from '../../src/events/schema';

/** A batch of events/schema.ts from plain rows. */
export function eventBatch(rows: EventRow[]): RecordBatch {
  const children = eventSchema.fields.map((field) => {
    const values = rows.map((r) => r[field.name as keyof EventRow]);
    const vector = vectorFromArray(values as never[], field.type);
    if (vector.data.length !== 1) throw new Error('expected one chunk');
    return vector.data[0];
  });
  const data = makeData({ type: new Struct(eventSchema.fields), length: rows.length, nullCount: 0, children });
  return new RecordBatch(eventSchema, data);
}

/** A deterministic pseudo-random generator, so a failing case can be reproduced. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes a text decoder would mangle: NULs, lone continuation bytes, truncated sequences, 0xff. */
const NASTY = [0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0xe2, 0x82, 0xed, 0xa0, 0x80];

export function randomBytes(next: () => number, maxLength: number): Uint8Array {
  const n = Math.floor(next() * (maxLength + 1));
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = next() < 0.3 ? NASTY[Math.floor(next() * NASTY.length)] : Math.floor(next() * 256);
  }
  return out;
}

/** Nanoseconds past 2^53, where a float would already have lost the last digits. */
export const BIG_NS = 2n ** 60n + 123n;

export function syntheticEvents(incidentId: string, count: number, seed = 1, runId = RECORDING_RUN): EventRow[] {
  const next = prng(seed);
  const rows: EventRow[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({
      incident_id: incidentId,
      run_id: runId,
      seq: BigInt(i),
      pid: 4242,
      tid: 4242 + (i % 3),
      nr: i % 2 ? 0 : 1,
      name: i % 2 ? 'read' : 'write',
      args: [BigInt(i), 2n ** 64n - 1n, 0n, 2n ** 63n, 7n, BigInt(i) * 1_000_003n],
      ret: i % 5 === 0 ? -110n : BigInt(i),
      enter_ns: BIG_NS + BigInt(i) * 1_001n,
      dur_ns: 2n ** 54n + BigInt(i),
      resource: i % 2 ? 'tcp:10.0.0.5:443' : 'file:/etc/app.conf',
      data_in: randomBytes(next, 64),
      data_out: randomBytes(next, 64),
      kind: 'syscall',
    });
  }
  return rows;
}

export function incidentInfo(id: string, overrides: Partial<IncidentInfo> = {}): IncidentInfo {
  return {
    incident_id: id,
    service: 'payment-client',
    argv: ['./payment-client', '--timeout', '2s', 'caf\u00e9 \u00fc'],
    env: ['PATH=/usr/bin', 'LANG=C.UTF-8'],
    cwd: '/srv/payments',
    exe_path: '/srv/payments/payment-client',
    exe_sha256: 'a'.repeat(64),
    started_at_ns: 1_750_000_000_000_000_000n + 7n,
    exit_code: 1,
    exit_signal: null,
    event_count: 0,
    duration_ns: 2_000_000_123n,
    files: { '/srv/payments/payment-client': 'a'.repeat(64), '/lib/x86_64-linux-gnu/libc.so.6': 'b'.repeat(64) },
    host: 'test-host',
    ...overrides,
  };
}

export function runInfo(incidentId: string, runId: string, overrides: Partial<RunInfo> = {}): RunInfo {
  return {
    incident_id: incidentId,
    run_id: runId,
    started_at_ns: 1_750_000_100_000_000_000n + 9n,
    speed: '1x',
    seed: 42,
    injections: JSON.stringify([{ kind: 'delay', syscall: 'read', ns: '5000000' }]),
    label: 'read held 5 ms · délai',
    exit_code: 0,
    exit_signal: null,
    event_count: 0,
    wall_ns: 3_000_000_001n,
    divergence: '',
    stdout: new Uint8Array([0x6f, 0x6b, 0x00, 0xff, 0x0a]),
    stderr: new Uint8Array([]),
    ...overrides,
  };
}

/** Rows of an events table as plain objects, for comparing with what went in. */
export function rowsOf(batches: Iterable<RecordBatch>): EventRow[] {
  const out: EventRow[] = [];
  for (const batch of batches) {
    for (let i = 0; i < batch.numRows; i++) {
      const row = batch.get(i)!;
      out.push({
        incident_id: row.incident_id,
        run_id: row.run_id,
        seq: row.seq,
        pid: row.pid,
        tid: row.tid,
        nr: row.nr,
        name: row.name,
        args: Array.from(row.args as Iterable<bigint>),
        ret: row.ret,
        enter_ns: row.enter_ns,
        dur_ns: row.dur_ns,
        resource: row.resource,
        data_in: Uint8Array.from(row.data_in),
        data_out: Uint8Array.from(row.data_out),
        kind: row.kind,
      });
    }
  }
  return out;
}
