// Builders for notebook cells and programs: the same injections as the CLI forms, validated by
// the same field checks, with errors that name the call.
//
//   fail('connect', 'ECONNREFUSED', { resource: 'tcp:*:9000' })
//   fail('read', { retval: 0 }, { fd: 3, when: '2+' })
//   delay('poll', { enterUs: 500000 })          delay('recvfrom', '500ms', { when: 3 })
//   latency('tcp:*:9000', 3_000_000)            latency('tcp:*:9000', '3s')
//   timeout('env:PAYMENT_TIMEOUT_MS', 5000)     timeout('arg:--max-time', 5)
//   timeout('file:/etc/app.conf#timeout_ms', 5000)
//   timeout({ type: 'file', path: '/srv/a#b.ini', key: 'net.timeout' }, '5s')
//   timeout('syscall:poll', 5000)               (ms; '5s', -1 for no timeout)
import { inspect } from 'node:util';
import { FieldError, InjectionSpecError } from './errors';
import {
  EVERY_CALL,
  checkEnvName,
  checkFileKey,
  checkFilePath,
  checkFlag,
  checkLabel,
  checkResource,
  checkTimeoutSyscall,
  checkWhen,
  durationArg,
  numberText,
  parseArgValue,
  parseErrno,
  parseId,
  parseRetval,
  parseSignal,
  parseWhen,
  timeoutValue,
} from './fields';
import { finish, syscallInjections, type SyscallParts } from './parse';
import { argIndex, resolveSet } from './syscalls';
import type {
  DelayInjection,
  FailInjection,
  Injection,
  LatencyInjection,
  Selector,
  SignalInjection,
  TimeUnit,
  TimeoutInjection,
  TimeoutTarget,
  When,
} from './types';

type ArgValue = number | string | bigint;

/** Which calls a delay, fail or signal applies to, besides its syscall set. */
export interface SelectorOptions {
  /** strace's when=: 3, '2+', '2+2', '1..3', '3..11+2', or { first, last, step }. */
  when?: number | string | When;
  /** Recorded process id. */
  pid?: number;
  /** Recorded thread id. */
  tid?: number;
  /** Resource glob: 'tcp:*:9000', 'file:/etc/*.conf'. */
  resource?: string;
  /** Value of the call's fd argument. */
  fd?: ArgValue;
  /** Value of its flags argument; '&0x80000' for "these bits set". */
  flags?: ArgValue;
  /** Values by strace's 1-based argument number: { arg2: 4096 }. */
  args?: { [K in 'arg1' | 'arg2' | 'arg3' | 'arg4' | 'arg5' | 'arg6']?: ArgValue };
  /** Becomes the injection's id. */
  label?: string;
}

export interface DelayOptions extends SelectorOptions {
  /** Held before the call is served: microseconds, or '500ms', '1.5s'. */
  enterUs?: number | string;
  /** Held after it is served. */
  exitUs?: number | string;
}

const SELECTOR_OPTIONS = ['when', 'pid', 'tid', 'resource', 'fd', 'flags', 'args', 'label'];

function callText(name: string, args: unknown[]): string {
  const shown = args.filter((a, i) => !(a === undefined && i === args.length - 1));
  return `${name}(${shown.map((a) => inspect(a, { breakLength: Infinity, depth: 4 })).join(', ')})`;
}

/** Runs a builder, turning a FieldError into an InjectionSpecError that names the call. */
function building<T>(name: string, args: unknown[], f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof FieldError) {
      const call = callText(name, args);
      throw new InjectionSpecError(call, call, null, e.reason, e.hint);
    }
    throw e;
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkKeys(o: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new FieldError(`unknown ${what} '${k}' (${allowed.join(', ')})`);
  }
}

function argText(v: unknown, key: string): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new FieldError(`${key}: ${v} is not an integer (give large values as a bigint or a string)`);
    return String(v);
  }
  if (typeof v === 'string') return v;
  throw new FieldError(`${key}: expected a number, bigint or string, got ${typeof v}`);
}

