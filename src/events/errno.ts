// errno and signal names of x86-64 Linux, with the messages glibc gives them (strerror,
// strsignal). Generated once on an x86-64 Debian machine by a small C program that printed, for
// every `#define E...` of <asm-generic/errno-base.h> and <asm-generic/errno.h> and for every
// standard signal of <signal.h>, the macro's name, its value and strerror()/strsignal() of it;
// kept here as data so that parsing an injection needs neither a compiler nor the headers.
//
// Names that share a number with an earlier one are aliases (EWOULDBLOCK = EAGAIN): a name
// parses to its number, and a number shows as its primary name.

export interface NamedNumber {
  name: string;
  number: number;
  message: string;
}

/** [name, number, message], by number. */
const ERRNOS: readonly (readonly [string, number, string])[] = [
  ['EPERM', 1, 'Operation not permitted'],
  ['ENOENT', 2, 'No such file or directory'],
  ['ESRCH', 3, 'No such process'],
  ['EINTR', 4, 'Interrupted system call'],
  ['EIO', 5, 'Input/output error'],
  ['ENXIO', 6, 'No such device or address'],
  ['E2BIG', 7, 'Argument list too long'],
  ['ENOEXEC', 8, 'Exec format error'],
  ['EBADF', 9, 'Bad file descriptor'],
  ['ECHILD', 10, 'No child processes'],
  ['EAGAIN', 11, 'Resource temporarily unavailable'],
  ['ENOMEM', 12, 'Cannot allocate memory'],
  ['EACCES', 13, 'Permission denied'],
  ['EFAULT', 14, 'Bad address'],
  ['ENOTBLK', 15, 'Block device required'],
  ['EBUSY', 16, 'Device or resource busy'],
  ['EEXIST', 17, 'File exists'],
  ['EXDEV', 18, 'Invalid cross-device link'],
  ['ENODEV', 19, 'No such device'],
  ['ENOTDIR', 20, 'Not a directory'],
  ['EISDIR', 21, 'Is a directory'],
  ['EINVAL', 22, 'Invalid argument'],
  ['ENFILE', 23, 'Too many open files in system'],
  ['EMFILE', 24, 'Too many open files'],
  ['ENOTTY', 25, 'Inappropriate ioctl for device'],
  ['ETXTBSY', 26, 'Text file busy'],
  ['EFBIG', 27, 'File too large'],
  ['ENOSPC', 28, 'No space left on device'],
  ['ESPIPE', 29, 'Illegal seek'],
  ['EROFS', 30, 'Read-only file system'],
  ['EMLINK', 31, 'Too many links'],
  ['EPIPE', 32, 'Broken pipe'],
  ['EDOM', 33, 'Numerical argument out of domain'],
  ['ERANGE', 34, 'Numerical result out of range'],
  ['EDEADLK', 35, 'Resource deadlock avoided'],
  ['ENAMETOOLONG', 36, 'File name too long'],
  ['ENOLCK', 37, 'No locks available'],
  ['ENOSYS', 38, 'Function not implemented'],
  ['ENOTEMPTY', 39, 'Directory not empty'],
  ['ELOOP', 40, 'Too many levels of symbolic links'],
  ['ENOMSG', 42, 'No message of desired type'],
  ['EIDRM', 43, 'Identifier removed'],
  ['ECHRNG', 44, 'Channel number out of range'],
  ['EL2NSYNC', 45, 'Level 2 not synchronized'],
  ['EL3HLT', 46, 'Level 3 halted'],
  ['EL3RST', 47, 'Level 3 reset'],
  ['ELNRNG', 48, 'Link number out of range'],
  ['EUNATCH', 49, 'Protocol driver not attached'],
  ['ENOCSI', 50, 'No CSI structure available'],
  ['EL2HLT', 51, 'Level 2 halted'],
  ['EBADE', 52, 'Invalid exchange'],
  ['EBADR', 53, 'Invalid request descriptor'],
  ['EXFULL', 54, 'Exchange full'],
  ['ENOANO', 55, 'No anode'],
  ['EBADRQC', 56, 'Invalid request code'],
  ['EBADSLT', 57, 'Invalid slot'],
  ['EBFONT', 59, 'Bad font file format'],
  ['ENOSTR', 60, 'Device not a stream'],
  ['ENODATA', 61, 'No data available'],
  ['ETIME', 62, 'Timer expired'],
  ['ENOSR', 63, 'Out of streams resources'],
  ['ENONET', 64, 'Machine is not on the network'],
  ['ENOPKG', 65, 'Package not installed'],
  ['EREMOTE', 66, 'Object is remote'],
  ['ENOLINK', 67, 'Link has been severed'],
  ['EADV', 68, 'Advertise error'],
  ['ESRMNT', 69, 'Srmount error'],
  ['ECOMM', 70, 'Communication error on send'],
  ['EPROTO', 71, 'Protocol error'],
  ['EMULTIHOP', 72, 'Multihop attempted'],
  ['EDOTDOT', 73, 'RFS specific error'],
  ['EBADMSG', 74, 'Bad message'],
  ['EOVERFLOW', 75, 'Value too large for defined data type'],
  ['ENOTUNIQ', 76, 'Name not unique on network'],
  ['EBADFD', 77, 'File descriptor in bad state'],
  ['EREMCHG', 78, 'Remote address changed'],
  ['ELIBACC', 79, 'Can not access a needed shared library'],
  ['ELIBBAD', 80, 'Accessing a corrupted shared library'],
  ['ELIBSCN', 81, '.lib section in a.out corrupted'],
  ['ELIBMAX', 82, 'Attempting to link in too many shared libraries'],
  ['ELIBEXEC', 83, 'Cannot exec a shared library directly'],
  ['EILSEQ', 84, 'Invalid or incomplete multibyte or wide character'],
  ['ERESTART', 85, 'Interrupted system call should be restarted'],
  ['ESTRPIPE', 86, 'Streams pipe error'],
  ['EUSERS', 87, 'Too many users'],
  ['ENOTSOCK', 88, 'Socket operation on non-socket'],
  ['EDESTADDRREQ', 89, 'Destination address required'],
  ['EMSGSIZE', 90, 'Message too long'],
  ['EPROTOTYPE', 91, 'Protocol wrong type for socket'],
  ['ENOPROTOOPT', 92, 'Protocol not available'],
  ['EPROTONOSUPPORT', 93, 'Protocol not supported'],
  ['ESOCKTNOSUPPORT', 94, 'Socket type not supported'],
  ['EOPNOTSUPP', 95, 'Operation not supported'],
  ['EPFNOSUPPORT', 96, 'Protocol family not supported'],
  ['EAFNOSUPPORT', 97, 'Address family not supported by protocol'],
  ['EADDRINUSE', 98, 'Address already in use'],
  ['EADDRNOTAVAIL', 99, 'Cannot assign requested address'],
  ['ENETDOWN', 100, 'Network is down'],
  ['ENETUNREACH', 101, 'Network is unreachable'],
  ['ENETRESET', 102, 'Network dropped connection on reset'],
  ['ECONNABORTED', 103, 'Software caused connection abort'],
  ['ECONNRESET', 104, 'Connection reset by peer'],
  ['ENOBUFS', 105, 'No buffer space available'],
  ['EISCONN', 106, 'Transport endpoint is already connected'],
  ['ENOTCONN', 107, 'Transport endpoint is not connected'],
  ['ESHUTDOWN', 108, 'Cannot send after transport endpoint shutdown'],
  ['ETOOMANYREFS', 109, 'Too many references: cannot splice'],
  ['ETIMEDOUT', 110, 'Connection timed out'],
  ['ECONNREFUSED', 111, 'Connection refused'],
  ['EHOSTDOWN', 112, 'Host is down'],
  ['EHOSTUNREACH', 113, 'No route to host'],
  ['EALREADY', 114, 'Operation already in progress'],
  ['EINPROGRESS', 115, 'Operation now in progress'],
  ['ESTALE', 116, 'Stale file handle'],
  ['EUCLEAN', 117, 'Structure needs cleaning'],
  ['ENOTNAM', 118, 'Not a XENIX named type file'],
  ['ENAVAIL', 119, 'No XENIX semaphores available'],
  ['EISNAM', 120, 'Is a named type file'],
  ['EREMOTEIO', 121, 'Remote I/O error'],
  ['EDQUOT', 122, 'Disk quota exceeded'],
  ['ENOMEDIUM', 123, 'No medium found'],
  ['EMEDIUMTYPE', 124, 'Wrong medium type'],
  ['ECANCELED', 125, 'Operation canceled'],
  ['ENOKEY', 126, 'Required key not available'],
  ['EKEYEXPIRED', 127, 'Key has expired'],
  ['EKEYREVOKED', 128, 'Key has been revoked'],
  ['EKEYREJECTED', 129, 'Key was rejected by service'],
  ['EOWNERDEAD', 130, 'Owner died'],
  ['ENOTRECOVERABLE', 131, 'State not recoverable'],
  ['ERFKILL', 132, 'Operation not possible due to RF-kill'],
  ['EHWPOISON', 133, 'Memory page has hardware error'],
];

