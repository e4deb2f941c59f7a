// Injections: edits to a recorded incident that a counterfactual replay applies (DESIGN.md,
// "Injections: counterfactual replay"). They are plain data: JSON.parse(JSON.stringify(x)) is
// deep-equal to x (only strings, finite numbers, null, arrays and plain objects; never undefined,
// bigint or functions), so they are stored with a run, shown in notebooks and sent to the engine
// as they are.
//
// ENGINE SCHEMA (version 1). toEngineConfig() sends each injection to replaybook-engine as one
// config line `inject <JSON>`, the JSON percent-encoded as every config value is (each byte that
// is '%', ASCII whitespace, a control byte or >= 0x80 becomes %XX, two upper-case hex digits; the
// engine's unescape() restores the UTF-8 bytes). The JSON object is the injection below plus two
// fields: "v": 1 (this schema) and "index" (its 0-based position in the run's list; list order
// breaks ties, see "Several injections" below). Field by field:
//
//   v        1
//   index    0, 1, ...
//   id       string: stable name of the injection (a label given by the analyst, else
//            "<kind>-<8 hex digits of SHA-256 of spec>"); the engine names it in its reports
//   kind     "delay" | "fail" | "signal" | "latency" | "timeout"
//   spec     string: the canonical CLI form (--inject read:error=EIO:when=3). Informational.
//   label    string | null: the analyst's label. Informational.
//
//   kind "delay", "fail", "signal" have a selector, "select" (which calls it applies to):
//     select.set       string: the syscall set as written (read, %network, !%file). Informational.
//     select.syscalls  string[]: the syscall names the set selects (the engine's table names,
//                      sorted by number, never empty, never an untraced syscall)
//     select.nrs       number[]: their x86-64 numbers, same order; match on these
//     select.pid       number | null: only calls of this process, by its RECORDED pid (the
//                      events table's pid column); null: any process
//     select.tid       number | null: only calls of this thread, by its RECORDED tid; null: any
//     select.resource  string | null: only calls whose recorded resource (the events table's
//                      resource column: file:/etc/app.conf, tcp:10.0.0.5:9000, stdout, ...)
//                      matches this glob; null: any (calls without a resource included)
//     select.args      [{ key, index, op, value }]: every one must hold.
//                        key    "fd" | "flags" | "argN": as written (informational)
//                        index  0-based argument index (resolved per set: the same for every
//                               syscall in select.nrs)
//                        op     "eq":  arg == value
//                               "all": (arg & value) == value (every bit of value is set)
//                        value  string: the value as an unsigned 64-bit decimal (negative
//                               numbers were taken modulo 2^64: fd=-100 is 18446744073709551516)
//     select.when      { first, last, step }: strace's when=first[..last][+step]. A counter per
//                      (injection, syscall number, thread) counts the calls that match every other
//                      field of the selector, 1 for the first; call n is hit when
//                        n >= first && (last === null || n <= last) && (n - first) % step === 0.
//                      when=3 is {3,3,1}; 2+ is {2,null,1}; 2+2 is {2,null,2}; 1..3 is {1,3,1};
//                      3..11+2 is {3,11,2}; no when= is {1,null,1} (every call). Ranges as
//                      strace's: first and step 1..65535, last first..65534.
//
//   Resource globs (select.resource, latency.resource): '*' matches any run of characters
//   (including none, '/' and ':'); every other character matches itself; the whole resource
//   must match. tcp:*:9000 is any TCP peer on port 9000; file:/etc/*.conf any .conf under /etc.
//
//   kind "delay"   (strace's delay_enter / delay_exit)
//     enterUs  number: microseconds to hold the call before it is served (0: none)
//     exitUs   number: microseconds to hold it after it is served, before the program resumes
//     The virtual clock the program reads advances by the same amounts.
//
//   kind "fail"    (strace's error= / retval=): the call is not served from the log; it returns
//     errno      number | null: the call returns -errno (1..4095)
//     errnoName  string | null: its name (ECONNREFUSED), or the number as text when Linux gives
//                it no name. Informational.
//     retval     number | null: the call returns this value (>= 0) instead; buffers the call
//                would have filled are left untouched (strace's retval=)
//     Exactly one of errno and retval is non-null.
//
//   kind "signal"  (strace's signal=): on entry of a matching call, the signal is delivered
//     signal      number: 1..64
//     signalName  string: SIGUSR1, SIGRTMIN+2, ... Informational.
//
//   kind "latency": the outside answers later. No selector.
//     resource  string: a resource glob (above)
//     us        number: microseconds; every recorded arrival of data from a matching resource
//               (what reads, recv*, accept and connect completions and late_data events got from
//               it, and the readiness a wait reported for it) happens this much later on the
//               virtual clock
//
//   kind "timeout": a named timeout of the service gets a new value.
//     target  { type: "env", name }          environment variable NAME (set, or replaced)
//             { type: "arg", flag }          command-line flag: --flag=V or --flag V
//             { type: "file", path, key }    a key in a config file the service reads (key=value,
//                                            INI section.key, JSON and YAML dotted paths)
//             { type: "syscall", name }      name: poll | ppoll | select | pselect6 | epoll_wait |
//                                            epoll_pwait | epoll_pwait2 (their timeout argument),
//                                            SO_RCVTIMEO | SO_SNDTIMEO (setsockopt(fd, SOL_SOCKET
//                                            = 1, optname, timeval): RCV is optname 20 or 66
//                                            (_NEW), SND 21 or 67)
//     value   string: the new value as text. env/arg/file: written verbatim.
//     unit    "ns" | "us" | "ms" | "s" | null: the unit of value. syscall: always set (a bare
//             number is ms). env/arg/file: inferred from the name (_MS, _ms, _SECONDS...) or
//             given by the analyst; null when unknown. Informational for env/arg/file.
//     us      number | null: syscall: the new timeout in microseconds, -1 for "no timeout"
//             (wait until data arrives); the engine converts it to the call's own unit, rounding
//             up. env/arg/file: value in microseconds when value is a plain number and unit is
//             known, else null; informational.
//     env/arg/file targets are applied before the engine starts (applyToCommand rewrites argv
//     and env; rewriteConfig the served file); the engine only learns from them that the run is
//     counterfactual from its first event. A syscall target changes every call of that name
//     whose recorded timeout was finite and positive (0, "poll and return", and "no timeout"
//     are left alone); the outcome of the wait is decided from when the data arrived in
//     production (DESIGN.md).
//
// Several injections: all apply, none replaces another (unlike strace, which keeps one per
// syscall). On one call: delays add up; signals are delivered on entry, in list order; when more
// than one fail matches, the first in list order decides the result (the others still count the
// call). Each injection counts its own occurrences (select.when).
import { timeoutSyscalls } from '../events/syscalls';
export type TimeUnit = 'ns' | 'us' | 'ms' | 's';