function whenOf(w: unknown): When {
  if (w === undefined) return EVERY_CALL;
  if (typeof w === 'number') return parseWhen(String(w));
  if (typeof w === 'string') return parseWhen(w);
  if (isObject(w)) {
    checkKeys(w, ['first', 'last', 'step'], 'when field');
    return checkWhen({ first: w.first as number, last: (w.last ?? null) as number | null, step: (w.step ?? 1) as number });
  }
  throw new FieldError(`when: expected a number, a string such as '2+' or { first, last, step }, got ${typeof w}`);
}

function idOf(v: unknown, key: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' && typeof v !== 'string') throw new FieldError(`${key}: expected a number`);
  return parseId(String(v), key);
}

/** The parts common to delay, fail and signal: the resolved set and the selector options. */
function selectorParts(set: unknown, opts: unknown, extra: string[] = []): SyscallParts {
  if (typeof set !== 'string') throw new FieldError(`the syscall set must be a string ('read', 'connect,sendto', '%network'), got ${typeof set}`);
  const o: Record<string, unknown> = opts === undefined ? {} : isObject(opts) ? opts : {};
  if (opts !== undefined && !isObject(opts)) throw new FieldError('options must be an object ({ when, pid, tid, resource, fd, flags, args, label })');
  checkKeys(o, [...SELECTOR_OPTIONS, ...extra], 'option');
  const resolved = resolveSet(set);
  const select: Selector = {
    set,
    syscalls: resolved.syscalls,
    nrs: resolved.nrs,
    pid: idOf(o.pid, 'pid'),
    tid: idOf(o.tid, 'tid'),
    resource: o.resource === undefined || o.resource === null ? null : checkResource(String(o.resource)),
    args: [],
    when: whenOf(o.when),
  };
  const addArg = (key: string, v: unknown) => {
    const { op, value } = parseArgValue(argText(v, key), key);
    select.args.push({ key, index: argIndex(key, select.syscalls), op, value });
  };
  if (o.fd !== undefined) addArg('fd', o.fd);
  if (o.flags !== undefined) addArg('flags', o.flags);
  if (o.args !== undefined) {
    if (!isObject(o.args)) throw new FieldError('args: expected an object such as { arg2: 4096 }');
    checkKeys(o.args, ['arg1', 'arg2', 'arg3', 'arg4', 'arg5', 'arg6'], 'argument');
    for (const [k, v] of Object.entries(o.args)) if (v !== undefined) addArg(k, v);
  }
  const label = o.label === undefined || o.label === null ? null : checkLabel(String(o.label));
  return { select, label, error: null, retval: null, signal: null, enterUs: null, exitUs: null };
}

function never(): never {
  throw new FieldError('nothing to inject');
}

/**
 * Holds matching calls: `delay('poll', { enterUs: 500000 })`, `delay('read', '200ms', { fd: 3 })`
 * (a number or string alone is the delay on entry). Microseconds, or text with a unit.
 */
export function delay(set: string, amount: number | string | DelayOptions, opts?: SelectorOptions): DelayInjection {
  return building('delay', [set, amount, opts], () => {
    let enter: number | string | undefined;
    let exit: number | string | undefined;
    let sel: unknown = opts;
    if (typeof amount === 'number' || typeof amount === 'string') {
      enter = amount;
    } else if (isObject(amount)) {
      if (opts !== undefined) throw new FieldError('give the selector options in the same object as enterUs/exitUs');
      const { enterUs, exitUs, ...rest } = amount as DelayOptions;
      enter = enterUs;
      exit = exitUs;
      sel = rest;
      if (enter === undefined && exit === undefined) throw new FieldError('delay: give enterUs, exitUs or both');
    } else {
      throw new FieldError('delay: expected microseconds, a duration such as \'500ms\', or { enterUs, exitUs }');
    }
    const parts = selectorParts(set, sel);
    parts.enterUs = enter === undefined ? null : durationArg(enter, 'us', 'enterUs').us;
    parts.exitUs = exit === undefined ? null : durationArg(exit, 'us', 'exitUs').us;
    return syscallInjections(parts, never)[0] as DelayInjection;
  });
}

/**
 * Makes matching calls fail with an errno (a name such as 'ECONNREFUSED', or a number), or return
 * a success value instead ({ retval: 0 }: strace's retval=).
 */
