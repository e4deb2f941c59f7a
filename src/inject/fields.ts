// Validators of the fields of an injection, shared by the parser and the builders so that both
// accept and reject exactly the same values. Each throws FieldError with the position of the
// problem inside the field.
import { errnoByName, errnoByNumber, errnoNames, closestName, signalByName, signalByNumber, signalNames, MAX_ERRNO, type NamedNumber } from '../events/errno';
import { FieldError } from './errors';
import { TIMEOUT_SYSCALLS, type TimeUnit, type TimeoutSyscall, type TimeoutTarget, type When } from './types';

/** The largest count strace accepts for first and step (its counters are 16-bit). */
export const WHEN_MAX = 65535;
/** The largest `last` strace accepts. */
export const WHEN_LAST_MAX = 65534;

export const EVERY_CALL: When = { first: 1, last: null, step: 1 };

/** Index of the first character of `s` from `from` that is not a decimal digit. */
function digitsEnd(s: string, from: number): number {
  let i = from;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  return i;
}

function whenNumber(s: string, from: number, to: number, what: string, max: number, min = 1): number {
  if (to === from) throw new FieldError(`when=: ${what} is missing (when=first[..last][+step], e.g. 3, 2+, 2+2, 1..3, 3..11+2)`, from);
  const n = Number(s.slice(from, to));
  if (n < min || n > max) {
    throw new FieldError(n === 0 && min === 1 ? `when=: ${what} must be at least 1 (calls count from 1)` : `when=: ${what} ${s.slice(from, to)} is out of range ${min}..${max}`, from);
  }
  return n;
}

/**
 * strace's when=first[..last][+[step]]: `3` (the third call only), `2+` (the second and every
 * later one), `2+2` (2, 4, 6, ...), `1..3` (1 to 3), `3..11+2` (3, 5, 7, 9, 11). Digits only
 * (strace also takes a sign or leading spaces; replaybook does not).
 */
export function parseWhen(s: string): When {
  const a = digitsEnd(s, 0);
  const first = whenNumber(s, 0, a, 'first', WHEN_MAX);
  let i = a;
  let last: number | null = first;
  let step = 1;
  let ranged = false;
  if (s.startsWith('..', i)) {
    const b = digitsEnd(s, i + 2);
    last = whenNumber(s, i + 2, b, 'last', WHEN_LAST_MAX);
    if (last < first) throw new FieldError(`when=: last (${last}) is before first (${first})`, i + 2);
    i = b;
    ranged = true;
  }
  if (s[i] === '+') {
    const c = digitsEnd(s, i + 1);
    if (c > i + 1) step = whenNumber(s, i + 1, c, 'step', WHEN_MAX);
    if (!ranged) last = null;
    i = c;
  }
  if (i < s.length) {
    throw new FieldError(`when=: unexpected '${s[i]}' (when=first[..last][+step], e.g. 3, 2+, 2+2, 1..3, 3..11+2)`, i);
  }
  return { first, last, step };
}

/** A When given as an object by a builder: the same ranges as parseWhen. */
export function checkWhen(w: When): When {
  const int = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n);
  if (!int(w.first) || w.first < 1 || w.first > WHEN_MAX) throw new FieldError(`when: first must be an integer 1..${WHEN_MAX}`);
  if (w.last !== null && (!int(w.last) || w.last < w.first || w.last > WHEN_LAST_MAX)) {
    throw new FieldError(`when: last must be null or an integer first..${WHEN_LAST_MAX}`);
  }
  if (!int(w.step) || w.step < 1 || w.step > WHEN_MAX) throw new FieldError(`when: step must be an integer 1..${WHEN_MAX}`);
  return { first: w.first, last: w.last, step: w.step };
}

/** Whether call number n (1-based, among the calls matching the rest of the selector) is hit. */
export function whenHits(w: When, n: number): boolean {
  return n >= w.first && (w.last === null || n <= w.last) && (n - w.first) % w.step === 0;
}

/** strace's text for a When. */
export function formatWhen(w: When): string {
  if (w.last === w.first && w.step === 1) return String(w.first);
  const range = w.last === null ? String(w.first) : `${w.first}..${w.last}`;
  if (w.last === null) return `${range}+${w.step === 1 ? '' : w.step}`;
  return w.step === 1 ? range : `${range}+${w.step}`;
}

const UNIT_EXP: Record<TimeUnit, number> = { ns: -3, us: 0, ms: 3, s: 6 };

/**
 * A duration as strace writes delays: a decimal number (1.5, 2e3) with an optional unit s, ms,
 * us or ns; `defaultUnit` when none. Returns whole microseconds (a fraction of a microsecond is
 * refused) and the unit used.
 */
