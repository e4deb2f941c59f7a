// Arrow at the store boundary: checking incoming batches against events/schema.ts, relabelling
// ClickHouse's Binary strings as Utf8 without copying, writing Arrow IPC stream files for the
// engine to ingest, and turning the few incident/run rows into plain records.
import * as fs from 'node:fs';
import {
  Binary,
  Data,
  DataType,
  Field,
  Int8,
  Int32,
  Int64,
  List,
  Map_,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Table,
  Type,
  Uint64,
  Utf8,
  makeData,
  tableToIPC,
  util,
  vectorFromArray,
} from 'apache-arrow';
import { INCIDENT_STATES, type IncidentInfo, type IncidentState, type RunInfo } from '../events/schema';
import { redactionFromJson } from './redaction';
import { PRIVATE_FILE } from './private';

// ---------------------------------------------------------------------------------------------
// Types and relabelling

const isStringLike = (t: DataType): boolean => t.typeId === Type.Utf8 || t.typeId === Type.Binary;

/**
 * True when data of type `from` can be read as `to` by relabelling alone: same physical layout.
 * Utf8 and Binary share theirs (offsets + bytes), which is what lets the store hand ClickHouse's
 * Binary strings out as Utf8 and accept either from callers.
 */
export function sameLayout(from: DataType, to: DataType): boolean {
  if (isStringLike(from) && isStringLike(to)) return true;
  if (from.typeId !== to.typeId) return false;
  if (DataType.isInt(from) && DataType.isInt(to)) {
    return from.bitWidth === to.bitWidth && from.isSigned === to.isSigned;
  }
  if (DataType.isFloat(from) && DataType.isFloat(to)) return from.precision === to.precision;
  if (DataType.isList(from) || DataType.isStruct(from) || DataType.isMap(from)) {
    const a = from.children;
    const b = to.children;
    return a.length === b.length && a.every((f, i) => sameLayout(f.type, b[i].type));
  }
  return util.compareTypes(from, to);
}

/** The same buffers under another (layout-compatible) type; children relabelled recursively. */
export function relabel(data: Data, type: DataType): Data {
  if (data.type === type) return data;
  const children = data.children.map((child, i) => relabel(child, type.children[i].type));
  return data.clone(type, data.offset, data.length, data.nullCount, undefined, children);
}

/** `type` with every Binary (at any depth) replaced by Utf8. */
export function textType(type: DataType): DataType {
  if (type.typeId === Type.Binary) return new Utf8();
  if (DataType.isList(type)) return new List(textField(type.children[0]));
  if (DataType.isStruct(type)) return new Struct(type.children.map(textField));
  if (DataType.isMap(type)) return new Map_(textField(type.children[0]), type.keysSorted);
  return type;
}

function textField(f: Field): Field {
  return f.clone({ type: textType(f.type) });
}

function batchOf(schema: Schema, length: number, children: Data[]): RecordBatch {
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
  return new RecordBatch(schema, data);
}

/**
 * `batch` under exactly `schema`: columns picked by name in schema order, text columns relabelled.
 * Throws an Error naming the first column that is missing, of another layout, or has nulls in a
 * non-nullable field.
 */
export function conformBatch(batch: RecordBatch, schema: Schema): RecordBatch {
  if (batch.schema === schema) return batch;
  const children = schema.fields.map((field) => {
    const index = batch.schema.fields.findIndex((f) => f.name === field.name);
    if (index < 0) throw new Error(`column '${field.name}' is missing`);
    const data = batch.data.children[index];
    if (!sameLayout(data.type, field.type)) {
      throw new Error(`column '${field.name}' is ${data.type}, expected ${field.type}`);
    }
    if (!field.nullable && data.nullCount > 0) {
      throw new Error(`column '${field.name}' has ${data.nullCount} null value(s); it may not have any`);
    }
    return relabel(data, field.type);
  });
  return batchOf(schema, batch.numRows, children);
}

/** A result schema with its Binary columns (at any depth) as Utf8, except the named byte columns. */
export function textSchema(schema: Schema, binaryColumns: ReadonlySet<string>): Schema {
  return new Schema(
    schema.fields.map((f) => (binaryColumns.has(f.name) ? f : textField(f))),
    schema.metadata,
  );
}

/** `batch` under `schema`, column by column (same count, same layouts): buffers are shared. */
export function relabelBatch(batch: RecordBatch, schema: Schema): RecordBatch {
  return batchOf(
    schema,
    batch.numRows,
    batch.data.children.map((d, i) => relabel(d, schema.fields[i].type)),
  );
}

// ---------------------------------------------------------------------------------------------
// IPC

/**
 * Batches of an Arrow IPC stream buffer. ClickHouse emits one complete stream per block when
 * streaming, so a buffer may hold several streams back to back; all are read.
 */
