// Which syscalls an injection's set names. Names, classes and argument roles come from the
// engine's syscall table (src/events/syscalls.ts, generated from native/syscalls.cc), so a name
// the engine does not know is rejected here too. strace's classes (%file, %network, ...) are
// defined as strace's manual defines them: %file and %desc from the table's argument kinds, the
// others from the class flags of each row.
import { closestName } from '../events/errno';
import { syscallByName as rowByName, syscallRows as tableRows, type SyscallInfo, type Trait } from '../events/syscalls';
import { FieldError } from './errors';

export { syscallByName, syscallRows } from '../events/syscalls';

type SyscallRow = SyscallInfo;

// strace's classes by the descriptions of its manual (strace(1), -e trace=), as the class flags
// of the table's rows.
const NAMED_CLASSES: Record<string, readonly Trait[]> = {
  process: ['proc'], // "process lifecycle (creation, exec, termination)"
  network: ['net'], // "all the network related system calls"
  net: ['net'],
  signal: ['sig'], // "all signal related system calls"
  ipc: ['ipc'], // "all IPC related system calls"
  memory: ['mem'], // "all memory mapping related system calls"
  creds: ['creds'], // "read or modify user and group identifiers or capability sets"
  stat: ['stat_like'],
  lstat: ['lstat_like'],
  fstat: ['fstat_like'],
  '%stat': ['stat_like', 'lstat_like', 'fstat_like'],
  statfs: ['statfs_like'],
  fstatfs: ['fstatfs_like'],
  '%statfs': ['statfs_like', 'fstatfs_like'],
  clock: ['clock'], // "read or modify system clocks"
  pure: ['pure'], // "always succeed and have no arguments"
};

/** Every class name accepted after '%'. */
export const SYSCALL_CLASS_NAMES = ['file', 'desc', ...Object.keys(NAMED_CLASSES)].sort();

function classMembers(cls: string): SyscallRow[] | undefined {
  const rows = tableRows();
  // "take a file name as an argument"
  if (cls === 'file') return rows.filter((r) => r.pathArg >= 0);
  // "file descriptor related": takes, returns or closes an fd (dirfd included)
  if (cls === 'desc') return rows.filter((r) => r.fdArg >= 0 || r.dirfdArg >= 0 || r.fdEffect !== 'none');
  const traits = NAMED_CLASSES[cls];
  if (!traits) return undefined;
  return rows.filter((r) => traits.some((t) => r.traits.includes(t)));
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
  const rows = tableRows();
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
      const r = rowByName(item);
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
  const names = tableRows().map((r) => r.name);
  const lower = name.toLowerCase();
  if (lower !== name && names.includes(lower)) return lower;
  const hit = closestName(name, names.map((n) => n.toUpperCase()));
  return hit?.toLowerCase();
}

/**
 * The 0-based argument index `key` (fd, flags, arg1..arg6) designates for every syscall of a
 * set; it must be the same for all of them.
 */
export function argIndex(key: string, syscalls: string[]): number {
  const per = new Map<string, number>();
  const lacking: string[] = [];
  const argN = /^arg([1-6])$/.exec(key);
  for (const name of syscalls) {
    const row = rowByName(name);
    let idx = -1;
    if (key === 'fd') idx = row ? row.fdArg : -1;
    else if (key === 'flags') idx = row ? row.args.findIndex((a) => a.role === 'flags') : -1;
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
