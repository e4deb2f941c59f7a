// The replaybook command line: record, incidents, replay, demo, doctor.
import { storeHome } from '../store';
import { CLICKHOUSE_FLAG, STORE_COMMANDS, STORE_COMMANDS_HELP, openStoreFor, runStoreCommand, serviceEnv } from './store-commands';
import type { EventStore } from '../store/types';
import type { IncidentInfo } from '../events/schema';
import { record } from '../record/record';
import { REDACT_FLAGS, redactFlags } from './redact-flags';
import { replay, type RunResult, type Speed } from '../replay/replay';
import { MAX_SPEED, MIN_SPEED, ReplaySession, SPEED_RULE } from '../replay/session';
import { loadIncident, type ReplayChanges } from '../replay/run';
import { describeRun, exitStatus, jitterText } from '../replay/describe';
import { transactions } from '../analysis/transactions';
import { runDemo } from '../demo';
import { runDoctor } from '../doctor';
import { EXPORT_SUMMARY, exportCommand } from './export';
import { SPOOL_SPEC, SPOOL_SUMMARY, spoolCommand } from './spool';
import { installKernel, installLabextension, installNbconvertTemplate, uninstallKernel, KERNEL_DISPLAY_NAME, NBCONVERT_TEMPLATE } from '../kernelspec';
import { helpText, parseArgs, parseSince, type CommandSpec, type FlagSpec, type Parsed } from './args';
import { ReplaybookError } from '../errors';
import { formatDuration, formatMs, lastLine } from '../format';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomInt } from 'node:crypto';
import { spawn } from 'node:child_process';
import { describeInjection, InjectionApplyError, parseInjection, type Injection } from '../inject';
import {
  DEFAULT_JITTER_MS,
  DEFAULT_VERIFY_RUNS,
  verifyFix,
  type RunProgress,
  type RunSummary,
  type SuccessPredicate,
  type Verdict,
} from '../replay/verify';
import { shownId } from '../events/ids';

const VERBOSE: FlagSpec = { name: 'verbose', help: 'show stack traces on errors' };
const HELP: FlagSpec = { name: 'help', help: 'show this help' };

/** The flags that change a replay (counterfactual replay), shared by replay and verify. */
const INJECTION_FLAGS: FlagSpec[] = [
  {
    name: 'timeout',
    value: 'TARGET=VALUE',
    repeat: true,
    help: 'a new timeout: env:NAME=V (env:PAYMENT_TIMEOUT_MS=5000), arg:--flag=V, syscall:poll=MS',
  },
  {
    name: 'inject',
    value: 'SPEC',
    repeat: true,
    help: "change syscalls, in strace's syntax: connect:error=ECONNREFUSED, read:error=EIO:when=3, poll:delay_enter=500ms",
  },
  { name: 'fault', value: 'SPEC', repeat: true, help: "strace's fault=: SET[:error=ERRNO][:when=...] (ENOSYS unless error= says otherwise)" },
  { name: 'latency', value: 'RES=US', repeat: true, help: 'recorded data from resource RES arrives US microseconds later: tcp:*:9000=3000000' },
  { name: 'binary', value: 'PATH', help: 'run this rebuilt executable instead of the recorded one' },
  { name: 'unrecorded', value: 'error|refuse', help: "a call with nothing recorded behind it: 'error' ends the run (default), 'refuse' fails the call" },
];
const INJECTION_FLAG_NAMES = new Set(['timeout', 'inject', 'fault', 'latency']);

