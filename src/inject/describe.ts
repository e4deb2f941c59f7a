// One English sentence per injection, for notebooks, tables and run reports.
import { errnoByNumber } from '../events/errno';
import type { Injection, Selector, When } from './types';

/** 500 µs, 250 ms, 1.5 s, 3 s, 2 min 30 s. */
export function formatUs(us: number): string {
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${trim(us / 1000)} ms`;
  if (us < 120_000_000) return `${trim(us / 1_000_000)} s`;
  const s = Math.round(us / 1_000_000);
  return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}

function trim(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

function ordinal(n: number): string {
  const t = n % 100;
  if (t >= 11 && t <= 13) return `${n}th`;
  return `${n}${['th', 'st', 'nd', 'rd'][n % 10] ?? 'th'}`;
}

/** strace's when= in words: "every call", "the 3rd call", "every 2nd call from the 3rd to the 11th". */
export function describeWhen(w: When): string {
  if (w.first === 1 && w.last === null && w.step === 1) return 'every call';
  if (w.last === w.first) return `the ${ordinal(w.first)} call`;
  const every = w.step === 1 ? 'every call' : `every ${ordinal(w.step)} call`;
  if (w.last === null) return `${every} from the ${ordinal(w.first)} on`;
  return `${every} from the ${ordinal(w.first)} to the ${ordinal(w.last)}`;
}

/** fd and small values in decimal (negative ones as such: -100), flags and bit masks in hex. */
function argText(key: string, op: 'eq' | 'all', value: string): string {
  const v = BigInt(value);
  const signed = v >= 1n << 63n ? v - (1n << 64n) : v;
  if (op === 'eq' && (key === 'fd' || (signed >= -4096n && signed <= 9n))) return signed.toString();
  return '0x' + v.toString(16);
}

function calls(s: Selector): string {
  const what = s.set === s.syscalls.join(',') ? s.syscalls.join('/') : `${s.set} (${s.syscalls.length} syscall${s.syscalls.length === 1 ? '' : 's'})`;
  const where: string[] = [];
  if (s.resource !== null) where.push(`on ${s.resource}`);
  for (const a of s.args) where.push(`with ${a.key} ${a.op === 'all' ? 'having bits' : '='} ${argText(a.key, a.op, a.value)}`);
  if (s.pid !== null) where.push(`in process ${s.pid}`);
  if (s.tid !== null) where.push(`in thread ${s.tid}`);
  return `${what}${where.length ? ' ' + where.join(' ') : ''}, ${describeWhen(s.when)}`;
}

/**
 * What an injection does, in one sentence: "connect on tcp:*:9000 fails with ECONNREFUSED
 * (Connection refused), every call". Takes the plain object (as stored or sent to the engine).
 */
export function describeInjection(i: Injection): string {
  switch (i.kind) {
    case 'delay': {
      const parts: string[] = [];
      if (i.enterUs > 0 || i.exitUs === 0) parts.push(`${formatUs(i.enterUs)} before it is served`);
      if (i.exitUs > 0) parts.push(`${formatUs(i.exitUs)} after`);
      return `hold ${calls(i.select)}: ${parts.join(' and ')}`;
    }
    case 'fail': {
      if (i.errno === null) return `${calls(i.select)}: returns ${i.retval} instead of its recorded result`;
      const msg = errnoByNumber(i.errno)?.message;
      return `${calls(i.select)}: fails with ${i.errnoName ?? i.errno}${msg ? ` (${msg})` : ''}`;
    }
    case 'signal':
      return `${calls(i.select)}: ${i.signalName} is delivered as it starts`;
    case 'latency':
      return `${i.resource} answers ${formatUs(i.us)} later: recorded data from it arrives ${formatUs(i.us)} late`;
    case 'timeout': {
      const t = i.target;
      const inUnit = i.us !== null && i.us >= 0 && t.type !== 'syscall' ? ` (${formatUs(i.us)})` : '';
      switch (t.type) {
        case 'env':
          return `environment variable ${t.name} becomes ${i.value}${inUnit}`;
        case 'arg':
          return `command-line flag ${t.flag} becomes ${i.value}${inUnit}`;
        case 'file':
          return `${t.key} in ${t.path} becomes ${i.value}${inUnit}`;
        case 'syscall': {
          const what = t.name.startsWith('SO_') ? `${t.name} socket timeouts` : `${t.name} timeouts`;
          if (i.us === -1) return `${what} become infinite (wait until the data arrives)`;
          return `${what} become ${formatUs(i.us ?? 0)}`;
        }
      }
    }
  }
}