export function fail(set: string, error: string | number | { retval: number }, opts?: SelectorOptions): FailInjection {
  return building('fail', [set, error, opts], () => {
    const parts = selectorParts(set, opts);
    if (typeof error === 'string') parts.error = parseErrno(error);
    else if (typeof error === 'number') parts.error = parseErrno(String(error));
    else if (isObject(error)) {
      checkKeys(error, ['retval'], 'field');
      parts.retval = parseRetval(String((error as { retval: unknown }).retval));
    } else throw new FieldError("fail: expected an errno ('EIO', 5) or { retval: N }");
    return syscallInjections(parts, never)[0] as FailInjection;
  });
}

/** Delivers a signal when a matching call starts (strace's signal=). */
export function signal(set: string, sig: string | number, opts?: SelectorOptions): SignalInjection {
  return building('signal', [set, sig, opts], () => {
    const parts = selectorParts(set, opts);
    if (typeof sig !== 'string' && typeof sig !== 'number') throw new FieldError("signal: expected a name ('SIGUSR1') or a number");
    parts.signal = parseSignal(String(sig));
    return syscallInjections(parts, never)[0] as SignalInjection;
  });
}

/**
 * The outside answers later: recorded data from resources matching the glob arrives `us` later
 * on the virtual clock (`latency('tcp:*:9000', 3_000_000)`, or `'3s'`).
 */
export function latency(resource: string, us: number | string, opts?: { label?: string }): LatencyInjection {
  return building('latency', [resource, us, opts], () => {
    if (typeof resource !== 'string') throw new FieldError('latency: the resource must be a string such as \'tcp:*:9000\'');
    const o = isObject(opts) ? opts : {};
    checkKeys(o, ['label'], 'option');
    const label = o.label === undefined ? null : checkLabel(String(o.label));
    return finish<LatencyInjection>({ kind: 'latency', resource: checkResource(resource), us: durationArg(us, 'us', 'latency').us }, label);
  });
}

function targetOf(t: unknown): TimeoutTarget {
  if (typeof t === 'string') {
    const colon = t.indexOf(':');
    const kind = colon < 0 ? '' : t.slice(0, colon);
    const rest = t.slice(colon + 1);
    switch (kind) {
      case 'env':
        return { type: 'env', name: checkEnvName(rest) };
      case 'arg':
        return { type: 'arg', flag: checkFlag(rest) };
      case 'syscall':
        return { type: 'syscall', name: checkTimeoutSyscall(rest) };
      case 'file': {
        const hash = rest.indexOf('#');
        if (hash < 0) throw new FieldError("file: no '#key' after the path (file:/etc/app.conf#timeout_ms)");
        return { type: 'file', path: checkFilePath(rest.slice(0, hash)), key: checkFileKey(rest.slice(hash + 1)) };
      }
      default:
        throw new FieldError(`unknown timeout target '${t}' (env:NAME, arg:--flag, file:PATH#key, syscall:NAME)`);
    }
  }
  if (isObject(t)) {
    switch (t.type) {
      case 'env':
        checkKeys(t, ['type', 'name'], 'target field');
        return { type: 'env', name: checkEnvName(String(t.name)) };
      case 'arg':
        checkKeys(t, ['type', 'flag'], 'target field');
        return { type: 'arg', flag: checkFlag(String(t.flag)) };
      case 'file':
        checkKeys(t, ['type', 'path', 'key'], 'target field');
        return { type: 'file', path: checkFilePath(String(t.path)), key: checkFileKey(String(t.key)) };
      case 'syscall':
        checkKeys(t, ['type', 'name'], 'target field');
        return { type: 'syscall', name: checkTimeoutSyscall(String(t.name)) };
    }
  }
  throw new FieldError("timeout: the target is 'env:NAME', 'arg:--flag', 'file:PATH#key', 'syscall:NAME' or { type, ... }");
}

const UNITS: TimeUnit[] = ['ns', 'us', 'ms', 's'];

