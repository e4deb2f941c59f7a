// The replaybook command line: record, incidents, replay, demo, doctor.
import { storeHome } from '../store';
import { CLICKHOUSE_FLAG, STORE_COMMANDS, STORE_COMMANDS_HELP, openStoreFor, runStoreCommand, serviceEnv } from './store-commands';
import type { EventStore } from '../store/types';
import type { IncidentInfo } from '../events/schema';
import { record } from '../record/record';
import { replay, type RunResult, type Speed } from '../replay/replay';
import { ReplaySession } from '../replay/session';
import { loadIncident } from '../replay/replay';
import { transactions } from '../analysis/transactions';
import { runDemo } from '../demo';
import { runDoctor } from '../doctor';
import { installKernel, uninstallKernel, KERNEL_DISPLAY_NAME } from '../kernelspec';
import { helpText, parseArgs, parseSince, type CommandSpec, type Parsed } from './args';
import { ReplaybookError } from '../errors';

const VERBOSE: import('./args').FlagSpec = { name: 'verbose', help: 'show stack traces on errors' };
const HELP: import('./args').FlagSpec = { name: 'help', help: 'show this help' };

const COMMANDS: Record<string, CommandSpec> = {
  record: {
    name: 'record',
    usage: 'replaybook record --incident ID [--service NAME] [--no-pin] [--no-late-data | --late-data-ms N] -- CMD [ARGS...]',
    summary:
      'Run CMD under the recorder: every syscall with its data and timing goes into the event log as incident ID.\nThe service\'s own stdout and stderr still reach this terminal.\n' +
      'Late data: when the service closes a TCP connection (or exits), the recorder keeps reading it for up to\n' +
      '5 s and logs what the peer still sends, for "what if the timeout were longer" replays. The peer sees a FIN\n' +
      'instead of an RST; the service is not delayed, but the recording can end up to that long after it exits.',
    flags: [
      { name: 'incident', value: 'ID', help: 'incident id (letters, digits, . _ : -)' },
      { name: 'service', value: 'NAME', help: "service name (default: the executable's name)" },
      { name: 'no-pin', help: 'do not pin the service to one CPU (for services that need every core; stops cost more)' },
      { name: 'no-late-data', help: 'do not read on sockets the service closed (the peer sees exactly what it would have)' },
      { name: 'late-data-ms', value: 'N', help: 'read on a closed socket for at most N ms after the close (default 5000)' },
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
    usage: 'replaybook replay ID [--speed 1|10|0.5|max] [--json]',
    summary:
      'Replay incident ID: the recorded binary runs with every I/O, clock and random syscall served from the log.\nNo external system is contacted. The run is stored with its own events.',
    flags: [
      { name: 'speed', value: 'S', help: "1 = production timing (default), 10 = ten times faster, 'max' = no waiting" },
      { name: 'until', value: 'SEQ', help: 'stop before event SEQ (fast-forwarded) and print where the replay stands' },
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
      'Register (or remove) the Jupyter kernel "replaybook (TypeScript)": tslab with the replaybook API preloaded,\nso notebook cells call incidents(), fetchIncident(id), replay(...), timeline(run) and display(x) without imports.\nWithout a flag the kernelspec is installed system-wide (needs root).',
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
};

const MAIN_HELP = `replaybook: reproduce production incidents from their recorded syscalls

usage: replaybook <command> [options]

commands:
  record     record a service's syscalls as an incident
  incidents  list recorded incidents
  replay     replay an incident from its log
  transactions  list an incident's requests and calls
  demo       record and replay the canonical payment-timeout incident
  kernel     install or remove the Jupyter kernel
  doctor     check that this machine can record and replay
${STORE_COMMANDS_HELP}

Each command takes --help. The store lives in $REPLAYBOOK_HOME, else the nearest .replaybook/
directory upward, else ~/.local/share/replaybook (now: ${storeHome()}); with --clickhouse URL or
$REPLAYBOOK_CLICKHOUSE_URL, a ClickHouse server.`;

function speedOf(s: string | true | undefined): Speed {
  if (s === undefined) return 1;
  if (s === 'max') return 'max';
  const n = Number(s);
  if (typeof s !== 'string' || !(n > 0) || !Number.isFinite(n)) {
    throw new ReplaybookError('usage', `--speed must be a positive number or 'max', not '${String(s)}'`);
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

function fmtNs(ns: bigint): string {
  const ms = Number(ns) / 1e6;
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

function incidentLine(i: IncidentInfo): string[] {
  const started = new Date(Number(i.started_at_ns / 1_000_000n)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const outcome = i.exit_signal ? `killed ${i.exit_signal}` : `exit ${i.exit_code}`;
  return [i.incident_id, i.service, started, outcome, String(i.event_count), fmtNs(i.duration_ns)];
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
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  return ac.signal;
}

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
      lateData: lateDataFlags(p),
      store,
      signal: interruptSignal(),
    });
    const i = res.incident;
    for (const w of res.warnings) process.stderr.write(`replaybook: warning: ${w}\n`);
    const outcome = i.exit_signal ? `was killed by ${i.exit_signal}` : `exited ${i.exit_code}`;
    process.stderr.write(
      `replaybook: recorded incident '${i.incident_id}': ${i.event_count} events in ${fmtNs(i.duration_ns)}; the service ${outcome}` +
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

async function cmdReplay(p: Parsed): Promise<number> {
  const id = p.positionals[0];
  if (!id) throw new ReplaybookError('usage', 'replay needs an incident id (see replaybook incidents)');
  const speed = speedOf(p.flags.get('speed'));
  const until = str(p, 'until');
  if (until !== undefined) return replayUntil(id, until, speed, p);
  return withStore(p, async (store) => {
    const r = await replay(id, { store, speed, pin: !p.flags.has('no-pin'), signal: interruptSignal() });
    if (p.flags.has('json')) {
      process.stdout.write(JSON.stringify(runJson(r)) + '\n');
    } else {
      process.stdout.write(describeRun(r) + '\n');
    }
    return r.divergence ? 3 : 0;
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

async function replayUntil(id: string, until: string, speed: Speed, p: Parsed): Promise<number> {
  const seq = Number(until);
  if (!Number.isInteger(seq) || seq < 0) throw new ReplaybookError('usage', `--until needs an event number (seq), not '${until}'`);
  return withStore(p, async (store) => {
    const session = await ReplaySession.open(id, { store, speed, pin: !p.flags.has('no-pin'), ephemeral: true, signal: interruptSignal() }, { paused: true });
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

export function describeRun(r: RunResult): string {
  const out: string[] = [];
  const status = (code: number | null, sig: string | null) => (sig ? `killed by ${sig}` : `exit ${code}`);
  out.push(`run ${r.runId} of ${r.incident} (speed ${r.speed}, ${r.events} events, ${(r.wallMs / 1000).toFixed(2)} s)`);
  if (r.localExeChanged) out.push('note: the local executable differs from the recorded one; the recorded binary ran');
  for (const w of r.warnings) out.push(`warning: ${w}`);
  if (r.divergence) {
    const d = r.divergence;
    out.push(`DIVERGED at seq ${d.seq} (tid ${d.tid}): ${d.reason}`);
    if (d.expected) out.push(`  recorded: ${d.expected.name} ${d.expected.resource} ${JSON.stringify(d.expected.data_in.toString('utf8'))}`);
    out.push(`  program:  ${d.actual.name} ${d.actual.resource} ${JSON.stringify(d.actual.data_in.toString('utf8'))}`);
  } else {
    out.push(`program ${status(r.exitCode, r.signal)}; recorded ${status(r.recorded.exitCode, r.recorded.signal)}`);
    out.push(`stdout: ${JSON.stringify(r.stdout.toString('utf8'))}`);
    out.push(r.reproduced ? 'reproduced: same syscalls, same output, same exit status' : 'NOT reproduced: the outcome differs from the recording');
  }
  return out.join('\n');
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
    case 'demo':
      return runDemo({ signal: interruptSignal() });
    case 'kernel':
      return cmdKernel(p);
    case 'doctor':
      return runDoctor();
    default:
      return runStoreCommand(name, p);
  }
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    return await dispatch(argv);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`replaybook: ${err.message}\n`);
    if (verbose && err.stack) process.stderr.write(err.stack + '\n');
    return err instanceof ReplaybookError && err.code === 'usage' ? 2 : 1;
  }
}