/** Alias → primary name. */
const ERRNO_ALIASES: Readonly<Record<string, string>> = { EWOULDBLOCK: 'EAGAIN', EDEADLOCK: 'EDEADLK', ENOTSUP: 'EOPNOTSUPP' };

/** [name, number, message] of the standard signals, by number (real-time signals are numbers). */
const SIGNALS: readonly (readonly [string, number, string])[] = [
  ['SIGHUP', 1, 'Hangup'],
  ['SIGINT', 2, 'Interrupt'],
  ['SIGQUIT', 3, 'Quit'],
  ['SIGILL', 4, 'Illegal instruction'],
  ['SIGTRAP', 5, 'Trace/breakpoint trap'],
  ['SIGABRT', 6, 'Aborted'],
  ['SIGBUS', 7, 'Bus error'],
  ['SIGFPE', 8, 'Floating point exception'],
  ['SIGKILL', 9, 'Killed'],
  ['SIGUSR1', 10, 'User defined signal 1'],
  ['SIGSEGV', 11, 'Segmentation fault'],
  ['SIGUSR2', 12, 'User defined signal 2'],
  ['SIGPIPE', 13, 'Broken pipe'],
  ['SIGALRM', 14, 'Alarm clock'],
  ['SIGTERM', 15, 'Terminated'],
  ['SIGSTKFLT', 16, 'Stack fault'],
  ['SIGCHLD', 17, 'Child exited'],
  ['SIGCONT', 18, 'Continued'],
  ['SIGSTOP', 19, 'Stopped (signal)'],
  ['SIGTSTP', 20, 'Stopped'],
  ['SIGTTIN', 21, 'Stopped (tty input)'],
  ['SIGTTOU', 22, 'Stopped (tty output)'],
  ['SIGURG', 23, 'Urgent I/O condition'],
  ['SIGXCPU', 24, 'CPU time limit exceeded'],
  ['SIGXFSZ', 25, 'File size limit exceeded'],
  ['SIGVTALRM', 26, 'Virtual timer expired'],
  ['SIGPROF', 27, 'Profiling timer expired'],
  ['SIGWINCH', 28, 'Window changed'],
  ['SIGIO', 29, 'I/O possible'],
  ['SIGPWR', 30, 'Power failure'],
  ['SIGSYS', 31, 'Bad system call'],
];