/**
 * A new value for a named timeout: `timeout('env:PAYMENT_TIMEOUT_MS', 5000)`,
 * `timeout('arg:--max-time', 5)`, `timeout('file:/etc/app.conf#timeout_ms', 5000)`,
 * `timeout('syscall:poll', 5000)`. env/arg/file values are written as given (the service's own
 * unit; `unit` only documents it); syscall values are ms unless `unit` or a suffix ('5s') says
 * otherwise, -1 for no timeout.
 */
export function timeout(target: string | TimeoutTarget, value: number | string, opts?: { unit?: TimeUnit; label?: string }): TimeoutInjection {
  return building('timeout', [target, value, opts], () => {
    const t = targetOf(target);
    const o = isObject(opts) ? opts : {};
    checkKeys(o, ['unit', 'label'], 'option');
    if (o.unit !== undefined && !UNITS.includes(o.unit as TimeUnit)) throw new FieldError(`unit: '${String(o.unit)}' is not one of ${UNITS.join(', ')}`);
    const unit = (o.unit as TimeUnit | undefined) ?? null;
    let text: string;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new FieldError(`timeout: ${value} is not a value`);
      text = numberText(value);
    } else if (typeof value === 'string') text = value;
    else throw new FieldError('timeout: the value must be a number or a string');
    const label = o.label === undefined ? null : checkLabel(String(o.label));
    return finish<TimeoutInjection>({ kind: 'timeout', target: t, ...timeoutValue(t, text, unit) }, label);
  });
}

function sortedJSON(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}

/**
 * An injection read back from JSON (a run's stored list, a file): rebuilt from its fields by the
 * builders, so it is validated as a new one would be, and checked to be the same.
 */
export function injectionFromJSON(x: unknown): Injection {
  const bad = (why: string): never => {
    throw new InjectionSpecError('injectionFromJSON', '', null, why);
  };
  if (!isObject(x)) return bad('not an object');
  const label = typeof x.label === 'string' ? x.label : undefined;
  let rebuilt: Injection;
  const sel = (): SelectorOptions => {
    const s = x.select;
    if (!isObject(s) || !Array.isArray(s.args)) return bad('select is missing or malformed');
    const args: Record<string, string> = {};
    const opts: SelectorOptions = { when: s.when as When, label };
    if (s.pid !== null) opts.pid = s.pid as number;
    if (s.tid !== null) opts.tid = s.tid as number;
    if (s.resource !== null) opts.resource = s.resource as string;
    for (const a of s.args as unknown[]) {
      if (!isObject(a)) return bad('select.args holds a non-object');
      const v = `${a.op === 'all' ? '&' : ''}${String(a.value)}`;
      if (a.key === 'fd') opts.fd = v;
      else if (a.key === 'flags') opts.flags = v;
      else args[String(a.key)] = v;
    }
    if (Object.keys(args).length) opts.args = args;
    return opts;
  };
  const set = (): string => (isObject(x.select) && typeof x.select.set === 'string' ? x.select.set : bad('select.set is missing'));
  switch (x.kind) {
    case 'delay':
      rebuilt = delay(set(), { enterUs: x.enterUs as number, exitUs: x.exitUs as number, ...sel() });
      break;
    case 'fail':
      rebuilt = fail(set(), x.errno !== null ? (x.errno as number) : { retval: x.retval as number }, sel());
      break;
    case 'signal':
      rebuilt = signal(set(), x.signal as number, sel());
      break;
    case 'latency':
      rebuilt = latency(x.resource as string, x.us as number, label === undefined ? undefined : { label });
      break;
    case 'timeout':
      rebuilt = timeout(x.target as TimeoutTarget, x.value as string, { unit: (x.unit ?? undefined) as TimeUnit | undefined, label });
      break;
    default:
      return bad(`unknown kind ${inspect(x.kind)}`);
  }
  // A split spec's parts carry "<label>.<kind>" ids.
  if (label !== undefined && x.id === `${label}.${rebuilt.kind}`) rebuilt.id = x.id;
  if (sortedJSON(rebuilt) !== sortedJSON(x)) {
    const diff = Object.keys(rebuilt).find((k) => sortedJSON((rebuilt as unknown as Record<string, unknown>)[k]) !== sortedJSON(x[k]));
    bad(`${String(x.id ?? x.kind)}: field '${diff ?? '?'}' does not match what its other fields make`);
  }
  return rebuilt;
}