export function parseDuration(s: string, defaultUnit: TimeUnit, what: string): { us: number; unit: TimeUnit } {
  const m = /^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?(ns|us|ms|s)?$/.exec(s);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) {
    const bad = s.length ? badDurationAt(s) : 0;
    throw new FieldError(
      s.length ? `${what}: bad number '${s}' (a duration: 500000, 1.5s, 250ms, 10us, 1000ns; without a unit, ${defaultUnit})` : `${what}: no value`,
      bad,
    );
  }
  const unit = (m[4] as TimeUnit | undefined) ?? defaultUnit;
  const frac = m[2] ?? '';
  const digits = (m[1] + frac).replace(/^0+/, '');
  if (digits === '') return { us: 0, unit };
  let exp = (m[3] ? Number(m[3]) : 0) - frac.length + UNIT_EXP[unit];
  let mant = BigInt(digits);
  // Trailing zeros of the mantissa move into the exponent, so 1.500s is as whole as 1.5s.
  while (mant % 10n === 0n) {
    mant /= 10n;
    exp++;
  }
  if (exp < 0) throw new FieldError(`${what}: ${s} is not a whole number of microseconds`, 0);
  if (exp > 16) throw new FieldError(`${what}: ${s} is too long`, 0);
  const us = mant * 10n ** BigInt(exp);
  if (us > BigInt(Number.MAX_SAFE_INTEGER)) throw new FieldError(`${what}: ${s} is too long`, 0);
  return { us: Number(us), unit };
}

function badDurationAt(s: string): number {
  const m = /^\d*(?:\.\d*)?(?:[eE][+-]?\d+)?/.exec(s);
  const at = m ? m[0].length : 0;
  return at < s.length ? at : 0;
}

/** A duration given as a number of `unit` by a builder, or as text like the parser's. */
export function durationArg(v: number | string, defaultUnit: TimeUnit, what: string): { us: number; unit: TimeUnit } {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new FieldError(`${what}: ${v} is not a duration (a number >= 0)`);
    return parseDuration(numberText(v), defaultUnit, what);
  }
  if (typeof v !== 'string') throw new FieldError(`${what}: expected a number or a string like '1.5s', got ${typeof v}`);
  return parseDuration(v, defaultUnit, what);
}

/** A JS number as plain decimal text (no exponent for the integers a duration is). */
export function numberText(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return BigInt(n).toString();
  return String(n);
}

/** ERRNO by name (EIO, EWOULDBLOCK) or number 1..4095, as strace's error=. */
export function parseErrno(s: string): { errno: number; name: string } {
  if (s === '') throw new FieldError('error=: no errno (a name such as EIO, ECONNREFUSED, or a number 1..4095)');
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > MAX_ERRNO) throw new FieldError(`error=: errno ${s} is out of range 1..${MAX_ERRNO}`);
    return { errno: n, name: errnoByNumber(n)?.name ?? String(n) };
  }
  const e = errnoByName(s);
  if (!e) {
    const hint = closestName(s, errnoNames());
    throw new FieldError(`unknown errno '${s}'`, 0, hint ?? null);
  }
  return { errno: e.number, name: e.name };
}

/** strace's retval=: the success value a call returns instead (0..2^53-1). */
export function parseRetval(s: string): number {
  if (!/^\d+$/.test(s)) {
    throw new FieldError(s === '' ? 'retval=: no value' : `retval=: bad number '${s}' (a decimal value >= 0; for a failure use error=)`);
  }
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new FieldError(`retval=: ${s} is too large`);
  return n;
}

/** SIGNAL by name (SIGUSR1, SIGRTMIN+2) or number 1..64, as strace's signal=. */
export function parseSignal(s: string): NamedNumber {
  if (/^\d+$/.test(s)) {
    const sig = signalByNumber(Number(s));
    if (!sig) throw new FieldError(`signal=: ${s} is out of range 1..64`);
    return sig;
  }
  const sig = signalByName(s);
  if (!sig) {
    const hint = s === '' ? undefined : closestName(s.startsWith('SIG') || s.startsWith('sig') ? s : 'SIG' + s, signalNames());
    throw new FieldError(s === '' ? 'signal=: no signal' : `unknown signal '${s}'`, 0, hint ?? null);
  }
  return sig;
}

/** A recorded pid or tid. */
export function parseId(s: string, key: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 0x7fffffff) {
    throw new FieldError(`${key}=: bad ${key} '${s}' (a recorded ${key}: a number 1..2147483647)`);
  }
  return Number(s);
}

const U64 = 1n << 64n;