const SIGNAL_ALIASES: Readonly<Record<string, string>> = { SIGIOT: 'SIGABRT', SIGCLD: 'SIGCHLD', SIGPOLL: 'SIGIO' };
/** glibc's SIGRTMIN and SIGRTMAX on x86-64 Linux (the kernel's first real-time signal is 32; glibc
 * keeps 32 and 33 for itself, so a program's SIGRTMIN is 34). */
export const SIGRTMIN = 34;
export const SIGRTMAX = 64;
/** The highest errno value a syscall can return (-4095..-1 are errors). */
export const MAX_ERRNO = 4095;

function indexTable(rows: readonly (readonly [string, number, string])[], aliases: Readonly<Record<string, string>>) {
  const byName = new Map<string, NamedNumber>();
  const byNumber = new Map<number, NamedNumber>();
  for (const [name, number, message] of rows) {
    const e: NamedNumber = { name, number, message };
    byName.set(name, e);
    byNumber.set(number, e);
  }
  for (const [alias, primary] of Object.entries(aliases)) {
    const e = byName.get(primary);
    if (e) byName.set(alias, e);
  }
  return { byName, byNumber };
}

const errnos = indexTable(ERRNOS, ERRNO_ALIASES);
const signals = indexTable(SIGNALS, SIGNAL_ALIASES);

