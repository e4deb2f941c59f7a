// What a syscall is about, for colouring charts: file, network, time, process, memory, other,
// derived from the class flags of its row in the syscall table (src/events/syscalls.ts).
import { errnoLabel } from '../events/errno';
import { syscallByName, type SyscallInfo } from '../events/syscalls';

export const SYSCALL_CLASSES = ['file', 'network', 'time', 'process', 'memory', 'other'] as const;
export type SyscallClass = (typeof SYSCALL_CLASSES)[number];

/** Colours per class (colour-blind friendly Tableau 10 hues; red is kept for failures). */
export const CLASS_COLORS: Record<SyscallClass, string> = {
  file: '#4e79a7',
  network: '#f28e2b',
  time: '#76b7b2',
  process: '#b07aa1',
  memory: '#59a14f',
  other: '#9c9c9c',
};

/** Stroke of a failed call (ret < 0). */
export const FAILURE_COLOR = '#d62728';

/** A call's class from its row of the syscall table: its strace class, else what it acts on. */
function classOf(row: SyscallInfo): SyscallClass {
  const t = new Set(row.traits);
  if (t.has('net')) return 'network';
  if (t.has('clock') || t.has('timer')) return 'time';
  if (t.has('proc') || t.has('sig') || t.has('creds') || t.has('task')) return 'process';
  if (t.has('mem') || t.has('vm')) return 'memory';
  if (t.has('fs') || row.pathArg >= 0 || row.fdArg >= 0 || row.dirfdArg >= 0 || row.fdEffect !== 'none') return 'file';
  return 'other';
}

function classOfResource(resource: string): SyscallClass | null {
  if (!resource) return null;
  const colon = resource.indexOf(':');
  const scheme = colon >= 0 ? resource.slice(0, colon) : resource;
  switch (scheme) {
    case 'tcp':
    case 'tcp6':
    case 'udp':
    case 'udp6':
    case 'unix':
    case 'socket':
    case 'netlink':
      return 'network';
    case 'file':
    case 'dir':
    case 'pipe':
    case 'fifo':
    case 'stdin':
    case 'stdout':
    case 'stderr':
    case 'tty':
    case 'dev':
    case 'memfd':
      return 'file';
    case 'timerfd':
      return 'time';
    case 'signalfd':
    case 'pidfd':
      return 'process';
    default:
      return null;
  }
}

/**
 * The class of a syscall, from its name and (for fd-generic calls such as read, write, close,
 * poll) the resource its fd designates. Non-syscall event kinds map as signal/exit → process,
 * late_data → network.
 */
export function syscallClass(name: string, resource = '', kind = 'syscall'): SyscallClass {
  if (kind === 'signal' || kind === 'exit') return 'process';
  if (kind === 'late_data') return 'network';
  if (kind === 'instruction') return 'time'; // rdtsc, rdtscp
  const row = syscallByName(name);
  if (!row) return 'other';
  if (row.traits.includes('generic')) {
    const byRes = classOfResource(resource);
    if (byRes) return byRes;
    if (row.traits.includes('ready')) return 'network'; // a wait on unnamed fds: most often sockets
    return row.traits.includes('fstat_like') ? 'file' : 'other';
  }
  let cls = BY_ROW.get(row);
  if (!cls) BY_ROW.set(row, (cls = classOf(row))); // charts ask once per event
  return cls;
}

const BY_ROW = new Map<SyscallInfo, SyscallClass>();

/** `-110` → `-110 ETIMEDOUT`; other values unchanged. For display. */
export function formatRet(ret: bigint): string {
  if (ret < 0n && ret >= -4095n) {
    const name = errnoLabel(Number(-ret));
    return name ? `${ret} ${name}` : String(ret);
  }
  return String(ret);
}

