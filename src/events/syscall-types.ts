// The shape of a row of the engine's syscall table (native/syscalls.cc) in TypeScript: the
// generated rows (./syscall-table.ts) are checked against it when they compile.

/** What replay does with the call: never stopped, served from the log, run for real, refused. */
export type SyscallDisposition = 'untraced' | 'emulated' | 'executed' | 'denied';
/** How the call changes the fd table. */
export type FdEffect = 'none' | 'uses' | 'creates' | 'accepts' | 'pair' | 'dups' | 'closes' | 'close_range';
export type Special = 'none' | 'mmap' | 'execve' | 'exit' | 'clone' | 'affinity' | 'fcntl' | 'ioctl' | 'wait';
/**
 * Class flags (strace's TRACE_* classes: net proc sig ipc mem creds clock pure, and stat_like
 * lstat_like fstat_like statfs_like fstatfs_like for %stat %lstat %fstat %statfs %fstatfs) and facts about behaviour: timer task vm fs group calls for charts; blocks (may
 * wait for the outside), ready (waits for fds to be ready), probe (a failure is an ordinary
 * answer), generic (its meaning is the resource its fd names).
 */
export type Trait =
  | 'net' | 'proc' | 'sig' | 'ipc' | 'mem' | 'creds' | 'clock' | 'pure'
  | 'stat_like' | 'lstat_like' | 'fstat_like' | 'statfs_like' | 'fstatfs_like'
  | 'timer' | 'task' | 'vm' | 'fs'
  | 'blocks' | 'ready' | 'probe' | 'generic' | 'fast' | 'group_exit' | 'sigreturn';
/** How the call moves bytes between the program and the outside. */
export type Flow = 'none' | 'read' | 'read_at' | 'write' | 'write_at' | 'recv_msg' | 'send_msg' | 'copy';
/** What serves the call under the stream policy (native/stream.cc). */
export type Handler =
  | 'none' | 'read' | 'pread' | 'poll' | 'ppoll' | 'select' | 'pselect' | 'epoll_ctl' | 'epoll_wait'
  | 'sleep' | 'sleep_clock' | 'accept' | 'clock' | 'clock_tv' | 'clock_s' | 'connect' | 'bind'
  | 'open' | 'socket' | 'lseek' | 'pid' | 'tid' | 'sockopt' | 'shutdown';
/** What an argument means beyond its kind. */
export type ArgRole = 'none' | 'ms' | 'timespec' | 'timeval' | 'sotimeo' | 'pid' | 'tid' | 'off' | 'stat' | 'statx' | 'flags' | 'src' | 'dst' | 'clock' | 'sigmask' | 'sigmask_ref';
export type ArgKind = 'int' | 'fd' | 'dirfd' | 'ptr' | 'path' | 'str' | 'in' | 'out' | 'inout';

export interface SyscallArg {
  kind: ArgKind;
  /** How a buffer's size is found (native/syscalls.cc's notation); absent for scalars. */
  size?: string;
  ref?: number;
  n?: number;
  /** This slot describes the memory argument `at` points to (not an argument of its own). */
  at?: number;
  role?: ArgRole;
  /** [argument, mask]: compared between a recording and a replay only when that argument has a
   * bit of the mask set (open's mode: only with O_CREAT or O_TMPFILE). */
  onlyIf?: readonly [number, number];
}

export interface SyscallInfo {
  /** x86-64 syscall number. */
  nr: number;
  name: string;
  cls: SyscallDisposition;
  fdEffect: FdEffect;
  special: Special;
  /** Number of real arguments. */
  nargs: number;
  /** Index of the first fd, path and dirfd argument, or -1. */
  fdArg: number;
  pathArg: number;
  dirfdArg: number;
  /** The argument whose bits say close-on-exec (and non-blocking) for a created fd, or -1. */
  cloexecArg: number;
  /** Number of buffers in data_in / data_out (more than one: each after its u32 length). */
  nIn: number;
  nOut: number;
  args: readonly SyscallArg[];
  traits: readonly Trait[];
  flow: Flow;
  handler: Handler;
  clone: 'arg' | 'fork' | 'vfork' | 'struct';
  /** The call this one is a variant of ('poll' for ppoll), or ''. */
  family: string;
  /** [offset, length] ranges of data_in holding addresses or the caller's own values: never
   * compared between a recording and a replay (they differ under ASLR). */
  addressFields: readonly (readonly [number, number])[];
  /** [offset, when, value]: the u32 at offset of data_in is a thread id when the u32 at `when` is
   * `value` (a sigevent under SIGEV_THREAD_ID), translated between recording and replay. */
  tidIn?: readonly [number, number, number];
}