/** An errno by name (aliases give the primary entry: EWOULDBLOCK → EAGAIN). */
export function errnoByName(name: string): NamedNumber | undefined {
  return errnos.byName.get(name);
}

/** An errno by number, or undefined when Linux gives the number no name. */
export function errnoByNumber(n: number): NamedNumber | undefined {
  return errnos.byNumber.get(n);
}

// Values the kernel uses inside a syscall that is restarted (include/linux/errno.h): never
// returned to a program, but a recording taken at the stop where a signal interrupts the call
// shows them. Named for display only; an injection cannot use them.
const KERNEL_INTERNAL: Readonly<Record<number, string>> = {
  512: 'ERESTARTSYS', 513: 'ERESTARTNOINTR', 514: 'ERESTARTNOHAND', 515: 'ENOIOCTLCMD', 516: 'ERESTART_RESTARTBLOCK',
};

/** The name to show for errno `n`: its errno name, a kernel-internal restart code, or undefined. */
export function errnoLabel(n: number): string | undefined {
  return errnos.byNumber.get(n)?.name ?? KERNEL_INTERNAL[n];
}

/** Every errno name, aliases included. */
export function errnoNames(): string[] {
  return [...errnos.byName.keys()];
}

/**
 * A signal by name: SIGUSR1, SIGRTMIN, SIGRTMIN+3, SIGRTMAX-1 (glibc's numbering), or an alias
 * (SIGIOT → SIGABRT).
 */
export function signalByName(name: string): NamedNumber | undefined {
  const std = signals.byName.get(name);
  if (std) return std;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(name);
  if (!rt) return undefined;
  const off = rt[2] ? Number(rt[3]) * (rt[2] === '+' ? 1 : -1) : 0;
  const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + off;
  return n >= SIGRTMIN && n <= SIGRTMAX ? signalByNumber(n) : undefined;
}

/** A signal by number (1..64): standard signals by name, real-time ones as SIGRTMIN+k. */
export function signalByNumber(n: number): NamedNumber | undefined {
  if (!Number.isInteger(n) || n < 1 || n > SIGRTMAX) return undefined;
  const std = signals.byNumber.get(n);
  if (std) return std;
  if (n < SIGRTMIN) return { name: `SIG${n}`, number: n, message: `Real-time signal ${n} (reserved by glibc)` };
  const k = n - SIGRTMIN;
  return { name: k === 0 ? 'SIGRTMIN' : n === SIGRTMAX ? 'SIGRTMAX' : `SIGRTMIN+${k}`, number: n, message: `Real-time signal ${k}` };
}

/** Every standard signal name, aliases included. */
export function signalNames(): string[] {
  return [...signals.byName.keys()];
}

/** The closest name to a mistyped one (case, one or two edits), for "did you mean" hints. */
export function closestName(input: string, names: Iterable<string>): string | undefined {
  const up = input.toUpperCase();
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    if (n === up) return n;
    const d = editDistance(up, n, bestD);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `cap`) once it reaches `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= cap) return cap;
    prev = cur;
  }
  return Math.min(prev[b.length], cap);
}
