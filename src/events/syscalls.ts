// The TypeScript view of the engine's syscall table (native/syscalls.cc). The rows themselves
// are generated into ./syscall-table.ts at build time; this module says what their fields mean
// and answers the questions charts, transactions, injections and replay ask of them. No other
// TypeScript module keeps a list of syscall names: a fact about a syscall belongs in its row.
import { SYSCALL_TABLE } from './syscall-table';
import type { ArgRole, Flow, SyscallInfo, Trait } from './syscall-types';

export type {
  ArgKind,
  ArgRole,
  Flow,
  FdEffect,
  Handler,
  Special,
  SyscallArg,
  SyscallDisposition,
  SyscallInfo,
  Trait,
} from './syscall-types';

const BY_NAME = new Map<string, SyscallInfo>(SYSCALL_TABLE.map((r) => [r.name, r]));

/** Every row of the table, by number. */
export function syscallRows(): readonly SyscallInfo[] {
  return SYSCALL_TABLE;
}

export function syscallByName(name: string): SyscallInfo | undefined {
  return BY_NAME.get(name);
}

export function hasTrait(name: string, trait: Trait): boolean {
  return BY_NAME.get(name)?.traits.includes(trait) ?? false;
}

export function flowOf(name: string): Flow {
  return BY_NAME.get(name)?.flow ?? 'none';
}

/** Calls that hand bytes to the outside through an fd (write, sendto, sendmsg, pwritev...). */
export function sendsData(name: string): boolean {
  const f = flowOf(name);
  return f === 'write' || f === 'write_at' || f === 'send_msg';
}

/** Calls that take bytes from the outside through an fd (read, recvfrom, recvmsg, preadv...). */
export function receivesData(name: string): boolean {
  const f = flowOf(name);
  return f === 'read' || f === 'read_at' || f === 'recv_msg';
}

/** Waits for fds to become ready (poll, select, epoll). */
export function waitsForReady(name: string): boolean {
  return hasTrait(name, 'ready');
}

/** Creates a thread or a process. */
export function createsTask(name: string): boolean {
  return BY_NAME.get(name)?.special === 'clone';
}

/** Returns (or writes) a new fd. */
export function createsFd(name: string): boolean {
  const e = BY_NAME.get(name)?.fdEffect;
  return e === 'creates' || e === 'accepts' || e === 'dups' || e === 'pair';
}

/** Acts on the fd in its first argument. */
export function actsOnFd(name: string): boolean {
  return BY_NAME.get(name)?.fdArg === 0;
}

/** A failure of the call is an ordinary answer (access of a missing file, isatty of a pipe). */
export function failureIsAnswer(name: string): boolean {
  return hasTrait(name, 'probe');
}

/** The index of the first argument of `name` with `role`, or -1. */
export function argWithRole(name: string, role: ArgRole): number {
  const row = BY_NAME.get(name);
  return row ? row.args.findIndex((a) => a.role === role) : -1;
}

/** Calls whose timeout an injection can change (an #ms, #timespec or #timeval argument). */
export function timeoutSyscalls(): string[] {
  return SYSCALL_TABLE.filter((r) => r.args.some((a) => a.role === 'ms' || a.role === 'timespec' || a.role === 'timeval')).map((r) => r.name);
}

/**
 * The payload a call moved, from its data_in (`sent`) or data_out column: the first buffer when
 * the column holds several (each after its u32 length), at most `ret` bytes when given. For the
 * msg encoding the payload comes first too.
 */
export function payloadOf(name: string, bytes: Uint8Array, sent: boolean, ret?: number): Uint8Array {
  const row = BY_NAME.get(name);
  let out = bytes;
  if (row && (sent ? row.nIn : row.nOut) > 1 && bytes.length >= 4) {
    const len = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32LE(0);
    out = bytes.subarray(4, 4 + len);
  }
  return ret !== undefined && ret >= 0 && ret < out.length ? out.subarray(0, ret) : out;
}

/** Part `k` of a data column holding `n` buffers (native/capture.h: each after its u32 length). */
export function dataPart(bytes: Uint8Array, n: number, k: number): Uint8Array {
  if (n === 1) return k === 0 ? bytes : new Uint8Array(0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  for (let i = 0; i < n && off + 4 <= bytes.length; i++) {
    const len = Math.min(view.getUint32(off, true), bytes.length - off - 4);
    if (i === k) return bytes.subarray(off + 4, off + 4 + len);
    off += 4 + len;
  }
  return new Uint8Array(0);
}

/**
 * The bytes a flow:copy call (sendfile, splice, tee, copy_file_range) moved inside the kernel,
 * from its data_out column (the last part, which the recorder reads back from a file end), or
 * null for other calls. Empty when neither end was a file.
 */
export function movedBytes(name: string, dataOut: Uint8Array): Uint8Array | null {
  const row = BY_NAME.get(name);
  if (!row || row.flow !== 'copy') return null;
  return dataPart(dataOut, row.nOut, row.nOut - 1);
}
