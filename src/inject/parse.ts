// The CLI forms of injections, in strace's syntax where it overlaps:
//
//   --inject SET:KEY=VALUE[:KEY=VALUE...]    (strace's -e inject=; --fault is -e fault=)
//     SET        a syscall, %class, /regex, all; comma-separated; '!' in front negates it
//     actions    error=ERRNO | retval=N    the call fails with ERRNO (EIO, 111) or returns N
//                signal=SIG                SIG is delivered when the call starts
//                delay_enter=D, delay_exit=D  hold the call before / after it is served
//                (D: 500000, 1.5s, 250ms, 10us, 1000ns; a bare number is microseconds)
//     selectors  when=first[..last][+step]  which matching calls (strace's occurrence syntax)
//                pid=N, tid=N               recorded process / thread ids
//                fd=N, flags=N, argN=N      argument values (N: decimal, 0x hex, 0 octal,
//                                           negative; &N: these bits set); arg1 is the first
//                resource=GLOB              the call's resource (tcp:*:9000, file:/etc/*.conf)
//                label=NAME                 the injection's id
//   --fault SET[:error=ERRNO][:selectors]     error= defaults to ENOSYS, as strace's fault=
//   --latency RESOURCE=D                      recorded data from RESOURCE arrives D later (µs)
//   --timeout env:NAME=VALUE | arg:--flag=VALUE | file:PATH#KEY=VALUE | syscall:NAME=D
//                                             (syscall: D in ms by default; -1 or inf: none)
//
// Delimiting: keys are separated by ':'. A resource= (or label=) value may itself contain ':'
// (tcp:*:9000, tcp:[::1]:443); it runs up to the next ':' that is followed by a key and '='
// (`:when=`, `:fd=`, any `:name=`), else to the end. So `resource=tcp:*:9000:when=2` is the
// resource tcp:*:9000 on the second call. --latency splits at its last '=', --timeout at the
// first '=' after the target's name (for file:, after the first '#': a path holding '#' needs
// the timeout() builder). The syscall set ends at the first ':'.
//
// A malformed spec throws InjectionSpecError: the spec, the 1-based column (counted from the
// first character after the flag) and the reason.
import { createHash } from 'node:crypto';
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
  formatWhen,
  isArgKey,
  parseArgValue,
  parseDuration,
  parseErrno,
  parseId,
  parseRetval,
  parseSignal,
  parseWhen,
  timeoutValue,
} from './fields';
import { argIndex, resolveSet } from './syscalls';
import type { DelayInjection, FailInjection, Injection, LatencyInjection, SignalInjection, Selector, SyscallInjection, TimeoutInjection, TimeoutTarget } from './types';

export type InjectionFlag = '--inject' | '--fault' | '--latency' | '--timeout';
export const INJECTION_FLAGS: readonly InjectionFlag[] = ['--inject', '--fault', '--latency', '--timeout'];

const ACTION_KEYS = ['error', 'retval', 'signal', 'delay_enter', 'delay_exit'];
const SELECTOR_KEYS = ['when', 'pid', 'tid', 'fd', 'flags', 'resource', 'label'];
/** Keys whose value may contain ':' (see the header). */
const SPANNING_KEYS = new Set(['resource', 'label']);
const STRACE_ONLY = new Set(['syscall', 'poke_enter', 'poke_exit']);

interface Token {
  key: string;
  value: string;
  /** 0-based offsets in the spec of the key and of the value. */
  keyAt: number;
  valueAt: number;
}

function fail(flag: string, spec: string, at: number, reason: string, hint: string | null = null): never {
  throw new InjectionSpecError(flag, spec, at + 1, reason, hint);
}

/** Runs `f`, turning a FieldError into an InjectionSpecError at `base` + its offset. */
function at<T>(flag: string, spec: string, base: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof FieldError) fail(flag, spec, base + e.at, e.reason, e.hint);
    throw e;
  }
}

/** The flag as written (`--inject`, `inject`, `-e inject`...) to its canonical form. */
function canonicalFlag(flag: string): InjectionFlag | undefined {
  const f = flag.trim().replace(/^-e\s*/, '').replace(/^--?/, '');
  const c = `--${f}` as InjectionFlag;
  return INJECTION_FLAGS.includes(c) ? c : undefined;
}

/**
 * Parses one CLI injection: parseInjection('--inject', 'read:error=EIO:when=3'). One --inject
 * may give several actions (error= and delay_enter=): each becomes its own injection with the
 * same selector, so the result is a list (most often of one).
 */
