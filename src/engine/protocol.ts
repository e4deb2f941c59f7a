// The engine protocol, TypeScript side: everything that crosses the pipes to and from
// replaybook-engine is written or read here (native/protocol.h is the C++ side).
//
// Frames (native/batch.h): CONFIG (text, below), EVENTS (event batches, both ways), END (the
// recorded events are all sent), CONTROL (one control verb, replay only), MESSAGE (one JSON
// object back).
//
// Config is one line per setting, `key value...`, every value one printable-ASCII word
// (percentEncode). The first line is `version N`: an engine built from other sources refuses the
// config instead of misreading it.
import { ReplaybookError } from '../errors';
import type { Injection, Selector } from '../inject/types';

/** Raised on both sides when it changes: `version N`, and the `started` message echoes it. */
export const PROTOCOL_VERSION = 4;

export const FRAME_EXITED = 0;
export const FRAME_CONFIG = 1;
export const FRAME_EVENTS = 2;
export const FRAME_MESSAGE = 3;
export const FRAME_END = 4;
export const FRAME_CONTROL = 5;

// ---------------------------------------------------------------------------------------------
// Config (Node -> engine)

/** What both modes run. */
export interface SpawnConfig {
  exe: string;
  argv: readonly string[];
  env: readonly string[];
  cwd: string;
  /** Pin the tracer and the tracee to one CPU. */
  pin: boolean;
}

/** Reading sockets on after the service closed them (native/late_data.h). Omitted: the
 * engine's defaults (on; 5000 ms, 1 MiB, 64 sockets). */
export interface LateDataConfig {
  enabled: boolean;
  ms?: number;
  bytes?: number;
  sockets?: number;
}

export interface RecordConfig extends SpawnConfig {
  mode: 'record';
  lateData?: LateDataConfig;
  /** Turn ASLR off for the service (record's default; replays always run with fixed addresses). */
  fixedAddresses?: boolean;
  /** Refuse to record (error `cpuid_untrapped`) where cpuid answers cannot be recorded. */
  cpuidRequired?: boolean;
  /**
   * The directory where the engine copies each file the service maps, when it maps it (message
   * `file` with `copy`, or `error` when it could not). The caller stores and removes it.
   */
  captureDir?: string;
  /**
   * The file the engine writes the recording to (event batches and messages, as frames, ending
   * with an END frame), instead of sending them to Node: Node then hears only `spooled` and
   * `budget` progress. The engine keeps recording if Node dies (src/record/live.ts).
   */
  spool?: string;
  /** Stop the recording (and the service) after this many events / spool bytes. */
  maxEvents?: number;
  maxBytes?: number;
  /** How long an asynchronous signal may wait for its thread's next syscall (ms; 0: never). */
  signalDeferMs?: number;
  /** Record the table's `fast` syscalls inside the service's processes (docs/fast-path.md). */
  fast?: boolean;
  /** How long a service thread waits for room in a full fast-path ring before the call is lost. */
  ringWaitMs?: number;
  /** serial (default): one thread of the tree runs userspace at a time; parallel: all at once. */
  schedule?: 'serial' | 'parallel';
}

export interface ReplayConfig extends SpawnConfig {
  mode: 'replay';
  /** Replay speed factor; 'max' serves without waiting. Default 1. */
  speed?: number | 'max';
  /** Recorded path -> local file holding its recorded bytes. */
  files?: ReadonlyMap<string, string>;
  /** Run in a network namespace of its own (default false). */
  isolateNetwork?: boolean;
  /** Pause before serving the event with this seq (fast-forward target). */
  pauseAt?: bigint;
  /** Pause before the first event. */
  startPaused?: boolean;
  /** Keep checkpoints for jumps (default true); a run straight through has no use for them. */
  checkpoints?: boolean;
  /** At speed max, answer simple recorded calls inside the program (default true). */
  inProcess?: boolean;
  /** In list order (the order decides ties). env/arg/file timeouts have no engine form: they
   * are applied before the engine starts. */
  injections?: readonly Injection[];
  /** The program may legitimately differ from the log: its first departure switches policy. */
  counterfactual?: boolean;
  /** Recorded path -> local file whose content the program reads instead. */
  editedFiles?: ReadonlyMap<string, string>;
  /** Arrivals from the network vary by up to `us`, from a seeded generator. */
  jitter?: { us: number; seed: number };
  /** An interaction the log cannot answer: end the run ('error', default) or fail the call. */
  unrecorded?: 'error' | 'refuse';
}