const COMMANDS: Record<string, CommandSpec> = {
  record: {
    name: 'record',
    usage: 'replaybook record --incident ID [--service NAME] [--no-pin] [--aslr] [--cpuid warn|require] [--fast [--ring-wait-ms N]] [--schedule serial|parallel] [--no-late-data | --late-data-ms N] [--redact RULE]... [--redact-file PATH]... [--no-default-redact] [--max-events N] [--max-bytes N] -- CMD [ARGS...]',
    summary:
      'Run CMD under the recorder: every syscall with its data and timing goes into the event log as incident ID.\nThe service\'s own stdout and stderr still reach this terminal.\n' +
      'The recording is stored while it runs (`replaybook incidents` shows it as recording; it can be opened and\n' +
      'fetched meanwhile). The recorder engine writes it to the spool itself: if this command dies (a dropped SSH\n' +
      'session) the service and its recording go on, and the next command that opens the store ingests it.\n' +
      'Ctrl-C or SIGTERM stops the service; what was recorded until then is kept, marked cut short. If the engine\n' +
      'itself dies the service dies with it: its seccomp filter needs the engine, it cannot run on untraced.\n' +
      'At --max-events or --max-bytes the service is stopped the same way (it cannot be detached and left running),\n' +
      'and the incident is marked cut short with the budget as its reason.\n' +
      'Late data: when the service closes a TCP connection (or exits), the recorder keeps reading it for up to\n' +
      '5 s and logs what the peer still sends, for "what if the timeout were longer" replays. The peer sees a FIN\n' +
      'instead of an RST; the service is not delayed, but the recording can end up to that long after it exits.\n' +
      'Secrets are replaced by same-length placeholders before anything is stored: variables matching *TOKEN*,\n' +
      '*SECRET*, *PASSWORD*, *_KEY and the Authorization, Proxy-Authorization, Cookie, Set-Cookie and X-Api-Key\n' +
      'headers by default; a replay runs with the placeholders.',
    flags: [
      { name: 'incident', value: 'ID', help: 'incident id (letters, digits, . _ : -)' },
      { name: 'service', value: 'NAME', help: "service name (default: the executable's name)" },
      { name: 'no-pin', help: 'do not pin the service to one CPU (for services that need every core; stops cost more)' },
      { name: 'cpuid', value: 'warn|require', help: 'where cpuid answers cannot be recorded: warn (default), or require: fail before the service runs' },
      { name: 'aslr', help: 'keep address randomization on (default: off, as rr does, so the replay has the recorded layout; docs/services.md)' },
      { name: 'fast', help: 'record hot syscalls (read, write, epoll_wait, futex...) inside the service, not under ptrace (docs/fast-path.md)' },
      { name: 'ring-wait-ms', value: 'N', help: '--fast: a thread waits at most N ms for room in a full ring, then its call is lost (default 10)' },
      { name: 'schedule', value: 'serial|parallel', help: 'serial (default): one thread runs at a time; parallel: all at once (replay may diverge on shared memory)' },
      { name: 'no-late-data', help: 'do not read on sockets the service closed (the peer sees exactly what it would have)' },
      { name: 'late-data-ms', value: 'N', help: 'read on a closed socket for at most N ms after the close (default 5000)' },
      { name: 'max-events', value: 'N', help: 'stop the service and the recording after about N events (marked cut short)' },
      { name: 'max-bytes', value: 'N', help: 'stop the service and the recording once its spool file holds N bytes (marked cut short)' },
      ...REDACT_FLAGS,
      CLICKHOUSE_FLAG,
      HELP,
      VERBOSE,
    ],
    positionals: 0,
  },
  incidents: {
    name: 'incidents',
    usage: 'replaybook incidents [--service S] [--failed] [--since T] [--json]',
    summary: 'List recorded incidents, newest first.',
    flags: [
      { name: 'service', value: 'S', help: 'only this service' },
      { name: 'failed', help: 'only incidents whose service exited non-zero or was killed' },
      { name: 'since', value: 'T', help: 'only incidents since T (30m, 2h, 7d, or a date)' },
      { name: 'json', help: 'one JSON array' },
      CLICKHOUSE_FLAG,
      HELP,
      VERBOSE,
    ],
    positionals: 0,
  },
  replay: {
    name: 'replay',
    usage:
      'replaybook replay ID [--speed 1|10|0.5|max] [--json]\n' +
      '       replaybook replay ID [--timeout T=V]... [--inject SPEC]... [--latency RES=US]... [--binary PATH] [--jitter-ms N [--seed S]]\n' +
      "       replaybook replay ID --until SEQ (--gdbserver PORT | --gdb [--gdb-ex 'bt']...)",
    summary:
      'Replay incident ID: the recorded binary runs with every I/O, clock and random syscall served from the log.\nNo external system is contacted. The run is stored with its own events.\n' +
      'With injections (repeatable, applied in the order given) the replay is counterfactual: it follows the log\n' +
      'until the first change takes effect, then serves files and streams as production saw them (the stream\n' +
      'policy), so the program can take another path. A malformed injection is refused before anything runs.',
    flags: [
      { name: 'speed', value: 'S', help: "1 = production timing (default), 10 = ten times faster (0.01 to 1000), 'max' = no waiting" },
      { name: 'until', value: 'SEQ', help: 'stop before event SEQ (fast-forwarded) and print where the replay stands' },
      { name: 'gdbserver', value: 'PORT', help: 'with --until: wait there for gdb on 127.0.0.1:PORT (0: a free port) until Ctrl-C or the program ends (docs/gdb.md)' },
      { name: 'gdb', help: "with --until: run gdb (/usr/bin/gdb) attached to the paused replay, the binary's symbols loaded" },
      { name: 'gdb-ex', value: 'CMD', repeat: true, help: "with --gdb: run gdb in batch mode with these commands ('bt', 'info locals'), then stop" },
      ...INJECTION_FLAGS,
      { name: 'jitter-ms', value: 'N', help: 'every recorded arrival up to N ms later, drawn from the seed' },
      { name: 'seed', value: 'S', help: 'the jitter seed (default: a random one, printed)' },
      { name: 'label', value: 'TEXT', help: "a name for the run, stored with it ('timeout 5 s'); runs() in a notebook shows it" },
      { name: 'no-pin', help: 'do not pin to one CPU' },
      { name: 'json', help: 'print one JSON object with the outcome' },
      CLICKHOUSE_FLAG,
      HELP,
      VERBOSE,
    ],
    positionals: 1,
  },
  transactions: {
    name: 'transactions',
    usage: 'replaybook transactions ID [--json]',
    summary:
      "List an incident's transactions: each accepted connection (a request the service served) and each\noutgoing call it made, with timing, bytes and outcome. `replaybook replay ID --until SEQ` opens a replay there.",
    flags: [{ name: 'json', help: 'one JSON array' }, CLICKHOUSE_FLAG, HELP, VERBOSE],
    positionals: 1,
  },
  verify: {
    name: 'verify',
    usage:
      'replaybook verify ID (--timeout T=V | --inject SPEC | --latency RES=US | --binary PATH)... [--runs N] [--jitter-ms N] [--seed S] [--json]',
    summary:
      'Verify a fix of incident ID: (1) the original replay reproduces the recorded failure, (2) the replay with the fix\n' +
      `succeeds, (3) N replays of the fix with seeded timing jitter (every recorded arrival up to --jitter-ms later) all\n` +
      'succeed. Success is exit status 0 unless --success-stdout or --success-exit says otherwise. Progress goes to stderr.\n' +
      'Run i uses the jitter seed SHA-256("S:i")[0..4]: the same --seed gives the same runs, and\n' +
      '`replaybook replay ID <the fix> --jitter-ms N --seed <the run\'s SEED>` repeats one of them.\n' +
      'Exit status: 0 verified, 1 not verified (or an error), 2 usage error.',
    flags: [
      ...INJECTION_FLAGS,
      { name: 'runs', value: 'N', help: `jittered runs of the fix (default ${DEFAULT_VERIFY_RUNS}; 0 skips them)` },
      { name: 'jitter-ms', value: 'N', help: `jitter bound in ms (default ${DEFAULT_JITTER_MS})` },
      { name: 'seed', value: 'S', help: 'seed of the jitter (a whole number; default: a random one, printed)' },
      { name: 'success-stdout', value: 'TEXT', help: 'a run succeeds when its stdout contains TEXT' },
      { name: 'success-exit', value: 'N', help: 'a run succeeds when it exits with status N' },
      { name: 'speed', value: 'S', help: "replay speed (default 'max': outcomes follow the virtual clock, not the wall clock)" },
      { name: 'no-store', help: 'do not store the runs' },
      { name: 'no-pin', help: 'do not pin to one CPU' },
      { name: 'json', help: 'print the verdict as one JSON object' },
      CLICKHOUSE_FLAG,
      HELP,
      VERBOSE,
    ],
    positionals: 1,
  },
  demo: {
    name: 'demo',
    usage: 'replaybook demo',
    summary:
      'Build the payment fixtures, record the canonical incident (a 2 s client timeout against a 2.5 s provider),\nreplay it with the provider stopped, and write a timeline chart.',
    flags: [HELP, VERBOSE],
    positionals: 0,
  },
  kernel: {
    name: 'kernel',
    usage: 'replaybook kernel install [--user|--sys-prefix|--prefix DIR] | replaybook kernel uninstall',
    summary:
      'Register (or remove) the Jupyter kernel "replaybook (TypeScript)": tslab with the replaybook API preloaded,\nso notebook cells call incidents(), fetchIncident(id), replay(...), timeline(run) and display(x) without imports,\nand beside it (in labextensions) the JupyterLab 4 / Notebook 7 extension that draws the replay panel timeline.\nWithout a flag the kernelspec is installed system-wide (needs root).',
    flags: [
      { name: 'user', help: 'install for the current user (~/.local/share/jupyter/kernels)' },
      { name: 'sys-prefix', help: "install into Python's sys.prefix (a virtualenv or conda env)" },
      { name: 'prefix', value: 'DIR', help: 'install into DIR/share/jupyter/kernels' },
      HELP,
      VERBOSE,
    ],
    positionals: 1,
  },
  doctor: {
    name: 'doctor',
    usage: 'replaybook doctor',
    summary: 'Check ptrace, seccomp, pidfd, CPU pinning, mount namespaces and the store; say what is missing and how to fix it.',
    flags: [HELP, VERBOSE],
    positionals: 0,
  },
  ...STORE_COMMANDS,
  spool: SPOOL_SPEC,
};