export function parseInjection(flag: string, value: string): Injection[] {
  const f = canonicalFlag(flag);
  if (!f) throw new InjectionSpecError(flag, value, 1, `unknown injection flag '${flag}' (${INJECTION_FLAGS.join(', ')})`);
  if (typeof value !== 'string') throw new InjectionSpecError(f, String(value), 1, 'the spec must be a string');
  switch (f) {
    case '--inject':
    case '--fault':
      return parseSyscallSpec(f, value);
    case '--latency':
      return [parseLatency(value)];
    case '--timeout':
      return [parseTimeout(value)];
  }
}

/**
 * One injection as a single string, for notebooks and config files: `--inject read:error=EIO`,
 * `--timeout=env:PAYMENT_TIMEOUT_MS=5000`, `latency tcp:*:9000=3s`, or a bare
 * `read:error=EIO` (an --inject). Columns in errors count from the start of the spec, after the
 * flag.
 */
export function parseInjectionSpec(text: string): Injection[] {
  if (typeof text !== 'string') throw new InjectionSpecError('--inject', String(text), 1, 'the spec must be a string');
  const m = /^\s*(?:-e\s*)?(--?)?(inject|fault|latency|timeout)(?:=|\s+)/.exec(text);
  if (m) return parseInjection(`--${m[2]}`, text.slice(m[0].length));
  if (/^\s*-/.test(text)) {
    const word = /^\s*(\S*)/.exec(text)?.[1] ?? '';
    throw new InjectionSpecError(word, text, 1, `unknown injection flag '${word.replace(/=.*/, '')}' (${INJECTION_FLAGS.join(', ')})`);
  }
  return parseInjection('--inject', text);
}

/** Splits `KEY=VALUE:KEY=VALUE...` starting at `from`. */
function tokens(flag: string, spec: string, from: number): Token[] {
  const out: Token[] = [];
  let p = from;
  while (p <= spec.length) {
    const colon = spec.indexOf(':', p);
    const eq = spec.indexOf('=', p);
    if (eq < 0 || (colon >= 0 && colon < eq)) {
      const end = colon < 0 ? spec.length : colon;
      const word = spec.slice(p, end);
      if (word === '') fail(flag, spec, p, p === spec.length ? "nothing after ':'" : "empty field (two ':' in a row)");
      fail(flag, spec, p, `expected key=value, got '${word}'`);
    }
    const key = spec.slice(p, eq);
    if (key === '') fail(flag, spec, p, "missing key before '='");
    let end: number;
    if (SPANNING_KEYS.has(key)) {
      const re = /:[A-Za-z_][A-Za-z0-9_]*=/g;
      re.lastIndex = eq + 1;
      const next = re.exec(spec);
      end = next ? next.index : spec.length;
    } else {
      const c = spec.indexOf(':', eq + 1);
      end = c < 0 ? spec.length : c;
    }
    out.push({ key, value: spec.slice(eq + 1, end), keyAt: p, valueAt: eq + 1 });
    if (end >= spec.length) break;
    p = end + 1;
    if (p === spec.length) fail(flag, spec, p, "nothing after ':'");
  }
  return out;
}

/** What one --inject spec (or builder call) says, before it becomes injections. */
export interface SyscallParts {
  select: Selector;
  label: string | null;
  error: { errno: number; name: string } | null;
  retval: number | null;
  signal: { number: number; name: string } | null;
  enterUs: number | null;
  exitUs: number | null;
}