export function readIpc(bytes: Uint8Array): { schema: Schema | null; batches: RecordBatch[] } {
  let schema: Schema | null = null;
  const batches: RecordBatch[] = [];
  if (bytes.byteLength === 0) return { schema, batches };
  for (const reader of RecordBatchReader.readAll(bytes)) {
    // An empty result block comes back as a batch without column data: nothing to keep.
    for (const batch of reader) if (batch.numRows > 0) batches.push(batch);
    schema ??= reader.schema;
  }
  return { schema, batches };
}

/**
 * Writes `batches` (conformed to `schema`) to `file` as one Arrow IPC stream, then fsyncs it.
 * Streams: a batch is on its way to disk before the next one is pulled. Returns the row count.
 */
export async function writeArrowStreamFile(
  file: string,
  schema: Schema,
  batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
): Promise<number> {
  const fd = fs.openSync(file, 'wx', PRIVATE_FILE);
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema); // the schema message goes out even when there are no batches
  const drained = (async () => {
    for await (const chunk of writer) writeFully(fd, chunk);
  })();
  // A failed write (a full disk) ends the loop below at its next batch, and is thrown from there:
  // it is never left an unhandled rejection while the loop waits.
  let failed: { err: unknown } | null = null;
  drained.catch((err: unknown) => {
    failed = { err };
  });
  let rows = 0;
  try {
    for await (const batch of batches) {
      writer.write(conformBatch(batch, schema));
      rows += batch.numRows;
      // The writer queues a batch's buffers (views, not copies) faster than the drain writes them
      // out: without this wait a run of millions of events was all held in the queue at once.
      // setImmediate runs once the drain's chain of microtasks has emptied the queue.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (failed) throw (failed as { err: unknown }).err;
    }
    writer.finish();
    writer.close();
    await drained;
    fs.fsyncSync(fd);
    return rows;
  } catch (err) {
    // A failed write is the cause (after it the writer's queue is closed, and the writer says only
    // that); otherwise the error of the batches' source, whatever the aborted drain then says.
    const writeFailed = failed as { err: unknown } | null;
    if (!writeFailed) writer.abort(err);
    await drained.catch(() => undefined);
    throw writeFailed ? writeFailed.err : err;
  } finally {
    fs.closeSync(fd);
  }
}

export function writeFully(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += fs.writeSync(fd, bytes, off, bytes.byteLength - off);
}

// ---------------------------------------------------------------------------------------------
// Incident and run rows (one row each, written for the engine, read back as records)

const textList = () => new List(new Field('item', new Utf8(), false));

/** The one-row Arrow table the incident row is ingested from (see INCIDENT_FILE_STRUCTURE). */
export function incidentRowTable(info: IncidentInfo, entryId: string): Table {
  const files = Object.entries(info.files);
  return new Table({
    incident_id: vectorFromArray([info.incident_id], new Utf8()),
    service: vectorFromArray([info.service], new Utf8()),
    argv: vectorFromArray([info.argv], textList()),
    env: vectorFromArray([info.env], textList()),
    cwd: vectorFromArray([info.cwd], new Utf8()),
    exe_path: vectorFromArray([info.exe_path], new Utf8()),
    exe_sha256: vectorFromArray([info.exe_sha256], new Utf8()),
    started_at_ns: vectorFromArray([info.started_at_ns], new Int64()),
    exit_code: vectorFromArray([info.exit_code], new Int32()),
    exit_signal: vectorFromArray([info.exit_signal], new Utf8()),
    event_count: vectorFromArray([BigInt(info.event_count)], new Uint64()),
    duration_ns: vectorFromArray([info.duration_ns], new Int64()),
    file_paths: vectorFromArray([files.map(([p]) => p)], textList()),
    file_shas: vectorFromArray([files.map(([, sha]) => sha)], textList()),
    host: vectorFromArray([info.host], new Utf8()),
    entry_id: vectorFromArray([entryId], new Utf8()),
    redaction: vectorFromArray([info.redaction ? JSON.stringify(info.redaction) : ''], new Utf8()),
    state: vectorFromArray([info.state ?? 'complete'], new Utf8()),
    state_reason: vectorFromArray([info.state_reason ?? ''], new Utf8()),
    aslr: vectorFromArray([info.aslr === undefined ? -1 : info.aslr ? 1 : 0], new Int8()),
  });
}

