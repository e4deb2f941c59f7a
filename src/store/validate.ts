// Checks for event batches that come from outside (a pack, a file): apache-arrow reads an IPC
// message without checking that its offsets stay inside its buffers, so a damaged or hostile
// stream yields batches whose values point anywhere. Every buffer is checked here before a batch
// goes on to the store, and every row must belong to the incident and run it is stored under.
import { DataType, type Data, type RecordBatch } from 'apache-arrow';
import { EVENT_KINDS, eventSchema } from '../events/schema';
import { conformBatch } from './arrow';

/** Why `data` (and its children) cannot be read safely, or null. */
export function dataProblem(data: Data, where: string): string | null {
  const { length, offset } = data;
  if (!Number.isSafeInteger(length) || length < 0 || !Number.isSafeInteger(offset) || offset < 0) {
    return `${where}: bad length ${length} or offset ${offset}`;
  }
  const end = offset + length;
  if (data.nullCount > 0) {
    const bitmap = data.nullBitmap;
    if (!bitmap || bitmap.length * 8 < end) return `${where}: its validity bitmap is shorter than its ${length} rows`;
  }
  const type = data.type;
  if (DataType.isUtf8(type) || DataType.isBinary(type) || DataType.isList(type)) {
    const offsets = data.valueOffsets as Int32Array | undefined;
    if (!offsets || offsets.length < end + 1) return `${where}: its offsets are shorter than its ${length} rows`;
    let last = offsets[offset];
    if (last < 0) return `${where}: a negative offset`;
    for (let i = offset + 1; i <= end; i++) {
      if (offsets[i] < last) return `${where}: offsets go backwards at row ${i - offset}`;
      last = offsets[i];
    }
    if (DataType.isList(type)) {
      const child = data.children[0];
      if (!child) return `${where}: a list without values`;
      if (child.length < last) return `${where}: its lists point past their ${child.length} values`;
      return dataProblem(child, `${where}.item`);
    }
    const values = data.values as Uint8Array | undefined;
    if (length > 0 && (!values || values.length < last)) return `${where}: its offsets point past its ${values?.length ?? 0} bytes`;
    return null;
  }
  if (DataType.isInt(type)) {
    const values = data.values as ArrayLike<unknown> | undefined;
    if (length > 0 && (!values || values.length < end)) return `${where}: ${values?.length ?? 0} values for ${length} rows`;
    return null;
  }
  return `${where}: unexpected type ${String(type)}`;
}

/**
 * `batch` as a batch of events/schema.ts whose every row is in `incidentId` / `runId`; throws
 * an Error saying what is wrong otherwise.
 */
export function checkedEventBatch(batch: RecordBatch, incidentId: string, runId: string): RecordBatch {
  const conformed = conformBatch(batch, eventSchema);
  for (const [i, field] of eventSchema.fields.entries()) {
    const problem = dataProblem(conformed.data.children[i], `column '${field.name}'`);
    if (problem) throw new Error(problem);
  }
  for (const [column, want] of [
    ['incident_id', incidentId],
    ['run_id', runId],
  ] as const) {
    const vector = conformed.getChild(column);
    if (!vector) throw new Error(`column '${column}' is missing`);
    for (let row = 0; row < conformed.numRows; row++) {
      const got = vector.get(row) as string | null;
      if (got !== want) {
        const shown = typeof got === 'string' && got.length > 40 ? `${got.slice(0, 40)}...` : got;
        throw new Error(`row ${row} has ${column} ${JSON.stringify(shown)}, not ${JSON.stringify(want)}`);
      }
    }
  }
  // A kind the replayer does not know (a flipped byte turns 'syscall' into 'sywcall') would only
  // be found when the incident is replayed.
  const kinds = conformed.getChild('kind');
  for (let row = 0; kinds && row < conformed.numRows; row++) {
    const kind = kinds.get(row) as string | null;
    if (kind === null || !(EVENT_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`row ${row} has kind ${JSON.stringify(kind)}, not one of ${EVENT_KINDS.join(', ')}`);
    }
  }
  return conformed;
}