export type EngineConfig = RecordConfig | ReplayConfig;

/**
 * Percent-encodes text for a config value: the UTF-8 bytes that are '%', ASCII whitespace,
 * control bytes or >= 0x7f become %XX, so that the value is one printable ASCII word (the
 * engine splits config lines at spaces, then decodes each %XX back to its byte).
 */
export function percentEncode(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b === 0x25 || b <= 0x20 || b >= 0x7f ? '%' + b.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(b);
  }
  return out;
}

/** The inverse of percentEncode, decoding as the engine does (%XX -> the byte XX). */
export function percentDecode(word: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < word.length; i++) {
    if (word[i] === '%' && i + 2 < word.length && /^[0-9A-Fa-f]{2}$/.test(word.slice(i + 1, i + 3))) {
      bytes.push(parseInt(word.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(word.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function wholeNumber(what: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a whole number >= 0, not ${n}`);
  return String(n);
}

function speedWord(speed: number | 'max'): string {
  if (speed === 'max') return 'max';
  if (!(speed > 0 && Number.isFinite(speed))) throw new RangeError(`speed must be a positive number or 'max', not ${speed}`);
  return String(speed);
}

function selectorWords(sel: Selector): string[] {
  const w = [`syscalls=${percentEncode(sel.syscalls.join(','))}`];
  if (sel.pid !== null) w.push(`pid=${sel.pid}`);
  if (sel.tid !== null) w.push(`tid=${sel.tid}`);
  if (sel.resource !== null) w.push(`resource=${percentEncode(sel.resource)}`);
  for (const a of sel.args) w.push(`${a.op === 'all' ? 'argmask' : 'arg'}${a.index}=${a.value}`);
  w.push(`when=${sel.when.first},${sel.when.last ?? 0},${sel.when.step}`);
  return w;
}

/**
 * One injection as the engine reads it, `inject ID KIND key=value...`, or null for a timeout
 * applied before the engine starts (env, arg, file). Keys:
 *   selector (delay, fail, signal): syscalls=NAME,NAME  pid=N  tid=N (recorded ids)
 *     resource=GLOB  argI=V (equals)  argmaskI=V (every bit set)  when=FIRST,LAST,STEP (LAST 0:
 *     no end)
 *   delay: enter_us=N exit_us=N   fail: errno=N or retval=N   signal: signal=N
 *   latency: resource=GLOB us=N   timeout: syscall=NAME value_us=N (-1: none)
 */
export function injectionLine(i: Injection): string | null {
  const id = percentEncode(i.id);
  switch (i.kind) {
    case 'delay':
      return [`inject ${id} delay`, ...selectorWords(i.select), `enter_us=${i.enterUs}`, `exit_us=${i.exitUs}`].join(' ');
    case 'fail':
      return [`inject ${id} fail`, ...selectorWords(i.select), i.errno !== null ? `errno=${i.errno}` : `retval=${i.retval ?? 0}`].join(' ');
    case 'signal':
      return [`inject ${id} signal`, ...selectorWords(i.select), `signal=${i.signal}`].join(' ');
    case 'latency':
      return `inject ${id} latency resource=${percentEncode(i.resource)} us=${i.us}`;
    case 'timeout':
      if (i.target.type !== 'syscall') return null;
      return `inject ${id} timeout syscall=${i.target.name} value_us=${i.us ?? -1}`;
  }
}

/** The injections' config lines, in list order (env/arg/file timeouts have none). */
export function injectionLines(injections: readonly Injection[]): string[] {
  return injections.map(injectionLine).filter((l): l is string => l !== null);
}

/** The config frame's text for a run. */
export function encodeConfig(c: EngineConfig): string {
  const e = percentEncode;
  const lines = [`version ${PROTOCOL_VERSION}`, `mode ${c.mode}`, `exe ${e(c.exe)}`, `cwd ${e(c.cwd)}`, `pin ${c.pin ? 1 : 0}`];
  for (const a of c.argv) lines.push(`arg ${e(a)}`);
  for (const v of c.env) lines.push(`env ${e(v)}`);
  if (c.mode === 'record') {
    if (c.fixedAddresses) lines.push('fixed_addresses 1');
    if (c.cpuidRequired) lines.push('cpuid_required 1');
    if (c.captureDir) lines.push(`capture_dir ${e(c.captureDir)}`);
    if (c.spool) lines.push(`spool ${e(c.spool)}`);
    if (c.maxEvents !== undefined) lines.push(`max_events ${wholeNumber('maxEvents', c.maxEvents)}`);
    if (c.maxBytes !== undefined) lines.push(`max_bytes ${wholeNumber('maxBytes', c.maxBytes)}`);
    if (c.signalDeferMs !== undefined) lines.push(`signal_defer_ms ${wholeNumber('signalDeferMs', c.signalDeferMs)}`);
    if (c.fast) lines.push('fast 1');
    if (c.ringWaitMs !== undefined) lines.push(`ring_wait_ms ${wholeNumber('ringWaitMs', c.ringWaitMs)}`);
    if (c.schedule) lines.push(`schedule ${c.schedule}`);
    if (c.lateData) {
      const l = c.lateData;
      lines.push(`late_data ${l.enabled ? 1 : 0}`);
      if (l.ms !== undefined) lines.push(`late_data_ms ${wholeNumber('lateData.ms', l.ms)}`);
      if (l.bytes !== undefined) lines.push(`late_data_bytes ${wholeNumber('lateData.bytes', l.bytes)}`);
      if (l.sockets !== undefined) lines.push(`late_data_sockets ${wholeNumber('lateData.sockets', l.sockets)}`);
    }
    return lines.join('\n') + '\n';
  }
  if (c.speed !== undefined) lines.push(`speed ${speedWord(c.speed)}`);
  if (c.isolateNetwork) lines.push('isolate_network 1');
  if (c.pauseAt !== undefined) lines.push(`pause_at ${c.pauseAt}`);
  if (c.startPaused) lines.push('start_paused 1');
  if (c.checkpoints === false) lines.push('checkpoints 0');
  if (c.inProcess === false) lines.push('in_process 0');
  for (const [recorded, local] of c.files ?? []) lines.push(`file ${e(recorded)} ${e(local)}`);
  lines.push(...injectionLines(c.injections ?? []));
  if (c.counterfactual) lines.push('counterfactual 1');
  for (const [recorded, local] of c.editedFiles ?? []) lines.push(`edit_file ${e(recorded)} ${e(local)}`);
  if (c.jitter && c.jitter.us > 0) lines.push(`jitter ${wholeNumber('jitter.us', c.jitter.us)} ${Math.trunc(c.jitter.seed) >>> 0}`);
  if (c.unrecorded === 'refuse') lines.push('unrecorded refuse');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Control verbs (Node -> engine, replay only; one per CONTROL frame)

export type ControlVerb =
  | { verb: 'pause' }
  | { verb: 'resume' }
  /** Serve `n` more events, then pause. */
  | { verb: 'step'; n: number }
  | { verb: 'speed'; speed: number | 'max' }
  /** Pause before the event with this seq. */
  | { verb: 'until'; seq: number }
  /** Answered with a `state` message. */
  | { verb: 'state' }
  /** Answered with a `memory` message; `tid` is a recorded thread id. */
  | { verb: 'read'; tid: number; addr: bigint; length: number }
  /** Kill the program; the run ends. */
  | { verb: 'stop' }
  /** Listen for gdb on 127.0.0.1:port (0: a free port); answered with a `gdbserver` message. */
  | { verb: 'gdbserver'; port: number }
  /** Go back to the nearest checkpoint before event `seq` where that saves replaying; answered
   * with a `restored` message. */
  | { verb: 'goto'; seq: number }
  /** Replace the paused replay's injections (those the engine applies: injectionLines) from the
   * latest checkpoint at or before where it stands that none of them would have changed;
   * answered with a `restored` message (not restored: the set is unchanged). */
  | { verb: 'injections'; injections: readonly Injection[] };

export function encodeControl(c: ControlVerb): string {
  switch (c.verb) {
    case 'pause':
    case 'resume':
    case 'state':
    case 'stop':
      return c.verb;
    case 'step':
      return `step ${wholeNumber('step', Math.max(1, Math.floor(c.n)))}`;
    case 'speed':
      return `speed ${speedWord(c.speed)}`;
    case 'until':
      return `until ${wholeNumber('until', c.seq)}`;
    case 'read':
      return `read ${wholeNumber('tid', c.tid)} ${c.addr} ${wholeNumber('length', c.length)}`;
    case 'goto':
      return `goto ${wholeNumber('goto', c.seq)}`;
    case 'injections':
      return ['injections', ...injectionLines(c.injections)].join('\n');
    case 'gdbserver':
      if (c.port > 65535) throw new RangeError(`gdbserver needs a TCP port (0 to 65535), not ${c.port}`);
      return `gdbserver ${wholeNumber('port', c.port)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Messages (engine -> Node)

/** A syscall as a message names it (the recorded one, or the one the program made). */
export interface DivergentCall {
  name: string;
  nr: number;
  args: bigint[];
  resource: string;
  /** Bytes the call handed to the kernel (written data, paths). */
  data_in: Buffer;
}

/** Where the program stopped following the log. */
export interface Divergence {
  /** seq of the run's event where it happened. */
  seq: number;
  /** The recorded thread. */
  tid: number;
  reason: string;
  /** Instruction pointer of the program's call (0 when it made none). */
  ip: bigint;
  /** The recorded call (null: the log had ended). */
  expected: DivergentCall | null;
  /** The call the program made. */
  actual: DivergentCall;
}

export interface InjectionReport {
  id: string;
  kind: string;
  /** Calls its selector matched. */
  matched: number;
  /** Times its action applied. */
  fired: number;
}

export type ThreadState = 'running' | 'at_syscall' | 'in_emulated_call' | 'waiting_turn' | 'in_kernel';

export interface StartedMessage {
  type: 'started';
  protocol: number;
  /** The CPU the tracer and tracee are pinned to, -1 when unpinned. */
  cpu: number;
  /** Record: whether the service runs with its address space randomized (false in a replay). */
  aslr: boolean;
}
/** A file the recorded program mapped or the kernel loaded for it. */
export interface FileMessage {
  type: 'file';
  role: string;
  path: string;
  /** Where the recorder copied it when it was mapped (record with a capture directory). */
  copy?: string;
  /** Why it could not be copied. */
  error?: string;
}
export interface WarningMessage {
  type: 'warning';
  code: string;
  message: string;
}
/** record --fast: what the fast path did (at the end of the recording). */
export interface FastMessage {
  type: 'fast';
  /** Calls recorded inside the service's processes. */
  calls: number;
  /** Call sites rewritten to reach the fast path. */
  sites: number;
  /** The first seq whose call was lost (the recording is lossy from there), or null. */
  lossyFrom: number | null;
}
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}
/** The run is over (the traced program exited and was reaped). */
export interface ExitMessage {
  type: 'exit';
  exitCode: number | null;
  /** SIGKILL, ... when a signal ended it. */
  signal: string | null;
  /** Replay only. */
  replay: {
    consumed: number;
    logEvents: number;
    /** Events the program answered itself at speed max (in-process serving). */
    inProcess: number;
    policy: 'strict' | 'stream';
    switchedAt: number | null;
    injections: InjectionReport[];
  } | null;
}
/** A recording with a spool file: how far it got. */
export interface SpooledMessage {
  type: 'spooled';
  events: number;
  bytes: number;
}
/** The recording reached its budget and stops (the service is stopped with it). */
export interface BudgetMessage {
  type: 'budget';
  what: 'events' | 'bytes';
  limit: number;
}
export interface PausedMessage {
  type: 'paused';
  /** breakpoint: gdb's breakpoint was hit (docs/gdb.md). */
  reason: 'start' | 'pause' | 'step' | 'until' | 'breakpoint';
  /** seq of the next event to serve. */
  seq: number;
}
export interface StateMessage {
  type: 'state';
  paused: boolean;
  seq: number;
  served: number;
  speed: number | 'max';
  virtualNs: bigint;
  next: { call: DivergentCall; tid: number } | null;
  threads: { tid: number; realTid: number; state: ThreadState }[];
  registers: Record<string, bigint> | null;
}
/** A checkpoint was taken before event `seq` (`count` kept; `us` to take; `pssKb` its memory),
 * or none can be taken in this replay (`refused` says why). */
export interface CheckpointMessage {
  type: 'checkpoint';
  seq: number;
  count: number;
  us: number;
  pssKb: number;
  /** seq of a checkpoint let go to keep at most 64, or -1. */
  dropped: number;
  refused: string | null;
}
/** The answer to goto (and to injections): back at the checkpoint before `seq` with `served` events served, or not
 * (reason empty: no checkpoint was of use; else why there is none). */
export interface RestoredMessage {
  type: 'restored';
  restored: boolean;
  seq: number;
  served: number;
  reason: string;
}
/** The gdbserver listens on 127.0.0.1:port, or could not (error). */
export interface GdbserverMessage {
  type: 'gdbserver';
  port: number;
  error: string | null;
}
export interface MemoryMessage {
  type: 'memory';
  addr: bigint;
  error: string | null;
  data: Buffer;
}
/** The run left the log: from `seq` on, the stream policy answers. */
export interface PolicyMessage {
  type: 'policy';
  policy: 'stream';
  seq: number;
  reason: string;
}
/** An interaction the log cannot answer. */
export interface UnrecordedMessage {
  type: 'unrecorded';
  policy: 'error' | 'refuse';
  name: string;
  tid: number;
  reason: string;
}
export interface DivergenceMessage extends Divergence {
  type: 'divergence';
}

export type EngineMessage =
  | StartedMessage
  | FileMessage
  | WarningMessage
  | FastMessage
  | ErrorMessage
  | ExitMessage
  | SpooledMessage
  | BudgetMessage
  | PausedMessage
  | StateMessage
  | MemoryMessage
  | GdbserverMessage
  | CheckpointMessage
  | RestoredMessage
  | PolicyMessage
  | UnrecordedMessage
  | DivergenceMessage;

export type EngineMessageType = EngineMessage['type'];

/** A message from the engine that does not have the shape this side expects. */
export class ProtocolError extends ReplaybookError {
  constructor(
    readonly messageType: string,
    readonly field: string,
    detail: string,
  ) {
    super('protocol', `engine message '${messageType}': ${field} ${detail} (the engine and the library disagree on the protocol: rebuild with \`npm run build\`)`);
    this.name = 'ProtocolError';
  }
}

type Json = Record<string, unknown>;

// Field readers: each names the message type and the field path when the value is not there or
// not of its type, so nothing downstream sees undefined or NaN.
class Reader {
  constructor(
    private readonly type: string,
    private readonly o: Json,
    private readonly at: string = '',
  ) {}
  private fail(key: string, detail: string): never {
    throw new ProtocolError(this.type, this.at + key, detail);
  }
  has(key: string): boolean {
    return key in this.o;
  }
  got(key: string): unknown {
    if (!(key in this.o)) this.fail(key, 'is missing');
    return this.o[key];
  }
  str(key: string): string {
    const v = this.got(key);
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${show(v)}`);
    return v;
  }
  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const v = this.str(key);
    if (!(values as readonly string[]).includes(v)) this.fail(key, `must be one of ${values.join(', ')}, got ${show(v)}`);
    return v as T;
  }
  int(key: string): number {
    const v = this.got(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(key, `must be an integer, got ${show(v)}`);
    return v;
  }
  num(key: string): number {
    const v = this.got(key);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a number, got ${show(v)}`);
    return v;
  }
  bool(key: string): boolean {
    const v = this.got(key);
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${show(v)}`);
    return v;
  }
  /** A 64-bit integer, sent as a decimal string (JSON numbers lose precision past 2^53). */
  big(key: string): bigint {
    return this.bigValue(key, this.got(key));
  }
  bigValue(key: string, v: unknown): bigint {
    if (typeof v !== 'string' || !/^-?\d+$/.test(v)) this.fail(key, `must be a decimal string, got ${show(v)}`);
    return BigInt(v);
  }
  bytes(key: string): Buffer {
    const v = this.str(key);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) this.fail(key, 'must be base64');
    return Buffer.from(v, 'base64');
  }
  isNull(key: string): boolean {
    return this.got(key) === null;
  }
  obj(key: string): Reader {
    const v = this.got(key);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, `must be an object, got ${show(v)}`);
    return new Reader(this.type, v as Json, `${this.at}${key}.`);
  }
  list(key: string): unknown[] {
    const v = this.got(key);
    if (!Array.isArray(v)) this.fail(key, `must be an array, got ${show(v)}`);
    return v;
  }
  /** An array of exactly `n` 64-bit decimal strings. */
  bigs(key: string, n: number): bigint[] {
    const v = this.list(key);
    if (v.length !== n) this.fail(key, `must hold ${n} values, got ${v.length}`);
    return v.map((x, i) => this.bigValue(`${key}[${i}]`, x));
  }
  objects(key: string): Reader[] {
    return this.list(key).map((v, i) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${key}[${i}]`, `must be an object, got ${show(v)}`);
      return new Reader(this.type, v as Json, `${this.at}${key}[${i}].`);
    });
  }
  entries(): [string, unknown][] {
    return Object.entries(this.o);
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 40 ? s.slice(0, 40) + '...' : s;
}

function call(r: Reader): DivergentCall {
  return {
    name: r.str('name'),
    nr: r.int('nr'),
    args: r.bigs('args', 6),
    resource: r.str('resource'),
    data_in: r.bytes('data_in'),
  };
}

const THREAD_STATES: readonly ThreadState[] = ['running', 'at_syscall', 'in_emulated_call', 'waiting_turn', 'in_kernel'];

function decodeObject(type: string, r: Reader): EngineMessage {
  switch (type) {
    case 'started': {
      const protocol = r.int('protocol');
      if (protocol !== PROTOCOL_VERSION) throw new ProtocolError(type, 'protocol', `is ${protocol}, this library speaks ${PROTOCOL_VERSION}`);
      return { type, protocol, cpu: r.int('cpu'), aslr: r.bool('aslr') };
    }
    case 'file': {
      const m: FileMessage = { type, role: r.str('role'), path: r.str('path') };
      if (r.has('copy')) m.copy = r.str('copy');
      if (r.has('error')) m.error = r.str('error');
      return m;
    }
    case 'fast':
      return { type, calls: r.int('calls'), sites: r.int('sites'), lossyFrom: r.isNull('lossy_from') ? null : r.int('lossy_from') };
    case 'warning':
    case 'error':
      return { type, code: r.str('code'), message: r.str('message') };
    case 'exit': {
      let replay: ExitMessage['replay'] = null;
      if (r.has('consumed')) {
        replay = {
          consumed: r.int('consumed'),
          logEvents: r.int('log_events'),
          inProcess: r.has('in_process') ? r.int('in_process') : 0,
          policy: r.oneOf('policy', ['strict', 'stream'] as const),
          switchedAt: r.isNull('switched_at') ? null : r.int('switched_at'),
          injections: r.objects('injections').map((i) => ({ id: i.str('id'), kind: i.str('kind'), matched: i.int('matched'), fired: i.int('fired') })),
        };
      }
      return { type, exitCode: r.isNull('exit_code') ? null : r.int('exit_code'), signal: r.isNull('signal') ? null : r.str('signal'), replay };
    }
    case 'spooled':
      return { type, events: r.int('events'), bytes: r.int('bytes') };
    case 'budget':
      return { type, what: r.oneOf('what', ['events', 'bytes'] as const), limit: r.int('limit') };
    case 'paused':
      return { type, reason: r.oneOf('reason', ['start', 'pause', 'step', 'until', 'breakpoint'] as const), seq: r.int('seq') };
    case 'checkpoint':
      return { type, seq: r.int('seq'), count: r.int('count'), us: r.int('us'), pssKb: r.int('pss_kb'), dropped: r.int('dropped'), refused: r.isNull('refused') ? null : r.str('refused') };
    case 'restored':
      return { type, restored: r.bool('restored'), seq: r.int('seq'), served: r.int('served'), reason: r.str('reason') };
    case 'gdbserver':
      return { type, port: r.int('port'), error: r.isNull('error') ? null : r.str('error') };
    case 'state': {
      let registers: Record<string, bigint> | null = null;
      if (!r.isNull('regs')) {
        const regs = r.obj('regs');
        registers = Object.fromEntries(regs.entries().map(([k, v]) => [k, regs.bigValue(k, v)]));
      }
      return {
        type,
        paused: r.bool('paused'),
        seq: r.int('seq'),
        served: r.int('served'),
        speed: r.got('speed') === 'max' ? 'max' : r.num('speed'),
        virtualNs: r.big('virtual_ns'),
        next: r.isNull('next') ? null : { call: call(r.obj('next')), tid: r.int('next_tid') },
        threads: r.objects('threads').map((t) => ({ tid: t.int('tid'), realTid: t.int('real_tid'), state: t.oneOf('state', THREAD_STATES) })),
        registers,
      };
    }
    case 'memory': {
      const error = r.isNull('error') ? null : r.str('error');
      return { type, addr: r.big('addr'), error, data: r.bytes('data') };
    }
    case 'policy':
      return { type, policy: r.oneOf('policy', ['stream'] as const), seq: r.int('seq'), reason: r.str('reason') };
    case 'unrecorded':
      return { type, policy: r.oneOf('policy', ['error', 'refuse'] as const), name: r.str('name'), tid: r.int('tid'), reason: r.str('reason') };
    case 'divergence':
      return {
        type,
        seq: r.int('seq'),
        tid: r.int('tid'),
        reason: r.str('reason'),
        ip: r.big('ip'),
        expected: r.isNull('expected') ? null : call(r.obj('expected')),
        actual: call(r.obj('actual')),
      };
    default:
      throw new ProtocolError(type, 'type', 'is not a message this library knows');
  }
}

/** Decodes one MESSAGE frame's text; throws a ProtocolError naming the message type and field. */
export function decodeMessage(text: string): EngineMessage {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError('?', 'json', `is not JSON (${(e as Error).message}): ${text.slice(0, 80)}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ProtocolError('?', 'message', `must be a JSON object, got ${show(o)}`);
  const type = (o as Json).type;
  if (typeof type !== 'string') throw new ProtocolError('?', 'type', `must be a string, got ${show(type)}`);
  // A field's reader fails in the nested path too (threads[0].state, expected.args[2]).
  return decodeObject(type, new Reader(type, o as Json));
}

/** A divergence as the engine sent it (64-bit values as decimal strings, bytes as base64), to
 * store as JSON. */
export function divergenceWire(d: Divergence): Record<string, unknown> {
  const c = (x: DivergentCall): Json => ({ name: x.name, nr: x.nr, args: x.args.map(String), resource: x.resource, data_in: x.data_in.toString('base64') });
  return { type: 'divergence', seq: d.seq, tid: d.tid, ip: String(d.ip), reason: d.reason, expected: d.expected && c(d.expected), actual: c(d.actual) };
}
