// An Arrow IPC stream arriving over HTTP, checked message by message before apache-arrow reads it.
//
// A ClickHouse server that fails after it has started a 200 response cannot change the status any
// more: it appends the exception to the body. Depending on the release that is plain
// `Code: 395. DB::Exception: ...` text; an `__exception__` line followed by that text; or (25.11
// and later) a block framed by the tag of the `X-ClickHouse-Exception-Tag` header:
//
//   \r\n__exception__\r\n<tag>\r\n<message>\n<length of message> <tag>\r\n__exception__\r\n
//
// Fed to an Arrow reader as is, such a body can end the stream early without an error (the reader
// sees a truncated message and stops). So the body is split into whole IPC messages here: a
// message prefix that is not Arrow's continuation marker, a body that ends inside a message or
// before the end-of-stream marker, is an error, and exception text is recognised in all three
// forms. Only complete messages reach the reader.

/** Arrow's continuation marker, the first 4 bytes of every IPC message since format 0.15. */
const CONTINUATION = 0xffffffff;
/** Metadata bigger than this is not a message of ours: the bytes are something else. */
const MAX_METADATA = 64 << 20;
/** How much of a non-Arrow trailer is kept to find the exception in. */
const MAX_TRAILER = 1 << 20;

/** What kind of IPC message (the flatbuffer MessageHeader union tag). */
export enum MessageKind {
  Schema = 1,
  DictionaryBatch = 2,
  RecordBatch = 3,
  EndOfStream = -1,
}

export interface IpcMessage {
  kind: MessageKind;
  /** The whole message: prefix, metadata, body. */
  bytes: Uint8Array;
}

/** The server reported an error inside a 200 response body. */
export class BodyException extends Error {
  constructor(
    /** The server's text of the exception. */
    readonly serverMessage: string,
    /** Its ClickHouse error code, when the text names one. */
    readonly serverCode: number | undefined,
    /** Which form it came in. */
    readonly form: 'plain' | 'block' | 'tagged',
  ) {
    super(serverMessage);
    this.name = 'BodyException';
  }
}

/** The body is not a complete Arrow stream and carries no exception: it was cut short. */
export class TruncatedBody extends Error {
  constructor(
    message: string,
    readonly bytesRead: number,
  ) {
    super(message);
    this.name = 'TruncatedBody';
  }
}