const MAIN_HELP = `replaybook: reproduce production incidents from their recorded syscalls

usage: replaybook <command> [options]

commands:
  record     record a service's syscalls as an incident
  incidents  list recorded incidents
  replay     replay an incident from its log, or change it (--timeout, --inject, --latency, --binary)
  verify     verify a fix: the failure reproduces, the fix succeeds, jittered runs of it too
  transactions  list an incident's requests and calls
  demo       record and replay the canonical payment-timeout incident
  kernel     install or remove the Jupyter kernel
  doctor     check that this machine can record and replay
${EXPORT_SUMMARY}
${STORE_COMMANDS_HELP}
${SPOOL_SUMMARY}

Each command takes --help. The store lives in $REPLAYBOOK_HOME, else the nearest .replaybook/
directory upward, else ~/.local/share/replaybook (now: ${storeHome()}); with --clickhouse URL or
$REPLAYBOOK_CLICKHOUSE_URL, a ClickHouse server.`;

function speedOf(s: string | true | undefined, fallback: Speed = 1): Speed {
  if (s === undefined) return fallback;
  if (s === 'max') return 'max';
  const n = Number(s);
  if (typeof s !== 'string' || !/^\d*\.?\d+$/.test(s) || !(n >= MIN_SPEED && n <= MAX_SPEED)) {
    throw new ReplaybookError('usage', `--speed must be ${SPEED_RULE}, not '${String(s).slice(0, 40)}'`);
  }
  return n;
}