/** The one-row Arrow table the run row is ingested from (see RUN_FILE_STRUCTURE). */
export function runRowTable(info: RunInfo, entryId: string): Table {
  return new Table({
    incident_id: vectorFromArray([info.incident_id], new Utf8()),
    run_id: vectorFromArray([info.run_id], new Utf8()),
    started_at_ns: vectorFromArray([info.started_at_ns], new Int64()),
    speed: vectorFromArray([info.speed], new Utf8()),
    seed: vectorFromArray([BigInt(info.seed)], new Int64()),
    injections: vectorFromArray([info.injections], new Utf8()),
    label: vectorFromArray([info.label], new Utf8()),
    exit_code: vectorFromArray([info.exit_code], new Int32()),
    exit_signal: vectorFromArray([info.exit_signal], new Utf8()),
    event_count: vectorFromArray([BigInt(info.event_count)], new Uint64()),
    wall_ns: vectorFromArray([info.wall_ns], new Int64()),
    divergence: vectorFromArray([info.divergence], new Utf8()),
    stdout: vectorFromArray([info.stdout], new Binary()),
    stderr: vectorFromArray([info.stderr], new Binary()),
    entry_id: vectorFromArray([entryId], new Utf8()),
  });
}

export function writeTableFile(file: string, table: Table): void {
  const fd = fs.openSync(file, 'w', PRIVATE_FILE);
  try {
    writeFully(fd, tableToIPC(table, 'stream'));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const utf8 = new TextDecoder('utf-8');

/** Reads cells of a result batch whose strings arrive as Binary. */
class Cells {
  constructor(
    private readonly batch: RecordBatch,
    private readonly row: number,
  ) {}

  private raw(name: string): unknown {
    const column = this.batch.getChild(name);
    if (!column) throw new Error(`result has no column '${name}'`);
    return column.get(this.row);
  }

  text(name: string): string {
    return decodeText(this.raw(name));
  }

  textOrNull(name: string): string | null {
    const v = this.raw(name);
    return v === null ? null : decodeText(v);
  }

  texts(name: string): string[] {
    const v = this.raw(name) as Iterable<unknown> | null;
    return v === null ? [] : Array.from(v, decodeText);
  }

  bytes(name: string): Uint8Array {
    const v = this.raw(name);
    // A copy: a view would keep the whole result buffer alive.
    return v instanceof Uint8Array ? v.slice() : new Uint8Array(0);
  }

  bigint(name: string): bigint {
    return BigInt(this.raw(name) as bigint | number);
  }

  number(name: string): number {
    return Number(this.raw(name) as bigint | number);
  }

  numberOrNull(name: string): number | null {
    const v = this.raw(name) as bigint | number | null;
    return v === null ? null : Number(v);
  }
}

function decodeText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return utf8.decode(v);
  return String(v);
}

/** Rows of a SELECT_INCIDENT / selectIncidents result. */
export function incidentsFromBatches(batches: RecordBatch[]): IncidentInfo[] {
  const out: IncidentInfo[] = [];
  for (const batch of batches) {
    for (let i = 0; i < batch.numRows; i++) {
      const c = new Cells(batch, i);
      const paths = c.texts('file_paths');
      const shas = c.texts('file_shas');
      const files: Record<string, string> = {};
      paths.forEach((p, k) => (files[p] = shas[k]));
      const redaction = c.text('redaction');
      const aslr = c.number('aslr');
      out.push({
        ...(redaction ? { redaction: redactionFromJson(JSON.parse(redaction)) } : {}),
        ...(aslr >= 0 ? { aslr: aslr === 1 } : {}),
        incident_id: c.text('incident_id'),
        service: c.text('service'),
        argv: c.texts('argv'),
        env: c.texts('env'),
        cwd: c.text('cwd'),
        exe_path: c.text('exe_path'),
        exe_sha256: c.text('exe_sha256'),
        started_at_ns: c.bigint('started_at_ns'),
        exit_code: c.numberOrNull('exit_code'),
        exit_signal: c.textOrNull('exit_signal'),
        event_count: c.number('event_count'),
        duration_ns: c.bigint('duration_ns'),
        files,
        host: c.text('host'),
        state: incidentState(c.text('state')),
        state_reason: c.text('state_reason'),
      });
    }
  }
  return out;
}

function incidentState(s: string): IncidentState {
  return (INCIDENT_STATES as readonly string[]).includes(s) ? (s as IncidentState) : 'complete';
}

/** Rows of a SELECT_RUNS result. */
export function runsFromBatches(batches: RecordBatch[]): RunInfo[] {
  const out: RunInfo[] = [];
  for (const batch of batches) {
    for (let i = 0; i < batch.numRows; i++) {
      const c = new Cells(batch, i);
      out.push({
        incident_id: c.text('incident_id'),
        run_id: c.text('run_id'),
        started_at_ns: c.bigint('started_at_ns'),
        speed: c.text('speed'),
        seed: c.number('seed'),
        injections: c.text('injections'),
        label: c.text('label'),
        exit_code: c.numberOrNull('exit_code'),
        exit_signal: c.textOrNull('exit_signal'),
        event_count: c.number('event_count'),
        wall_ns: c.bigint('wall_ns'),
        divergence: c.text('divergence'),
        stdout: c.bytes('stdout'),
        stderr: c.bytes('stderr'),
      });
    }
  }
  return out;
}
