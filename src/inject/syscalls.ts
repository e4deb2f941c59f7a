// Which syscalls an injection's set names. Names come from the engine's own table
// (native/syscalls.cc, through the addon), so a name the engine does not know is rejected here
// too. strace's classes (%file, %network, ...) are defined as strace's manual defines them;
// %file and %desc straight from the table's argument kinds, the others from lists of names
// intersected with the table.
import { nativeAddon } from '../addon';
import type { SyscallRow } from '../engine/native';
import { closestName } from './errno';
import { FieldError } from './errors';

interface Table {
  rows: SyscallRow[];
  byName: Map<string, SyscallRow>;
}

let table: Table | undefined;

/** The engine's syscall table, sorted by number. */
export function syscallRows(): SyscallRow[] {
  return loadTable().rows;
}

function loadTable(): Table {
  if (!table) {
    const rows = nativeAddon()
      .syscallTable()
      .slice()
      .sort((a, b) => a.nr - b.nr);
    table = { rows, byName: new Map(rows.map((r) => [r.name, r])) };
  }
  return table;
}

export function syscallByName(name: string): SyscallRow | undefined {
  return loadTable().byName.get(name);
}

function words(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}

// strace's classes by the descriptions of its manual (strace(1), -e trace=).
const NAMED_CLASSES: Record<string, string[]> = {
  // "process lifecycle (creation, exec, termination)"; the kill family can end a process.
  process: words(`clone clone3 fork vfork execve execveat exit exit_group wait4 waitid kill tkill tgkill
    rt_sigqueueinfo rt_tgsigqueueinfo pidfd_send_signal unshare`),
  // "all the network related system calls"
  network: words(`socket socketpair bind listen connect accept accept4 getsockname getpeername sendto
    recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown setsockopt getsockopt`),
  // "all signal related system calls"
  signal: words(`rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigsuspend rt_sigtimedwait
    rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack kill tkill tgkill pause signalfd signalfd4
    pidfd_send_signal`),
  // "all IPC related system calls"
  ipc: words(`shmget shmat shmdt shmctl semget semop semtimedop semctl msgget msgsnd msgrcv msgctl`),
  // "all memory mapping related system calls"
  memory: words(`mmap munmap mremap mprotect madvise brk msync mincore mlock mlock2 munlock mlockall
    munlockall remap_file_pages pkey_mprotect mbind get_mempolicy set_mempolicy migrate_pages
    move_pages shmat shmdt`),
  // "read or modify user and group identifiers or capability sets"
  creds: words(`getuid geteuid getgid getegid getresuid getresgid getgroups setuid setgid setreuid
    setregid setresuid setresgid setgroups setfsuid setfsgid capget capset`),
  stat: ['stat'],
  lstat: ['lstat'],
  fstat: ['fstat', 'newfstatat', 'statx'],
  '%stat': ['stat', 'lstat', 'fstat', 'newfstatat', 'statx'],
  statfs: ['statfs'],
  fstatfs: ['fstatfs'],
  '%statfs': ['statfs', 'fstatfs', 'ustat'],
  // "read or modify system clocks"
  clock: words(`clock_gettime clock_settime clock_getres clock_adjtime gettimeofday settimeofday time adjtimex`),
  // "always succeed and have no arguments" (x86-64)
  pure: words(`getpid getppid gettid getuid geteuid getgid getegid getpgrp`),
};
NAMED_CLASSES.net = NAMED_CLASSES.network;

/** Every class name accepted after '%'. */
export const SYSCALL_CLASS_NAMES = ['file', 'desc', ...Object.keys(NAMED_CLASSES)].sort();

function classMembers(cls: string): SyscallRow[] | undefined {
  const rows = loadTable().rows;
  // "take a file name as an argument"
  if (cls === 'file') return rows.filter((r) => r.pathArg >= 0);
  // "file descriptor related": takes, returns or closes an fd (dirfd included)
  if (cls === 'desc') return rows.filter((r) => r.fdArg >= 0 || r.dirfdArg >= 0 || r.fdEffect !== 'none');
  const names = NAMED_CLASSES[cls];
  if (!names) return undefined;
  const set = new Set(names);
  return rows.filter((r) => set.has(r.name));
}

export interface ResolvedSet {
  syscalls: string[];
  nrs: number[];
}

/**
 * Resolves strace's syscall_set: `[!]item[,item...]`, an item being a syscall name, `%class`
 * (strace's classes; the bare `file`, `network`... that strace still accepts are not), `/regex`
 * (matched against names, unanchored) or `all`. `!` negates the whole set. Untraced syscalls
 * (never stopped by the engine) cannot be named; classes, regexes and negations leave them out.
 * Throws FieldError at the offending item.
 */