function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function printable(b: Buffer): string {
  return b.toString('utf8');
}

function incidentLine(i: IncidentInfo): string[] {
  const started = new Date(Number(i.started_at_ns / 1_000_000n)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const outcome = i.state === 'recording' ? 'recording' : exitStatus(i.exit_code, i.exit_signal) + (i.state === 'cut short' ? ' (cut short)' : '');
  return [i.incident_id, i.service, started, outcome, i.state === 'recording' ? '-' : String(i.event_count), i.state === 'recording' ? '-' : formatDuration(i.duration_ns)];
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

export function runJson(r: RunResult): Record<string, unknown> {
  const call = (c: NonNullable<RunResult['divergence']>['actual'] | null) =>
    c && {
      name: c.name,
      nr: c.nr,
      args: c.args.map(String),
      resource: c.resource,
      data_in: c.data_in.toString('utf8'),
      data_in_base64: c.data_in.toString('base64'),
    };
  return {
    incident: r.incident,
    runId: r.runId,
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: printable(r.stdout),
    stderr: printable(r.stderr),
    events: r.events,
    wallMs: Math.round(r.wallMs * 1000) / 1000,
    speed: r.speed,
    reproduced: r.reproduced,
    stored: r.stored,
    warnings: r.warnings,
    policy: r.policy,
    switchedAt: r.switchedAt,
    injections: r.injections.map((i) => ({ id: i.id, kind: i.kind, spec: i.spec, description: describeInjection(i) })),
    injectionReport: r.injectionReport,
    commandChanges: r.commandChanges,
    unrecorded: r.unrecorded,
    divergence: r.divergence && {
      seq: r.divergence.seq,
      tid: r.divergence.tid,
      reason: r.divergence.reason,
      ip: '0x' + r.divergence.ip.toString(16),
      expected: call(r.divergence.expected),
      actual: call(r.divergence.actual),
    },
  };
}

async function withStore<T>(p: Parsed, fn: (store: EventStore) => Promise<T>): Promise<T> {
  const store = await openStoreFor(p);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** An AbortSignal that fires on Ctrl-C, so the engine and its tracee stop with us. */
function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  const stop = (sig?: NodeJS.Signals): void => {
    interruptRequested = true;
    ac.abort(typeof sig === 'string' ? sig : undefined);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac.signal;
}

/** Set once Ctrl-C (or SIGTERM) stopped the command: it then exits with 130 at once. */
let interruptRequested = false;
/** Exit status of a command stopped by an interrupt (128 + SIGINT, as shells report it). */
export const INTERRUPTED_STATUS = 130;

function lateDataFlags(p: Parsed): boolean | { ms: number } {
  const ms = str(p, 'late-data-ms');
  if (p.flags.has('no-late-data')) {
    if (ms !== undefined) throw new ReplaybookError('usage', '--no-late-data and --late-data-ms contradict each other: give one');
    return false;
  }
  if (ms === undefined) return true;
  if (!/^\d+$/.test(ms) || !Number.isSafeInteger(Number(ms))) {
    throw new ReplaybookError('usage', `--late-data-ms needs a whole number of milliseconds, not '${ms}'`);
  }
  return { ms: Number(ms) };
}

function fastFlags(p: Parsed): { fast: boolean; ringWaitMs?: number; schedule?: 'serial' | 'parallel' } {
  const wait = str(p, 'ring-wait-ms');
  const schedule = str(p, 'schedule');
  const fast = p.flags.has('fast');
  if (wait !== undefined && !fast) throw new ReplaybookError('usage', '--ring-wait-ms only applies with --fast: add --fast or drop it');
  if (wait !== undefined && (!/^\d+$/.test(wait) || !Number.isSafeInteger(Number(wait)))) {
    throw new ReplaybookError('usage', `--ring-wait-ms needs a whole number of milliseconds, not '${wait}'`);
  }
  if (schedule !== undefined && schedule !== 'serial' && schedule !== 'parallel') {
    throw new ReplaybookError('usage', `--schedule needs serial or parallel, not '${schedule}'`);
  }
  return { fast, ringWaitMs: wait === undefined ? undefined : Number(wait), schedule };
}

function cpuidFlag(p: Parsed): 'warn' | 'require' | undefined {
  const v = str(p, 'cpuid');
  if (v !== undefined && v !== 'warn' && v !== 'require') throw new ReplaybookError('usage', `--cpuid needs warn or require, not '${v}'`);
  return v;
}

async function cmdRecord(p: Parsed): Promise<number> {
  const incident = str(p, 'incident');
  if (!incident) throw new ReplaybookError('usage', 'record needs --incident ID (see replaybook record --help)');
  if (p.rest.length === 0) throw new ReplaybookError('usage', 'record needs the command after -- (see replaybook record --help)');
  return withStore(p, async (store) => {
    const res = await record({
      incident,
      command: p.rest,
      service: str(p, 'service'),
      env: serviceEnv(),
      pin: !p.flags.has('no-pin'),
      aslr: p.flags.has('aslr'),
      cpuid: cpuidFlag(p),
      lateData: lateDataFlags(p),
      ...fastFlags(p),
      ...redactFlags(p),
      maxEvents: wholeNumber(p, 'max-events'),
      maxBytes: wholeNumber(p, 'max-bytes'),
      store,
      signal: interruptSignal(),
    });
    const i = res.incident;
    for (const w of res.warnings) process.stderr.write(`replaybook: warning: ${w}\n`);
    if (i.state === 'cut short') {
      process.stderr.write(
        `replaybook: recorded incident ${shownId(i.incident_id)}, cut short: ${i.state_reason}; its ${i.event_count} events ` +
          `(${formatDuration(i.duration_ns)}) are stored and replay up to that point\n`,
      );
      return interruptRequested ? INTERRUPTED_STATUS : 0;
    }
    const outcome = i.exit_signal ? `was killed by ${i.exit_signal}` : `exited ${i.exit_code}`;
    process.stderr.write(
      `replaybook: recorded incident ${shownId(i.incident_id)}: ${i.event_count} events in ${formatDuration(i.duration_ns)}; the service ${outcome}` +
        (res.stored === 'spooled' ? ' (the store was busy: the incident is spooled and appears at its next open)' : '') +
        '\n',
    );
    return 0;
  });
}

async function cmdIncidents(p: Parsed): Promise<number> {
  return withStore(p, async (store) => {
    const since = str(p, 'since');
    const list = await store.incidents({
      service: str(p, 'service'),
      failed: p.flags.has('failed') || undefined,
      since: since ? parseSince(since) : undefined,
    });
    if (p.flags.has('json')) {
      process.stdout.write(JSON.stringify(list, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    } else if (list.length === 0) {
      process.stdout.write('no incidents (record one with: replaybook record --incident ID -- CMD)\n');
    } else {
      process.stdout.write(table([['INCIDENT', 'SERVICE', 'STARTED', 'OUTCOME', 'EVENTS', 'DURATION'], ...list.map(incidentLine)]) + '\n');
    }
    return 0;
  });
}

/** The injections of the command line, parsed in the order given: a malformed one is an error here. */
function injectionsOf(p: Parsed): Injection[] {
  return p.repeated.filter((r) => INJECTION_FLAG_NAMES.has(r.name)).flatMap((r) => parseInjection(`--${r.name}`, r.value));
}

function wholeNumber(p: Parsed, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !(Number(v) <= max)) throw new ReplaybookError('usage', `--${name} needs a whole number${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, not '${v}'`);
  return Number(v);
}

function jitterMsOf(p: Parsed): number | undefined {
  const v = str(p, 'jitter-ms');
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n <= 3_600_000)) throw new ReplaybookError('usage', `--jitter-ms needs a number of milliseconds from 0 to 3600000, not '${v}'`);
  return n;
}

function binaryOf(p: Parsed): string | undefined {
  const b = str(p, 'binary');
  if (b === undefined) return undefined;
  const abs = path.resolve(b);
  if (!fs.existsSync(abs)) throw new ReplaybookError('usage', `--binary ${b}: no such file`);
  return abs;
}

function unrecordedOf(p: Parsed): 'error' | 'refuse' | undefined {
  const u = str(p, 'unrecorded');
  if (u === undefined || u === 'error' || u === 'refuse') return u;
  throw new ReplaybookError('usage', `--unrecorded must be 'error' or 'refuse', not '${u}'`);
}

async function cmdReplay(p: Parsed): Promise<number> {
  const id = p.positionals[0];
  if (!id) throw new ReplaybookError('usage', 'replay needs an incident id (see replaybook incidents)');
  // Everything on the command line is checked before the store is opened and anything runs.
  const speed = speedOf(p.flags.get('speed'));
  const injections = injectionsOf(p);
  const binary = binaryOf(p);
  const unrecorded = unrecordedOf(p);
  const jitterMs = jitterMsOf(p);
  const seedFlag = wholeNumber(p, 'seed', 2 ** 32 - 1);
  if (seedFlag !== undefined && jitterMs === undefined) throw new ReplaybookError('usage', '--seed is the seed of the jitter: give --jitter-ms N too');
  const jitter = jitterMs !== undefined && jitterMs > 0 ? { ms: jitterMs, seed: seedFlag ?? randomInt(0, 2 ** 32) } : undefined;
  const until = str(p, 'until');
  const label = str(p, 'label');
  const changes: ReplayChanges = { injections, binary, unrecorded, jitter, label };
  if (until === undefined && (p.flags.has('gdbserver') || p.flags.has('gdb'))) {
    throw new ReplaybookError('usage', '--gdbserver and --gdb attach to a paused replay: give --until SEQ (the event to pause before)');
  }
  if (until !== undefined) return replayUntil(id, until, speed, p, changes);
  return withStore(p, async (store) => {
    const r = await replay(id, { store, speed, pin: !p.flags.has('no-pin'), signal: interruptSignal(), ...changes });
    if (p.flags.has('json')) {
      process.stdout.write(JSON.stringify({ ...runJson(r), jitter: jitter ?? null }) + '\n');
    } else {
      process.stdout.write(describeRun(r, { jitter, binary }) + '\n');
    }
    return r.divergence ? 3 : 0;
  });
}

function successOf(p: Parsed): SuccessPredicate | undefined {
  const text = str(p, 'success-stdout');
  const code = wholeNumber(p, 'success-exit', 255);
  if (text !== undefined && code !== undefined) throw new ReplaybookError('usage', 'give one of --success-stdout and --success-exit');
  if (text !== undefined) return { stdoutIncludes: text };
  if (code !== undefined) return { exitCode: code };
  return undefined;
}

/** The verdict as a table of runs and its sentence. */
export function describeVerdict(v: Verdict): string {
  // A run that did not do what its step expects shows its outcome in capitals.
  const row = (name: string, r: RunSummary, expect: 'failure' | 'success'): string[] => {
    const got = r.success ? 'success' : 'failure';
    return [name, expect, got === expect ? got : got.toUpperCase(), r.seed === null ? '-' : String(r.seed), r.status, formatMs(r.wallMs), lastLine(r.stdout, 60)];
  };
  const lines = [
    `verify ${v.incident}`,
    ...v.fix.description.map((d) => `  fix: ${d}`),
    `  success: ${v.success}; ${v.jittered.length} jittered runs, ${jitterText(v.jitterMs)}, seed ${v.seed}`,
    '',
    table([
      ['RUN', 'EXPECTED', 'OUTCOME', 'SEED', 'STATUS', 'WALL', 'STDOUT'],
      row('baseline', v.baseline, 'failure'),
      row('fix', v.fixed, 'success'),
      ...v.jittered.map((r) => row(String(r.index), r, 'success')),
    ]),
    '',
    v.reason,
    `(${v.jittered.length + 2} runs in ${formatMs(v.wallMs)}; the same runs again: --seed ${v.seed})`,
  ];
  return lines.join('\n');
}

/** Progress on stderr: one line per run, rewritten in place on a terminal. */
function progressPrinter(total: number): { update(p: RunProgress): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let step = 0;
  let open = false;
  const name = (p: RunProgress): string =>
    p.stage === 'baseline' ? 'baseline (the original, no injections)' : p.stage === 'fix' ? 'fix (no jitter)' : `jittered run ${p.index}/${p.total} (seed ${p.seed})`;
  return {
    update(p: RunProgress): void {
      if (p.run === null) {
        step++;
        if (tty) {
          process.stderr.write(`\r\x1b[2Kverify: [${step}/${total}] ${name(p)} ...`);
          open = true;
        }
        return;
      }
      const expect = p.stage === 'baseline' ? 'failure' : 'success';
      const got = p.run.success ? 'success' : 'failure';
      const line = `verify: [${step}/${total}] ${name(p)}: ${p.run.status}, ${got}${got === expect ? '' : ` (expected ${expect})`}, ${formatMs(p.run.wallMs)}`;
      if (tty) {
        process.stderr.write(`\r\x1b[2K${line}`);
        open = true;
      } else process.stderr.write(line + '\n');
    },
    end(): void {
      if (open) process.stderr.write('\r\x1b[2K');
      open = false;
    },
  };
}

async function cmdVerify(p: Parsed): Promise<number> {
  const id = p.positionals[0];
  if (!id) throw new ReplaybookError('usage', 'verify needs an incident id (see replaybook incidents)');
  const injections = injectionsOf(p);
  const binary = binaryOf(p);
  if (injections.length === 0 && binary === undefined) {
    throw new ReplaybookError('usage', 'verify needs a fix: --timeout, --inject, --fault, --latency or --binary (see replaybook verify --help)');
  }
  const runs = wholeNumber(p, 'runs', 100_000) ?? DEFAULT_VERIFY_RUNS;
  const jitterMs = jitterMsOf(p) ?? DEFAULT_JITTER_MS;
  const seed = wholeNumber(p, 'seed');
  const success = successOf(p);
  const speed = speedOf(p.flags.get('speed'), 'max');
  const unrecorded = unrecordedOf(p);
  return withStore(p, async (store) => {
    const progress = progressPrinter(runs + 2);
    let v: Verdict;
    try {
      v = await verifyFix(
        id,
        { injections, binary },
        {
          store,
          runs,
          jitter: { ms: jitterMs },
          seed,
          success,
          speed,
          unrecorded,
          pin: !p.flags.has('no-pin'),
          ephemeral: p.flags.has('no-store'),
          signal: interruptSignal(),
          onProgress: (x) => progress.update(x),
        },
      );
    } finally {
      progress.end();
    }
    process.stdout.write((p.flags.has('json') ? JSON.stringify(v) : describeVerdict(v)) + '\n');
    return v.verified ? 0 : 1;
  });
}

function cmdKernel(p: Parsed): number {
  const action = p.positionals[0];
  if (action === 'uninstall') {
    process.stdout.write(uninstallKernel() + '\n');
    return 0;
  }
  if (action !== 'install') throw new ReplaybookError('usage', "kernel needs 'install' or 'uninstall' (see replaybook kernel --help)");
  const prefix = str(p, 'prefix');
  const chosen = [p.flags.has('user'), p.flags.has('sys-prefix'), prefix !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new ReplaybookError('usage', 'choose one of --user, --sys-prefix and --prefix DIR');
  const where = installKernel(p.flags.has('user') ? { user: true } : p.flags.has('sys-prefix') ? { sysPrefix: true } : prefix ? { prefix } : {});
  process.stdout.write(`installed the Jupyter kernel "${KERNEL_DISPLAY_NAME}" in ${where}\n`);
  const ext = installLabextension(where);
  process.stdout.write(
    ext
      ? `installed the replay panel's timeline extension (JupyterLab 4, Notebook 7) in ${ext}\n`
      : "the replay panel's timeline extension is not built (scripts/install-jupyter.sh builds it): panels draw their timeline through an HTML widget\n",
  );
  const template = installNbconvertTemplate(where);
  process.stdout.write(
    template
      ? `installed the nbconvert template in ${template}: jupyter nbconvert --to html --template ${NBCONVERT_TEMPLATE} draws charts interactively\n`
      : 'the vega builds are missing from node_modules (npm install): the nbconvert template was not installed\n',
  );
  return 0;
}

async function cmdTransactions(p: Parsed): Promise<number> {
  const id = p.positionals[0];
  if (!id) throw new ReplaybookError('usage', 'transactions needs an incident id (see replaybook incidents)');
  return withStore(p, async (store) => {
    await loadIncident(store, id);
    const list = transactions(await store.eventsTable(id));
    if (p.flags.has('json')) {
      process.stdout.write(JSON.stringify(list, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
    } else if (list.length === 0) {
      process.stdout.write(`no network transactions in ${id}\n`);
    } else {
      const ms = (ns: bigint) => `${(Number(ns) / 1e6).toFixed(1)} ms`;
      process.stdout.write(
        table([
          ['ID', 'KIND', 'ENDPOINT', 'SEQ', 'AT', 'TOOK', 'SENT', 'RECEIVED', 'OUTCOME'],
          ...list.map((t) => [t.id, t.kind, t.resource, `${t.firstSeq}-${t.lastSeq}`, ms(t.startNs), ms(t.endNs - t.startNs), String(t.bytesSent), String(t.bytesReceived), t.outcome]),
        ]) + '\n',
      );
    }
    return 0;
  });
}

async function replayUntil(
  id: string,
  until: string,
  speed: Speed,
  p: Parsed,
  changes: ReplayChanges,
): Promise<number> {
  const seq = Number(until);
  if (!Number.isInteger(seq) || seq < 0) throw new ReplaybookError('usage', `--until needs an event number (seq), not '${until}'`);
  const gdbPort = wholeNumber(p, 'gdbserver', 65535);
  const gdbEx = p.repeated.filter((r) => r.name === 'gdb-ex').map((r) => r.value);
  if (gdbEx.length && !p.flags.has('gdb')) throw new ReplaybookError('usage', '--gdb-ex is a command for gdb: give --gdb too');
  if (gdbPort !== undefined || p.flags.has('gdb')) return replayGdb(id, seq, speed, p, changes, gdbPort ?? 0, p.flags.has('gdb') ? gdbEx : null);
  return withStore(p, async (store) => {
    const session = await ReplaySession.open(
      id,
      { store, speed, pin: !p.flags.has('no-pin'), ephemeral: true, signal: interruptSignal(), ...changes },
      { paused: true },
    );
    const state = await session.jumpTo(seq);
    await session.stop().catch(() => undefined);
    if (p.flags.has('json')) {
      process.stdout.write(JSON.stringify({ incident: id, state }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
    } else {
      const next = state.next ? `${state.next.name} (thread ${state.next.tid}, ${state.next.resource || 'no resource'})` : 'the end of the log';
      process.stdout.write(`replay of ${id} stopped before event ${state.seq}: next is ${next}; ${state.served} events served\n`);
      for (const t of state.threads) process.stdout.write(`  thread ${t.tid}: ${t.state}\n`);
    }
    return 0;
  });
}

/**
 * A replay paused before event `seq` for gdb: its gdbserver listens on 127.0.0.1:`port`; with
 * `gdbEx` (--gdb) this command runs gdb against it (batch mode when there are commands), else it
 * waits for one until Ctrl-C or the program's end.
 */
async function replayGdb(id: string, seq: number, speed: Speed, p: Parsed, changes: ReplayChanges, port: number, gdbEx: string[] | null): Promise<number> {
  if (gdbEx !== null && !fs.existsSync('/usr/bin/gdb')) throw new ReplaybookError('no_gdb', 'gdb is not installed: apt-get install gdb');
  // With gdb in this terminal, Ctrl-C is gdb's (it interrupts the replay through the protocol).
  const signal = gdbEx === null ? interruptSignal() : undefined;
  return withStore(p, async (store) => {
    const session = await ReplaySession.open(id, { store, speed, pin: !p.flags.has('no-pin'), ephemeral: true, signal, ...changes }, { paused: true });
    const state = await session.jumpTo(seq);
    if (!state.paused) {
      await session.stop().catch(() => undefined);
      throw new ReplaybookError('replay_ended', `the replay of ${id} ended before event ${seq} (its log has ${state.seq} events)`);
    }
    const listening = await session.gdbserver(port);
    const sysroot = state.threads[0] ? `/proc/${state.threads[0].realTid}/root` : '/';
    const args = ['-nx', '-q', '-ex', `set sysroot ${sysroot}`, '-ex', `target remote 127.0.0.1:${listening}`];
    if (gdbEx === null) {
      process.stderr.write(
        `replay of ${id} paused before event ${state.seq}; gdbserver on 127.0.0.1:${listening}\n` +
          `attach with: gdb ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')} ${session.executable}\n` +
          '(Ctrl-C here stops the replay)\n',
      );
      const r = await session.done.catch(() => null);
      return r ? 0 : 130;
    }
    const gdbArgs = gdbEx.length ? ['-batch', ...args, ...gdbEx.flatMap((c) => ['-ex', c]), session.executable] : [...args, session.executable];
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    try {
      const code = await new Promise<number>((resolve, reject) => {
        const g = spawn('/usr/bin/gdb', gdbArgs, { stdio: 'inherit' });
        g.on('error', reject);
        g.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
      });
      return code;
    } finally {
      process.off('SIGINT', ignore);
      await session.stop().catch(() => undefined);
    }
  });
}

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_HELP + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version') {
    process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  if (name === 'export') return exportCommand(rest);
  const spec = COMMANDS[name];
  if (!spec) throw new ReplaybookError('usage', `unknown command '${name}' (see replaybook --help)`);
  const p = parseArgs(spec, rest);
  if (p.flags.has('help')) {
    process.stdout.write(helpText(spec) + '\n');
    return 0;
  }
  switch (name) {
    case 'record':
      return cmdRecord(p);
    case 'incidents':
      return cmdIncidents(p);
    case 'replay':
      return cmdReplay(p);
    case 'transactions':
      return cmdTransactions(p);
    case 'verify':
      return cmdVerify(p);
    case 'demo':
      return runDemo({ signal: interruptSignal() });
    case 'kernel':
      return cmdKernel(p);
    case 'doctor':
      return runDoctor();
    case 'spool':
      return spoolCommand(p);
    default:
      return runStoreCommand(name, p);
  }
}

/**
 * A command line that cannot work (an unknown flag, a malformed injection or id, a flag the
 * recorded command does not have) is a usage error, exit status 2 for every command: nothing ran.
 */
function isUsageError(err: unknown): boolean {
  if (err instanceof InjectionApplyError) return true;
  return err instanceof ReplaybookError && ['usage', 'inject_spec', 'bad_incident_id', 'bad_speed'].includes(err.code);
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    return await dispatch(argv);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`replaybook: ${err.message}\n`);
    if (verbose && err.stack) process.stderr.write(err.stack + '\n');
    if (interruptRequested && err instanceof ReplaybookError && err.code === 'interrupted') return INTERRUPTED_STATUS;
    return isUsageError(err) ? 2 : 1;
  }
}