function parseSyscallSpec(flag: '--inject' | '--fault', spec: string): SyscallInjection[] {
  const colon = spec.indexOf(':');
  const setText = colon < 0 ? spec : spec.slice(0, colon);
  const set = at(flag, spec, 0, () => resolveSet(setText));
  const toks = colon < 0 ? [] : tokens(flag, spec, colon + 1);
  const parts: SyscallParts = {
    select: { set: setText, syscalls: set.syscalls, nrs: set.nrs, pid: null, tid: null, resource: null, args: [], when: EVERY_CALL },
    label: null,
    error: null,
    retval: null,
    signal: null,
    enterUs: null,
    exitUs: null,
  };
  const seen = new Map<string, Token>();
  for (const t of toks) {
    const { key } = t;
    const known = ACTION_KEYS.includes(key) || SELECTOR_KEYS.includes(key) || isArgKey(key);
    if (!known) {
      if (STRACE_ONLY.has(key)) fail(flag, spec, t.keyAt, `strace's ${key}= is not supported in a replay`);
      fail(flag, spec, t.keyAt, `unknown key '${key}' (${[...ACTION_KEYS, ...SELECTOR_KEYS, 'arg1..arg6'].join(', ')})`);
    }
    if (flag === '--fault' && ACTION_KEYS.includes(key) && key !== 'error') {
      fail(flag, spec, t.keyAt, `--fault takes error= only (use --inject for ${key}=)`);
    }
    // strace: "If an injection expression contains multiple when= specifications, the last one
    // takes precedence"; any other key twice is an error.
    const prev = seen.get(key);
    if (prev && key !== 'when') fail(flag, spec, t.keyAt, `${key}= given twice (first at column ${prev.keyAt + 1})`);
    if ((key === 'error' && seen.has('retval')) || (key === 'retval' && seen.has('error'))) {
      fail(flag, spec, t.keyAt, 'error= and retval= exclude each other');
    }
    seen.set(key, t);
    const v = t.value;
    at(flag, spec, t.valueAt, () => {
      if (v === '') throw new FieldError(`${key}=: no value`);
      switch (key) {
        case 'error':
          parts.error = parseErrno(v);
          break;
        case 'retval':
          parts.retval = parseRetval(v);
          break;
        case 'signal':
          parts.signal = parseSignal(v);
          break;
        case 'delay_enter':
          parts.enterUs = parseDuration(v, 'us', 'delay_enter').us;
          break;
        case 'delay_exit':
          parts.exitUs = parseDuration(v, 'us', 'delay_exit').us;
          break;
        case 'when':
          parts.select.when = parseWhen(v);
          break;
        case 'pid':
          parts.select.pid = parseId(v, 'pid');
          break;
        case 'tid':
          parts.select.tid = parseId(v, 'tid');
          break;
        case 'resource':
          parts.select.resource = checkResource(v);
          break;
        case 'label':
          parts.label = checkLabel(v);
          break;
        default: {
          const { op, value } = parseArgValue(v, key);
          // Whether the set has such an argument is the key's problem: reported at the key.
          const index = at(flag, spec, t.keyAt, () => argIndex(key, parts.select.syscalls));
          parts.select.args.push({ key, index, op, value });
        }
      }
    });
  }
  if (flag === '--fault' && !parts.error) parts.error = parseErrno('ENOSYS');
  return syscallInjections(parts, () => fail(flag, spec, spec.length, `nothing to inject: add :error=ERRNO, :retval=N, :signal=SIG, :delay_enter=D or :delay_exit=D`));
}

/** The injections one strace-style spec makes: a delay, a fail, a signal, as given. */
export function syscallInjections(p: SyscallParts, none: () => never): SyscallInjection[] {
  const out: SyscallInjection[] = [];
  const base = { select: p.select };
  if (p.enterUs !== null || p.exitUs !== null) {
    out.push(finish<DelayInjection>({ kind: 'delay', ...base, enterUs: p.enterUs ?? 0, exitUs: p.exitUs ?? 0 }, p.label));
  }
  if (p.error || p.retval !== null) {
    out.push(
      finish<FailInjection>(
        { kind: 'fail', ...base, errno: p.error?.errno ?? null, errnoName: p.error?.name ?? null, retval: p.error ? null : p.retval },
        p.label,
      ),
    );
  }
  if (p.signal) out.push(finish<SignalInjection>({ kind: 'signal', ...base, signal: p.signal.number, signalName: p.signal.name }, p.label));
  if (out.length === 0) none();
  if (out.length > 1 && p.label) for (const i of out) i.id = `${p.label}.${i.kind}`;
  return out;
}

type Unfinished<T extends Injection> = Omit<T, 'id' | 'spec' | 'label'>;

/** Adds spec, label and id: the id is the label, else the kind and a hash of the spec. */
export function finish<T extends Injection>(partial: Unfinished<T>, label: string | null): T {
  const withSpec = { ...partial, id: '', spec: '', label } as T;
  // Each injection owns its selector (split injections must not share one object).
  if ('select' in withSpec) withSpec.select = cloneSelector(withSpec.select);
  withSpec.spec = renderSpec(withSpec);
  withSpec.id = label ?? `${withSpec.kind}-${createHash('sha256').update(withSpec.spec).digest('hex').slice(0, 8)}`;
  // A fixed key order, so that two equal injections serialise to the same JSON.
  return order(withSpec);
}

function cloneSelector(s: Selector): Selector {
  return { ...s, syscalls: [...s.syscalls], nrs: [...s.nrs], args: s.args.map((a) => ({ ...a })), when: { ...s.when } };
}

function order<T extends Injection>(i: T): T {
  const head = { id: i.id, kind: i.kind, spec: i.spec, label: i.label };
  return { ...head, ...i } as T;
}

