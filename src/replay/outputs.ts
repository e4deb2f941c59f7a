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

/**
 * The bytes the recording read from `path` (read and pread64 on `file:PATH`, by offset), or
 * null when it read none: what a config-file edit starts from.
 */
export async function readFrom(batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>, path: string): Promise<Buffer | null> {
  const resource = `file:${path}`;
  let content = Buffer.alloc(0);
  let pos = 0;
  let any = false;
  for await (const b of batches) {
    const name = b.getChild('name');
    const res = b.getChild('resource');
    const ret = b.getChild('ret');
    const dataOut = b.getChild('data_out');
    const args = b.getChild('args');
    const kind = b.getChild('kind');
    if (!name || !res || !ret || !dataOut || !args || !kind) throw new Error('event batch lacks the columns of reads');
    for (let i = 0; i < b.numRows; i++) {
      if (res.get(i) !== resource || kind.get(i) !== 'syscall') continue;
      const n = name.get(i) as string;
      if (n === 'openat' || n === 'open') pos = 0; // each open reads from the start
      if (n !== 'read' && n !== 'pread64') continue;
      const got = Number(ret.get(i) as bigint);
      if (got <= 0) continue;
      const at = n === 'pread64' ? Number((args.get(i) as { get(k: number): bigint }).get(3)) : pos;
      const bytes = Buffer.from((dataOut.get(i) as Uint8Array).subarray(0, got));
      if (content.length < at + got) content = Buffer.concat([content, Buffer.alloc(at + got - content.length)]);
      bytes.copy(content, at);
      if (n === 'read') pos = at + got;
      any = true;
    }
  }
  return any ? content : null;
}