/**
 * An argument value: an integer as C writes it (decimal, 0x hex, 0 octal; also 0o, 0b), possibly
 * negative (taken modulo 2^64, as the register holds it); `&V` matches when every bit of V is set.
 */
export function parseArgValue(s: string, key: string): { op: 'eq' | 'all'; value: string } {
  let op: 'eq' | 'all' = 'eq';
  let body = s;
  let at = 0;
  if (body.startsWith('&')) {
    op = 'all';
    body = body.slice(1);
    at = 1;
  }
  const m = /^(-?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9]\d*)$/.exec(body);
  if (!m) {
    throw new FieldError(
      body === '' ? `${key}=: no value` : `${key}=: bad number '${body}' (decimal, 0x hex or 0 octal; &V for "these bits set")`,
      at,
    );
  }
  if (m[2].length > 70) throw new FieldError(`${key}=: ${body} does not fit in 64 bits`, at);
  const lit = m[2];
  const mag = /^0[0-7]+$/.test(lit) ? BigInt('0o' + lit.slice(1)) : BigInt(lit.toLowerCase());
  const v = m[1] ? -mag : mag;
  if (v >= U64 || v < -(1n << 63n)) throw new FieldError(`${key}=: ${body} does not fit in 64 bits`, at);
  return { op, value: (v < 0n ? v + U64 : v).toString() };
}

/** Argument keys: fd, flags, and strace's 1-based arg1..arg6. */
export function isArgKey(key: string): boolean {
  return key === 'fd' || key === 'flags' || /^arg[1-6]$/.test(key);
}

// Resource kinds the recorder writes (native/recorder.cc): with an address or path after ':'...
const RESOURCE_SCHEMES = ['file', 'tcp', 'tcp-listen', 'udp', 'udp-listen', 'unix', 'unix-listen', 'socket', 'socket-listen', 'pipe', 'fd'];
// ...and alone (standard streams, unnamed pipes and socket pairs, anonymous inodes).
const RESOURCE_NAMES = ['stdin', 'stdout', 'stderr', 'pipe', 'socketpair', 'fd', 'eventfd', 'eventpoll', 'timerfd', 'signalfd', 'inotify', 'pidfd', 'io_uring', 'userfaultfd', 'fanotify'];

/**
 * A resource glob as the events table names resources: file:/etc/*.conf, tcp:*:9000,
 * tcp:10.0.0.5:*, tcp:[::1]:443, unix:/run/app.sock, stdout... '*' matches any run of
 * characters. The kind before ':' is checked unless it holds a '*'; a TCP or UDP address
 * without '*' must be host:port.
 */
export function checkResource(s: string, what = 'resource'): string {
  if (s === '') throw new FieldError(`${what}: empty resource pattern (file:/etc/*.conf, tcp:*:9000, stdout...)`);
  const ctl = /[\x00-\x1f\x7f]/.exec(s);
  if (ctl) throw new FieldError(`${what}: control character in the resource pattern`, ctl.index);
  const colon = s.indexOf(':');
  const scheme = colon < 0 ? s : s.slice(0, colon);
  if (scheme.includes('*')) return s;
  if (colon < 0) {
    if (!RESOURCE_NAMES.includes(s)) {
      throw new FieldError(`${what}: unknown resource '${s}' (${RESOURCE_SCHEMES.map((k) => k + ':…').join(', ')}, ${RESOURCE_NAMES.slice(0, 5).join(', ')}…)`);
    }
    return s;
  }
  if (!RESOURCE_SCHEMES.includes(scheme)) {
    const hint = closestName(scheme, RESOURCE_SCHEMES.map((k) => k.toUpperCase()));
    throw new FieldError(`${what}: unknown resource kind '${scheme}:' (${RESOURCE_SCHEMES.join(', ')})`, 0, hint ? hint.toLowerCase() + ':' : null);
  }
  const rest = s.slice(colon + 1);
  if (rest === '') throw new FieldError(`${what}: nothing after '${scheme}:' (use ${scheme}:* for any)`, colon + 1);
  if (scheme === 'file' && !rest.startsWith('/') && !rest.startsWith('*')) {
    throw new FieldError(`${what}: a file resource is an absolute path (file:/etc/app.conf) or starts with '*'`, colon + 1);
  }
  if (/^(tcp|udp)(-listen)?$/.test(scheme)) {
    const portColon = rest.lastIndexOf(':');
    const port = portColon < 0 ? null : rest.slice(portColon + 1);
    if (port === null || portColon === 0) {
      if (!rest.includes('*')) throw new FieldError(`${what}: ${scheme} address must be host:port (${scheme}:10.0.0.5:9000, ${scheme}:*:9000)`, colon + 1);
    } else if (!port.includes('*') && (!/^\d+$/.test(port) || Number(port) > 65535)) {
      throw new FieldError(`${what}: bad port '${port}' (0..65535 or *)`, colon + 1 + portColon + 1);
    }
  }
  return s;
}

