// An event table (events/schema.ts) read column by column, once, into plain arrays: what the
// charts that look at every event (timing differences, the causal graph) work from. Byte columns
// stay in Arrow and are read per row, only where a chart shows them.
import type { Table, Vector } from 'apache-arrow';

const decoder = new TextDecoder();

export interface EventColumns {
  n: number;
  seq: Float64Array;
  pid: Int32Array;
  tid: Int32Array;
  name: string[];
  resource: string[];
  kind: string[];
  ret: BigInt64Array;
  /** enter_ns in milliseconds (the recording's timeline: ns since it started). */
  startMs: Float64Array;
  durMs: Float64Array;
  /** Argument `k` of row `i` (0n when the table has no args). */
  arg(i: number, k: number): bigint;
  dataIn(i: number): Uint8Array;
  dataOut(i: number): Uint8Array;
}

function text(table: Table, col: string, n: number, fallback: string): string[] {
  const v = table.getChild(col) as Vector | null;
  const out = new Array<string>(n);
  if (!v) return out.fill(fallback);
  const raw = v.toArray() as ArrayLike<unknown>;
  // Most text columns repeat a few values: decode each distinct byte string once.
  const seen = new Map<Uint8Array, string>();
  for (let i = 0; i < n; i++) {
    const x = raw[i];
    if (typeof x === 'string') out[i] = x;
    else if (x instanceof Uint8Array) {
      let s = seen.get(x);
      if (s === undefined) {
        s = decoder.decode(x);
        seen.set(x, s);
      }
      out[i] = s;
    } else out[i] = x == null ? fallback : String(x);
  }
  return out;
}

function numbers(table: Table, col: string, n: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  const v = table.getChild(col) as Vector | null;
  if (!v) return out;
  const raw = v.toArray() as ArrayLike<number | bigint>;
  for (let i = 0; i < n; i++) out[i] = Number(raw[i]) / scale;
  return out;
}

function ints(table: Table, col: string, n: number): Int32Array {
  const out = new Int32Array(n);
  const v = table.getChild(col) as Vector | null;
  if (!v) return out;
  const raw = v.toArray() as ArrayLike<number | bigint>;
  for (let i = 0; i < n; i++) out[i] = Number(raw[i]);
  return out;
}

function bigs(table: Table, col: string, n: number): BigInt64Array {
  const v = table.getChild(col) as Vector | null;
  if (!v) return new BigInt64Array(n);
  const raw = v.toArray() as ArrayLike<number | bigint>;
  if (raw instanceof BigInt64Array) return raw;
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt.asIntN(64, BigInt(raw[i]));
  return out;
}

function bytesAt(v: Vector | null, i: number): Uint8Array {
  const x = v?.get(i) as unknown;
  if (x instanceof Uint8Array) return x;
  if (typeof x === 'string') return Buffer.from(x, 'utf8');
  return new Uint8Array(0);
}

/** The columns of an event table, in row order. */
export function eventColumns(table: Table): EventColumns {
  const n = table.numRows;
  const args = table.getChild('args') as Vector | null;
  const dataIn = table.getChild('data_in') as Vector | null;
  const dataOut = table.getChild('data_out') as Vector | null;
  return {
    n,
    seq: numbers(table, 'seq', n),
    pid: ints(table, 'pid', n),
    tid: ints(table, 'tid', n),
    name: text(table, 'name', n, ''),
    resource: text(table, 'resource', n, ''),
    kind: text(table, 'kind', n, 'syscall'),
    ret: bigs(table, 'ret', n),
    startMs: numbers(table, 'enter_ns', n, 1e6),
    durMs: numbers(table, 'dur_ns', n, 1e6),
    arg(i: number, k: number): bigint {
      const list = args?.get(i) as { get(k: number): unknown; length: number } | null | undefined;
      if (!list || k >= list.length) return 0n;
      const x = list.get(k);
      return typeof x === 'bigint' ? x : BigInt(Number(x ?? 0));
    },
    dataIn: (i: number) => bytesAt(dataIn, i),
    dataOut: (i: number) => bytesAt(dataOut, i),
  };
}

/** A syscall's failure: -4095..-1 from a syscall (not an exit status, a signal, late data). */
export function isFailure(kind: string, ret: bigint): boolean {
  return kind === 'syscall' && ret < 0n && ret >= -4095n;
}

// Chart labels take durations from here, with the column helpers above.
export { formatDeltaMs, formatMs } from '../format';

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Printable preview of bytes for a chart label: `CHARGE order=42…`. */
export function bytesPreview(b: Uint8Array, max = 32): string {
  let s = '';
  for (let i = 0; i < b.length && s.length < max; i++) {
    const c = b[i];
    s += c === 0x0a ? '\\n' : c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '·';
  }
  return b.length > max || s.length > max ? s.slice(0, max) + '…' : s;
}
