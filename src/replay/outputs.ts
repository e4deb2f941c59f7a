// What a run printed, read back from its events: the bytes of successful writes to a resource.
import type { RecordBatch } from 'apache-arrow';

// Calls whose single data_in buffer is the written payload (sendto's and sendmsg's also hold an
// address and control data).
const WRITES = new Set(['write', 'writev', 'pwrite64']);

/** Concatenated bytes the program wrote to `resource` (e.g. 'stdout'), in event order. */
export function writtenTo(batches: Iterable<RecordBatch>, resource: string): Buffer {
  const parts: Buffer[] = [];
  for (const b of batches) {
    const name = b.getChild('name');
    const res = b.getChild('resource');
    const ret = b.getChild('ret');
    const dataIn = b.getChild('data_in');
    const kind = b.getChild('kind');
    if (!name || !res || !ret || !dataIn || !kind) throw new Error('event batch lacks output columns');
    for (let i = 0; i < b.numRows; i++) {
      if (res.get(i) !== resource || kind.get(i) !== 'syscall' || !WRITES.has(name.get(i) as string)) continue;
      const n = Number(ret.get(i) as bigint);
      if (n <= 0) continue;
      const bytes = dataIn.get(i) as Uint8Array;
      parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(n, bytes.length)));
    }
  }
  return Buffer.concat(parts);
}