/** strace's when=first[..last][+step]: which of the matching calls are hit (1-based). */
export interface When {
  first: number;
  /** null: no upper bound. */
  last: number | null;
  step: number;
}

export interface ArgMatch {
  /** As written: fd, flags, arg1..arg6 (1-based, as strace numbers arguments). */
  key: string;
  /** 0-based argument index. */
  index: number;
  op: 'eq' | 'all';
  /** Unsigned 64-bit decimal. */
  value: string;
}

/** Which syscalls an injection applies to. */
export interface Selector {
  /** The set as written: read, connect,sendto, %network, /^recv, !%file, all. */
  set: string;
  syscalls: string[];
  nrs: number[];
  pid: number | null;
  tid: number | null;
  resource: string | null;
  args: ArgMatch[];
  when: When;
}

interface Base {
  /** Stable name: the label, else kind + hash of spec. */
  id: string;
  /** Canonical CLI form. */
  spec: string;
  label: string | null;
}

export interface DelayInjection extends Base {
  kind: 'delay';
  select: Selector;
  enterUs: number;
  exitUs: number;
}

export interface FailInjection extends Base {
  kind: 'fail';
  select: Selector;
  errno: number | null;
  errnoName: string | null;
  retval: number | null;
}

export interface SignalInjection extends Base {
  kind: 'signal';
  select: Selector;
  signal: number;
  signalName: string;
}

export interface LatencyInjection extends Base {
  kind: 'latency';
  resource: string;
  us: number;
}

/** What a timeout injection can change: a call with a timeout argument in the syscall table
 * (poll, select, epoll_wait and their variants), or a socket's receive or send timeout. */
export const TIMEOUT_SYSCALLS: readonly string[] = [...timeoutSyscalls(), 'SO_RCVTIMEO', 'SO_SNDTIMEO'];
export type TimeoutSyscall = string;

export type TimeoutTarget =
  | { type: 'env'; name: string }
  | { type: 'arg'; flag: string }
  | { type: 'file'; path: string; key: string }
  | { type: 'syscall'; name: TimeoutSyscall };

export interface TimeoutInjection extends Base {
  kind: 'timeout';
  target: TimeoutTarget;
  value: string;
  unit: TimeUnit | null;
  us: number | null;
}

export type Injection = DelayInjection | FailInjection | SignalInjection | LatencyInjection | TimeoutInjection;
export type InjectionKind = Injection['kind'];
/** The injections that act on matching syscalls. */
export type SyscallInjection = DelayInjection | FailInjection | SignalInjection;

export const ENGINE_SCHEMA_VERSION = 1;