function parseLatency(spec: string): LatencyInjection {
  const flag = '--latency';
  const eq = spec.lastIndexOf('=');
  if (eq < 0) fail(flag, spec, spec.length, "expected RESOURCE=MICROSECONDS (tcp:*:9000=3000000, tcp:*:9000=3s)");
  const resource = spec.slice(0, eq);
  at(flag, spec, 0, () => checkResource(resource));
  const { us } = at(flag, spec, eq + 1, () => parseDuration(spec.slice(eq + 1), 'us', 'latency'));
  return finish<LatencyInjection>({ kind: 'latency', resource, us }, null);
}

const TARGET_KINDS = ['env', 'arg', 'file', 'syscall'];

function parseTimeout(spec: string): TimeoutInjection {
  const flag = '--timeout';
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? '' : spec.slice(0, colon);
  if (!TARGET_KINDS.includes(kind)) {
    fail(flag, spec, 0, `unknown timeout target '${colon < 0 ? spec : kind + ':'}' (env:NAME, arg:--flag, file:PATH#key, syscall:NAME, then =VALUE)`);
  }
  const start = colon + 1;
  let eq: number;
  let target: TimeoutTarget;
  if (kind === 'file') {
    const hash = spec.indexOf('#', start);
    if (hash < 0) fail(flag, spec, spec.length, "file: no '#key' after the path (file:/etc/app.conf#timeout_ms=5000)");
    eq = spec.indexOf('=', hash);
    if (eq < 0) fail(flag, spec, spec.length, "expected '=VALUE' after the key");
    const path = spec.slice(start, hash);
    const key = spec.slice(hash + 1, eq);
    at(flag, spec, start, () => checkFilePath(path));
    at(flag, spec, hash + 1, () => checkFileKey(key));
    target = { type: 'file', path, key };
  } else {
    eq = spec.indexOf('=', start);
    if (eq < 0) fail(flag, spec, spec.length, `expected '=VALUE' (--timeout ${kind}:${kind === 'env' ? 'NAME' : kind === 'arg' ? '--flag' : 'poll'}=VALUE)`);
    const name = spec.slice(start, eq);
    target = at(flag, spec, start, (): TimeoutTarget => {
      if (kind === 'env') return { type: 'env', name: checkEnvName(name) };
      if (kind === 'arg') return { type: 'arg', flag: checkFlag(name) };
      return { type: 'syscall', name: checkTimeoutSyscall(name) };
    });
  }
  const v = at(flag, spec, eq + 1, () => timeoutValue(target, spec.slice(eq + 1), null));
  return finish<TimeoutInjection>({ kind: 'timeout', target, ...v }, null);
}

function renderSelector(s: Selector): string {
  const parts: string[] = [];
  if (s.pid !== null) parts.push(`pid=${s.pid}`);
  if (s.tid !== null) parts.push(`tid=${s.tid}`);
  for (const a of s.args) parts.push(`${a.key}=${a.op === 'all' ? '&' : ''}${a.value}`);
  if (s.resource !== null) parts.push(`resource=${s.resource}`);
  if (!(s.when.first === 1 && s.when.last === null && s.when.step === 1)) parts.push(`when=${formatWhen(s.when)}`);
  return parts.map((p) => ':' + p).join('');
}

/** The canonical CLI form of an injection: parseInjectionSpec(renderSpec(x)) gives x back. */
export function renderSpec(i: Injection): string {
  switch (i.kind) {
    case 'delay': {
      const d: string[] = [];
      if (i.enterUs > 0 || i.exitUs === 0) d.push(`delay_enter=${i.enterUs}`);
      if (i.exitUs > 0) d.push(`delay_exit=${i.exitUs}`);
      return `--inject ${i.select.set}:${d.join(':')}${renderSelector(i.select)}`;
    }
    case 'fail':
      return `--inject ${i.select.set}:${i.errno !== null ? `error=${i.errnoName ?? i.errno}` : `retval=${i.retval}`}${renderSelector(i.select)}`;
    case 'signal':
      return `--inject ${i.select.set}:signal=${i.signalName}${renderSelector(i.select)}`;
    case 'latency':
      return `--latency ${i.resource}=${i.us}`;
    case 'timeout': {
      const t = i.target;
      const target = t.type === 'env' ? `env:${t.name}` : t.type === 'arg' ? `arg:${t.flag}` : t.type === 'file' ? `file:${t.path}#${t.key}` : `syscall:${t.name}`;
      const value = t.type === 'syscall' && i.value !== '-1' && i.unit !== 'ms' ? `${i.value}${i.unit}` : i.value;
      return `--timeout ${target}=${value}`;
    }
  }
}

