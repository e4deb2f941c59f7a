// What a run printed, read back from its events: the bytes of successful writes to a resource,
// and of in-kernel copies to it (sendfile, copy_file_range...: the recorder stores what they moved).
import type { RecordBatch } from 'apache-arrow';
import { syscallByName } from '../inject/syscalls';

// Calls whose single data_in buffer is the written payload (sendto's and sendmsg's also hold an
// address and control data).
const WRITES = new Set(['write', 'writev', 'pwrite64', 'vmsplice']);

/** Part `k` of a data column holding `n` buffers (native/capture.h: each after its u32 length). */
export function dataPart(data: Uint8Array, n: number, k: number): Uint8Array {
  if (n === 1) return k === 0 ? data : new Uint8Array(0);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  for (let i = 0; i < n && off + 4 <= data.length; i++) {
    const len = Math.min(view.getUint32(off, true), data.length - off - 4);
    if (i === k) return data.subarray(off + 4, off + 4 + len);
    off += 4 + len;
  }
  return new Uint8Array(0);
}

/** The bytes an in-kernel copy (sendfile, splice, tee, copy_file_range) moved, or null for other calls. */
export function movedBytes(name: string, dataOut: Uint8Array): Uint8Array | null {
  const row = syscallByName(name);
  if (!row || row.movedPart < 0) return null;
  return dataPart(dataOut, row.outParts, row.movedPart);
}

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
    const dataOut = b.getChild('data_out');
    for (let i = 0; i < b.numRows; i++) {
      if (res.get(i) !== resource || kind.get(i) !== 'syscall') continue;
      const n = Number(ret.get(i) as bigint);
      if (n <= 0) continue;
      const call = name.get(i) as string;
      const bytes = WRITES.has(call) ? (dataIn.get(i) as Uint8Array) : dataOut ? movedBytes(call, dataOut.get(i) as Uint8Array) : null;
      if (bytes) parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(n, bytes.length)));
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
