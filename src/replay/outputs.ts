// What a run printed, read back from its events: the bytes of successful writes to a resource,
// and of in-kernel copies to it (sendfile, copy_file_range...: the recorder stores what they moved).
import type { RecordBatch } from 'apache-arrow';
import { argWithRole, flowOf, movedBytes, payloadOf, syscallByName } from '../events/syscalls';


/** Concatenated bytes the program wrote to `resource` (e.g. 'stdout'), in event order. */
export function writtenTo(batches: Iterable<RecordBatch>, resource: string): Buffer {
  const parts: Buffer[] = [];
  for (const b of batches) {
    const name = b.getChild('name');
    const res = b.getChild('resource');
    const ret = b.getChild('ret');
    const dataIn = b.getChild('data_in');
    const kind = b.getChild('kind');
    const dataOut = b.getChild('data_out');
    if (!name || !res || !ret || !dataIn || !kind || !dataOut) throw new Error('event batch lacks output columns');
    for (let i = 0; i < b.numRows; i++) {
      const call = name.get(i) as string;
      const flow = flowOf(call);
      if (res.get(i) !== resource || kind.get(i) !== 'syscall' || (flow !== 'write' && flow !== 'write_at' && flow !== 'copy')) continue;
      const n = Number(ret.get(i) as bigint);
      if (n <= 0) continue;
      const bytes = flow === 'copy' ? movedBytes(call, dataOut.get(i) as Uint8Array)!.subarray(0, n) : payloadOf(call, dataIn.get(i) as Uint8Array, true, n);
      parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
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
      const handler = syscallByName(n)?.handler;
      if (handler === 'open') pos = 0; // each open reads from the start
      if (handler !== 'read' && handler !== 'pread') continue;
      const got = Number(ret.get(i) as bigint);
      if (got <= 0) continue;
      const at = handler === 'pread' ? Number((args.get(i) as { get(k: number): bigint }).get(argWithRole(n, 'off'))) : pos;
      const bytes = Buffer.from((dataOut.get(i) as Uint8Array).subarray(0, got));
      if (content.length < at + got) content = Buffer.concat([content, Buffer.alloc(at + got - content.length)]);
      bytes.copy(content, at);
      if (handler === 'read') pos = at + got;
      any = true;
    }
  }
  return any ? content : null;
}