/** Bytes received and not yet consumed, without concatenating on every chunk. */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.byteLength;
  }

  /** The first n bytes as one contiguous view (copies only when they span chunks). */
  peek(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first.byteLength >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.chunks) {
      const take = Math.min(c.byteLength, n - at);
      out.set(c.subarray(0, take), at);
      at += take;
      if (at === n) break;
    }
    return out;
  }

  take(n: number): Uint8Array {
    const out = this.peek(n);
    let left = n;
    while (left > 0) {
      const c = this.chunks[0];
      if (c.byteLength <= left) {
        this.chunks.shift();
        left -= c.byteLength;
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.length -= n;
    return out;
  }

  all(): Uint8Array {
    return this.length === 0 ? new Uint8Array(0) : this.take(this.length);
  }
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
const i32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getInt32(at, true);

/**
 * header_type and bodyLength of a flatbuffer `Message` table (fields 1 and 3), read directly: the
 * framing needs only these two, and reading them must not depend on the bytes being valid Arrow.
 */
function readMetadata(meta: Uint8Array): { kind: number; bodyLength: number } | null {
  if (meta.byteLength < 8) return null;
  const view = new DataView(meta.buffer, meta.byteOffset, meta.byteLength);
  const table = view.getUint32(0, true);
  if (table + 4 > meta.byteLength) return null;
  const vtable = table - view.getInt32(table, true);
  if (vtable < 0 || vtable + 4 > meta.byteLength) return null;
  const vtableSize = view.getUint16(vtable, true);
  const field = (i: number) => (4 + 2 * i < vtableSize ? view.getUint16(vtable + 4 + 2 * i, true) : 0);
  const kindAt = field(1);
  const lengthAt = field(3);
  const kind = kindAt ? view.getUint8(table + kindAt) : 0;
  if (lengthAt && table + lengthAt + 8 > meta.byteLength) return null;
  const bodyLength = lengthAt ? Number(view.getBigInt64(table + lengthAt, true)) : 0;
  if (bodyLength < 0 || !Number.isSafeInteger(bodyLength)) return null;
  return { kind, bodyLength };
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/**
 * The exception in `trailer` (bytes that are not Arrow), in any of the three forms, or null.
 * `tag` is the X-ClickHouse-Exception-Tag header of the response, if it had one.
 */
export function findException(trailer: Uint8Array, tag?: string): BodyException | null {
  // latin1 maps bytes 1:1 to code units, so positions found here are byte offsets.
  const text = latin1.decode(trailer);
  const decode = (from: number, to: number) => utf8.decode(trailer.subarray(from, to)).trim();
  const codeOf = (m: string) => {
    const c = /Code: (\d+)/.exec(m);
    return c ? Number(c[1]) : undefined;
  };
  if (tag) {
    const open = `__exception__\r\n${tag}\r\n`;
    const start = text.lastIndexOf(open);
    if (start >= 0) {
      const from = start + open.length;
      const close = new RegExp(`\\n(\\d+) ${escapeRegExp(tag)}\\r\\n__exception__`).exec(text.slice(from));
      const end = close ? from + close.index : text.length;
      const message = decode(from, end);
      return new BodyException(message, codeOf(message), 'tagged');
    }
  }
  const marker = text.indexOf('__exception__');
  if (marker >= 0) {
    const message = decode(marker + '__exception__'.length, text.length).replace(/__exception__\s*$/, '').trim();
    return new BodyException(message, codeOf(message), 'block');
  }
  const plain = /Code: \d+\. DB::Exception/.exec(text);
  if (plain) {
    const message = decode(plain.index, text.length);
    return new BodyException(message, codeOf(message), 'plain');
  }
  return null;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The IPC messages of a response body, each whole. Throws BodyException when the body carries a
 * server exception, TruncatedBody when it ends inside a message or without an end-of-stream
 * marker. Several streams back to back are allowed (each ends with its marker). An empty body is
 * an empty result.
 */
export async function* ipcMessages(body: AsyncIterable<Uint8Array>, tag?: string): AsyncGenerator<IpcMessage> {
  const queue = new ByteQueue();
  let read = 0;
  /** The body so far ended a stream (or had none): it may end here. */
  let complete = true;
  let trailer: Uint8Array[] | null = null;
  let trailerLength = 0;

  const fail = (rest: Uint8Array, why: string): never => {
    const found = findException(rest, tag);
    if (found) throw found;
    throw new TruncatedBody(why, read);
  };

  for await (const chunk of body) {
    read += chunk.byteLength;
    if (trailer) {
      if (trailerLength < MAX_TRAILER) {
        trailer.push(chunk);
        trailerLength += chunk.byteLength;
      }
      continue;
    }
    queue.push(chunk);
    for (;;) {
      if (queue.length < 8) break;
      const prefix = queue.peek(8);
      if (u32(prefix, 0) !== CONTINUATION || i32(prefix, 4) < 0 || i32(prefix, 4) > MAX_METADATA) {
        trailer = [queue.all()];
        trailerLength = trailer[0].byteLength;
        break;
      }
      const metaLength = i32(prefix, 4);
      if (metaLength === 0) {
        complete = true;
        yield { kind: MessageKind.EndOfStream, bytes: queue.take(8) };
        continue;
      }
      if (queue.length < 8 + metaLength) break;
      const meta = readMetadata(queue.peek(8 + metaLength).subarray(8));
      if (!meta) {
        trailer = [queue.all()];
        trailerLength = trailer[0].byteLength;
        break;
      }
      const total = 8 + metaLength + meta.bodyLength;
      if (queue.length < total) break;
      complete = false;
      yield { kind: meta.kind as MessageKind, bytes: queue.take(total) };
    }
  }

  if (trailer) {
    const rest = concat(trailer);
    fail(rest, `the server's answer holds ${rest.byteLength} bytes that are not Arrow after ${read - rest.byteLength} bytes of Arrow data`);
  }
  if (queue.length > 0) {
    fail(queue.all(), `the server's answer ended inside an Arrow message after ${read} bytes: the connection was cut or the server stopped`);
  }
  if (!complete) {
    throw new TruncatedBody(
      `the server's answer ended after ${read} bytes without the end-of-stream marker: the connection was cut or the server stopped`,
      read,
    );
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The record batch messages of a complete IPC stream in memory (used to send batches one by one). */
export function batchMessages(stream: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at + 8 <= stream.byteLength) {
    const metaLength = i32(stream, at + 4);
    if (u32(stream, at) !== CONTINUATION) throw new Error('not an Arrow IPC stream');
    if (metaLength === 0) {
      at += 8;
      continue;
    }
    const meta = readMetadata(stream.subarray(at + 8, at + 8 + metaLength));
    if (!meta) throw new Error('not an Arrow IPC stream');
    const end = at + 8 + metaLength + meta.bodyLength;
    if (meta.kind === MessageKind.RecordBatch) out.push(stream.subarray(at, end));
    at = end;
  }
  return out;
}

/** Arrow's end-of-stream marker. */
export const END_OF_STREAM: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
