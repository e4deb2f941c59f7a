// Engine columns <-> Arrow record batches. The engine's batch layout is Arrow's buffer layout, so
// both directions reuse the same memory wherever Arrow allows.
import {
  Binary,
  Data,
  Field,
  Int32,
  Int64,
  List,
  makeData,
  RecordBatch,
  Struct,
  Uint64,
  Utf8,
  type DataType,
} from 'apache-arrow';
import { ReplaybookError } from '../errors';
import { EVENT_KINDS, eventSchema } from '../events/schema';
import type { EventColumns, VarColumn } from './native';

const utf8 = new TextEncoder();

function utf8Data(col: VarColumn, n: number): Data<Utf8> {
  return makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: col.offsets, data: col.data });
}

function binaryData(col: VarColumn, n: number): Data<Binary> {
  return makeData({ type: new Binary(), length: n, nullCount: 0, valueOffsets: col.offsets, data: col.data });
}

/** A column holding the same string n times. */
function constantUtf8(value: string, n: number): Data<Utf8> {
  const bytes = utf8.encode(value);
  const offsets = new Int32Array(n + 1);
  const data = new Uint8Array(bytes.length * n);
  for (let i = 0; i < n; i++) {
    data.set(bytes, i * bytes.length);
    offsets[i + 1] = (i + 1) * bytes.length;
  }
  return makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data });
}

function kindData(kind: Uint8Array, n: number): Data<Utf8> {
  const encoded = EVENT_KINDS.map((k) => utf8.encode(k));
  const offsets = new Int32Array(n + 1);
  let size = 0;
  for (let i = 0; i < n; i++) size += (encoded[kind[i]] ?? encoded[0]).length;
  const data = new Uint8Array(size);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const b = encoded[kind[i]] ?? encoded[0];
    data.set(b, off);
    off += b.length;
    offsets[i + 1] = off;
  }
  return makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data });
}

function argsData(args: BigUint64Array, n: number): Data<List<Uint64>> {
  const child = makeData({ type: new Uint64(), length: n * 6, nullCount: 0, data: args });
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) offsets[i] = i * 6;
  const listType = new List(new Field('item', new Uint64(), false));
  return makeData({ type: listType, length: n, nullCount: 0, valueOffsets: offsets, child });
}

/** An engine batch as an Arrow RecordBatch of the event schema. */
export function toRecordBatch(cols: EventColumns, incidentId: string, runId: string): RecordBatch {
  const n = cols.n;
  const children: Data[] = [
    constantUtf8(incidentId, n),
    constantUtf8(runId, n),
    makeData({ type: new Uint64(), length: n, nullCount: 0, data: cols.seq }),
    makeData({ type: new Int32(), length: n, nullCount: 0, data: cols.pid }),
    makeData({ type: new Int32(), length: n, nullCount: 0, data: cols.tid }),
    makeData({ type: new Int32(), length: n, nullCount: 0, data: cols.nr }),
    utf8Data(cols.name, n),
    argsData(cols.args, n),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: cols.ret }),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: cols.enter_ns }),
    makeData({ type: new Int64(), length: n, nullCount: 0, data: cols.dur_ns }),
    utf8Data(cols.resource, n),
    binaryData(cols.data_in, n),
    binaryData(cols.data_out, n),
    kindData(cols.kind, n),
  ];
  const struct = makeData({ type: new Struct(eventSchema.fields), length: n, nullCount: 0, children });
  return new RecordBatch(eventSchema, struct);
}

function child(batch: RecordBatch, name: string): Data<DataType> {
  const index = batch.schema.fields.findIndex((f) => f.name === name);
  if (index < 0) throw new Error(`event batch has no column '${name}'`);
  return batch.data.children[index];
}

function typed<T extends { subarray(a: number, b: number): T }>(d: Data<DataType>, n: number): T {
  return (d.values as unknown as T).subarray(d.offset, d.offset + n);
}

/** Offsets rebased to start at 0, with the bytes they cover (a slice keeps its parent's). */
function varColumn(d: Data<DataType>, n: number): VarColumn {
  const raw = (d.valueOffsets as Int32Array).subarray(d.offset, d.offset + n + 1);
  const base = raw[0] ?? 0;
  const offsets = base === 0 ? raw : raw.map((o) => o - base);
  const data = (d.values as Uint8Array).subarray(base, base + (offsets[n] ?? 0));
  return { offsets, data };
}

/** A Binary/Utf8 column of an event batch as offsets and bytes; the bytes are a view, writable in place. */
export function binaryColumn(batch: RecordBatch, name: string): VarColumn {
  return varColumn(child(batch, name), batch.numRows);
}

/** The seq column of an event batch (a view). */
export function seqColumn(batch: RecordBatch): BigUint64Array {
  return typed<BigUint64Array>(child(batch, 'seq'), batch.numRows);
}

/** A record batch of the event schema as engine columns (for the replay input). */
export function fromRecordBatch(batch: RecordBatch): EventColumns {
  const n = batch.numRows;
  const argsList = child(batch, 'args');
  const listOffsets = (argsList.valueOffsets as Int32Array).subarray(argsList.offset, argsList.offset + n + 1);
  const argValues = argsList.children[0].values as BigUint64Array;
  const args = new BigUint64Array(n * 6);
  for (let i = 0; i < n; i++) {
    const a = listOffsets[i];
    const b = listOffsets[i + 1];
    for (let k = 0; k < 6 && a + k < b; k++) args[i * 6 + k] = argValues[argsList.children[0].offset + a + k];
  }
  const kindCol = varColumn(child(batch, 'kind'), n);
  const kind = new Uint8Array(n);
  const dec = new TextDecoder();
  for (let i = 0; i < n; i++) {
    const k = dec.decode(kindCol.data.subarray(kindCol.offsets[i], kindCol.offsets[i + 1]));
    const idx = (EVENT_KINDS as readonly string[]).indexOf(k);
    if (idx < 0) {
      throw new ReplaybookError('corrupt_log', `event ${i} of the log has an unknown kind '${k}': the stored events are damaged (import the incident again from its pack, or record it again)`);
    }
    kind[i] = idx;
  }
  return {
    n,
    seq: typed<BigUint64Array>(child(batch, 'seq'), n),
    pid: typed<Int32Array>(child(batch, 'pid'), n),
    tid: typed<Int32Array>(child(batch, 'tid'), n),
    nr: typed<Int32Array>(child(batch, 'nr'), n),
    args,
    ret: typed<BigInt64Array>(child(batch, 'ret'), n),
    enter_ns: typed<BigInt64Array>(child(batch, 'enter_ns'), n),
    dur_ns: typed<BigInt64Array>(child(batch, 'dur_ns'), n),
    kind,
    name: varColumn(child(batch, 'name'), n),
    resource: varColumn(child(batch, 'resource'), n),
    data_in: varColumn(child(batch, 'data_in'), n),
    data_out: varColumn(child(batch, 'data_out'), n),
  };
}