export function resolveSet(text: string): ResolvedSet {
  if (text === '') throw new FieldError('empty syscall set: name a syscall (read), a class (%network) or all');
  const rows = loadTable().rows;
  let body = text;
  let base = 0;
  const negate = body.startsWith('!');
  if (negate) {
    body = body.slice(1);
    base = 1;
    if (body === '') throw new FieldError("empty syscall set after '!'", 1);
  }
  const chosen = new Set<SyscallRow>();
  let pos = base;
  for (const item of body.split(',')) {
    const at = pos;
    pos += item.length + 1;
    if (item === '') throw new FieldError("empty item in the syscall set (two commas, or a comma at an end)", at);
    if (item === 'all') {
      for (const r of rows) if (r.cls !== 'untraced') chosen.add(r);
    } else if (item.startsWith('%')) {
      const cls = item.slice(1);
      const members = classMembers(cls);
      if (!members) throw new FieldError(`unknown syscall class '${item}' (${SYSCALL_CLASS_NAMES.map((c) => '%' + c).join(' ')})`, at);
      const traced = members.filter((r) => r.cls !== 'untraced');
      if (traced.length === 0) throw new FieldError(`class '${item}' has no syscall the replay stops at`, at);
      for (const r of traced) chosen.add(r);
    } else if (item.startsWith('/')) {
      let re: RegExp;
      try {
        re = new RegExp(item.slice(1));
      } catch (e) {
        throw new FieldError(`bad regular expression '${item.slice(1)}': ${(e as Error).message}`, at + 1);
      }
      const hit = rows.filter((r) => r.cls !== 'untraced' && re.test(r.name));
      if (hit.length === 0) throw new FieldError(`regular expression '${item.slice(1)}' matches no syscall the replay stops at`, at + 1);
      for (const r of hit) chosen.add(r);
    } else {
      const r = loadTable().byName.get(item);
      if (!r) {
        const hint = closestSyscall(item);
        throw new FieldError(`unknown syscall '${item}'`, at, hint ?? null);
      }
      if (r.cls === 'untraced') {
        throw new FieldError(`'${item}' runs untraced during replay (never stopped): nothing can be injected into it`, at);
      }
      chosen.add(r);
    }
  }
  const result = negate ? rows.filter((r) => r.cls !== 'untraced' && !chosen.has(r)) : rows.filter((r) => chosen.has(r));
  if (result.length === 0) throw new FieldError('the syscall set selects no syscall', 0);
  return { syscalls: result.map((r) => r.name), nrs: result.map((r) => r.nr) };
}

function closestSyscall(name: string): string | undefined {
  const names = loadTable().rows.map((r) => r.name);
  const lower = name.toLowerCase();
  if (lower !== name && names.includes(lower)) return lower;
  const hit = closestName(name, names.map((n) => n.toUpperCase()));
  return hit?.toLowerCase();
}

// The argument that holds a call's flags, 0-based, for the calls that have one (Linux x86-64
// signatures). `flags=` resolves through this table.
const FLAGS_ARG: Record<string, number> = {
  open: 1, openat: 2, accept4: 3, recvfrom: 3, sendto: 3, recvmsg: 2, sendmsg: 2, recvmmsg: 3,
  sendmmsg: 3, pipe2: 1, dup3: 2, eventfd2: 1, epoll_create1: 0, inotify_init1: 0, signalfd4: 3,
  timerfd_create: 1, timerfd_settime: 1, memfd_create: 1, getrandom: 2, renameat2: 4, statx: 2,
  newfstatat: 3, unlinkat: 2, faccessat2: 3, fchownat: 4, fchmodat2: 3, linkat: 4, utimensat: 3,
  mmap: 3, msync: 2, mlock2: 2, preadv2: 5, pwritev2: 5, splice: 5, tee: 3, sync_file_range: 3,
  clone: 0, umount2: 1, mount: 3, copy_file_range: 5, close_range: 2, setxattr: 4, lsetxattr: 4,
  fsetxattr: 4, membarrier: 1, pidfd_open: 1, pidfd_getfd: 2, pidfd_send_signal: 3,
  clock_nanosleep: 1,
};

/**
 * The 0-based argument index `key` (fd, flags, arg1..arg6) designates for every syscall of a
 * set; it must be the same for all of them.
 */
export function argIndex(key: string, syscalls: string[]): number {
  const per = new Map<string, number>();
  const lacking: string[] = [];
  const argN = /^arg([1-6])$/.exec(key);
  for (const name of syscalls) {
    const row = loadTable().byName.get(name);
    let idx = -1;
    if (key === 'fd') idx = row ? row.fdArg : -1;
    else if (key === 'flags') idx = FLAGS_ARG[name] ?? -1;
    else if (argN) idx = row && Number(argN[1]) <= row.nargs ? Number(argN[1]) - 1 : -1;
    if (idx < 0) lacking.push(name);
    else per.set(name, idx);
  }
  if (lacking.length) {
    const what = key === 'fd' ? 'an fd argument' : key === 'flags' ? 'a flags argument' : `a ${ordinal(Number(argN?.[1]))} argument`;
    const shown = lacking.slice(0, 6).join(', ') + (lacking.length > 6 ? `, … (${lacking.length} in all)` : '');
    throw new FieldError(`${key}=: ${shown} ${lacking.length === 1 ? 'has' : 'have'} no ${what.replace(/^an? /, '')}` + (key === 'fd' ? ' (use argN=)' : ''));
  }
  const distinct = [...new Set(per.values())];
  if (distinct.length > 1) {
    const byIdx = distinct.map((i) => `${[...per].filter(([, v]) => v === i).map(([n]) => n).slice(0, 3).join(', ')} (argument ${i + 1})`);
    throw new FieldError(`${key}= is not the same argument in every syscall of the set: ${byIdx.join('; ')}; use argN= or a narrower set`);
  }
  return distinct[0];
}

function ordinal(n: number): string {
  return n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`;
}