/** Whether `resource` matches the glob `pattern` ('*': any run of characters). */
export function globMatch(pattern: string, resource: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === resource;
  const head = parts[0];
  const tail = parts[parts.length - 1];
  if (resource.length < head.length + tail.length || !resource.startsWith(head) || !resource.endsWith(tail)) return false;
  let pos = head.length;
  const end = resource.length - tail.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const at = resource.indexOf(parts[i], pos);
    if (at < 0 || at + parts[i].length > end) return false;
    pos = at + parts[i].length;
  }
  return true;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FLAG = /^--?[^\s=-][^\s=]*$/;

/** Unit a timeout's name suggests: PAYMENT_TIMEOUT_MS → ms, read_timeout_seconds → s. */
export function unitFromName(name: string): TimeUnit | null {
  const m = /(?:^|[^A-Za-z0-9])(ms|msec|msecs|millis|milliseconds|us|usec|usecs|micros|microseconds|ns|nsec|nanos|nanoseconds|s|sec|secs|seconds)$/i.exec(name.replace(/^-+/, '-'));
  if (!m) return null;
  const u = m[1].toLowerCase();
  if (u.startsWith('m') && u !== 'micros' && u !== 'microseconds') return 'ms';
  if (u.startsWith('u') || u.startsWith('micro')) return 'us';
  if (u.startsWith('n')) return 'ns';
  return 's';
}

export function checkEnvName(s: string): string {
  if (!ENV_NAME.test(s)) throw new FieldError(s === '' ? 'env: no variable name' : `env: bad variable name '${s}' (letters, digits and _, not starting with a digit)`);
  return s;
}

export function checkFlag(s: string): string {
  if (!FLAG.test(s)) throw new FieldError(s === '' ? 'arg: no flag' : `arg: bad flag '${s}' (a flag such as --max-time or -t, without '=' or spaces)`);
  return s;
}

export function checkFilePath(path: string): string {
  if (!path.startsWith('/')) throw new FieldError(path === '' ? 'file: no path' : `file: '${path}' is not an absolute path (the path the service opened, as recorded)`);
  const nul = path.indexOf('\0');
  if (nul >= 0) throw new FieldError('file: NUL in the path', nul);
  return path;
}

export function checkFileKey(key: string): string {
  if (key === '') throw new FieldError('file: no key after the path (file:/etc/app.conf#timeout_ms)');
  const ctl = /[\x00-\x1f\x7f]/.exec(key);
  if (ctl) throw new FieldError('file: control character in the key', ctl.index);
  return key;
}

export function checkTimeoutSyscall(s: string): TimeoutSyscall {
  if (!(TIMEOUT_SYSCALLS as readonly string[]).includes(s)) {
    throw new FieldError(`syscall: '${s}' has no timeout replaybook can change (${TIMEOUT_SYSCALLS.join(', ')})`);
  }
  return s as TimeoutSyscall;
}

/** A timeout's new value: syscall targets take a duration (ms by default) or -1/inf for none. */
export function timeoutValue(target: TimeoutTarget, text: string, explicitUnit: TimeUnit | null): { value: string; unit: TimeUnit | null; us: number | null } {
  if (text === '') throw new FieldError('no value');
  if (target.type === 'syscall') {
    if (text === '-1' || text === 'inf' || text === 'infinite' || text === 'none') return { value: '-1', unit: explicitUnit ?? 'ms', us: -1 };
    const m = /^(.*?)(ns|us|ms|s)?$/.exec(text);
    const num = m ? m[1] : text;
    const { us, unit } = parseDuration(text, explicitUnit ?? 'ms', `${target.name} timeout`);
    return { value: num, unit, us };
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) throw new FieldError('NUL in the value', nul);
  const unit = explicitUnit ?? unitFromName(target.type === 'env' ? target.name : target.type === 'arg' ? target.flag : target.key);
  let us: number | null = null;
  if (unit && /^\d+(\.\d+)?$/.test(text)) {
    try {
      us = parseDuration(text, unit, 'value').us;
    } catch {
      us = null;
    }
  }
  return { value: text, unit, us };
}

/** An analyst's label: it becomes the injection's id. */
export function checkLabel(s: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(s)) {
    throw new FieldError(s === '' ? 'label=: empty label' : `label=: bad label '${s}' (up to 64 letters, digits, '_', '.', '-', starting with a letter or digit)`);
  }
  return s;
}
