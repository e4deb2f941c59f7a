// The CLI as a user runs it (the compiled bin/replaybook.js), including recording while a
// long-lived reader, such as a notebook kernel, holds the store open.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, startProvider, type FixturePaths } from '../src/fixtures';
import { recordPaymentIncident } from '../src/demo';
import { runSeed } from '../src/replay/verify';
import { openStore } from '../src/store';
import { runProcess, type Ran } from './helpers/run';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-cli-'));
let bins: FixturePaths;

function cli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runProcess(process.execPath, [CLI, ...args], { ...process.env, REPLAYBOOK_HOME: home, ...env });
}

/** A second process holding the store open the whole time, answering JSON commands. */
class Holder {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  constructor() {
    this.child = spawn(process.execPath, [path.join(__dirname, 'helpers', 'store-holder.js'), home, '--keep-open']);
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async next(): Promise<Record<string, unknown>> {
    for (;;) {
      const { value, done } = await this.lines.next();
      if (done) throw new Error('the store holder exited');
      const msg = JSON.parse(value as string) as Record<string, unknown>;
      if (!('warning' in msg)) return msg;
    }
  }
  kill(): void {
    this.child.kill('SIGKILL');
  }
  async ask(line: string): Promise<Record<string, unknown>> {
    this.child.stdin.write(line + '\n');
    return this.next();
  }
}

beforeAll(async () => {
  bins = await buildFixtures();
});

afterAll(() => {
  fs.rmSync(home, { recursive: true, force: true });
});

describe('replaybook CLI', () => {
  it('runs the demo: records the incident, reproduces it, then shows the 5 s timeout fix succeed', async () => {
    const demoHome = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-demo-'));
    try {
      const r = await cli(['demo'], { REPLAYBOOK_HOME: demoHome });
      expect(r.code, r.stderr).toBe(0);
      const out = r.stdout + r.stderr;
      expect(out).toContain('the replay printed: "payment failed: timeout" (exit 1)');
      expect(out).toContain('reproduced the same failure byte for byte');
      expect(out).toContain('the replay printed: "payment ok: OK txn=7781 amount=19.99" (exit 0)');
      const png = /timeline chart: (\S+\.png)/.exec(out)?.[1];
      expect(png && fs.statSync(png).size).toBeGreaterThan(1000);
    } finally {
      fs.rmSync(demoHome, { recursive: true, force: true });
    }
  }, 60_000);

  it('explains itself with --help, per command too', async () => {
    const main = await cli(['--help']);
    expect(main.code).toBe(0);
    for (const c of ['record', 'incidents', 'replay', 'demo', 'doctor']) expect(main.stdout).toContain(c);
    const rec = await cli(['record', '--help']);
    expect(rec.code).toBe(0);
    expect(rec.stdout).toContain('--incident ID');
    expect(rec.stdout).toContain('--no-pin');
    const rep = await cli(['replay', '--help']);
    expect(rep.stdout).toContain('--speed');
    const bad = await cli(['replay', 'x', '--sped', 'max']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe("replaybook: unknown option --sped for 'replay' (see replaybook replay --help)");
  });

  it('records while another process holds the store open; the holder then sees the incident', async () => {
    const holder = new Holder();
    try {
      await recordWhileHeld(holder);
    } finally {
      holder.kill();
    }
  });

  async function recordWhileHeld(holder: Holder): Promise<void> {
    expect(await holder.next()).toMatchObject({ ready: true });
    const provider = await startProvider({ delayMs: 2500 });
    let rec: Ran;
    try {
      rec = await cli(['record', '--incident', 'cli-pay', '--service', 'payments', '--', bins.paymentClient], {
        PAYMENT_TIMEOUT_MS: '2000',
        PAYMENT_PROVIDER: `127.0.0.1:${provider.port}`,
      });
    } finally {
      await provider.stop();
    }
    expect(rec.code).toBe(0);
    expect(rec.stdout).toBe('payment failed: timeout\n'); // the service's own output reaches the terminal
    expect(rec.stderr).toContain("recorded incident 'cli-pay'");
    expect(await holder.ask('incidents')).toEqual({ ids: ['cli-pay'] });
    const events = await holder.ask('events cli-pay');
    // As many rows as the recorder said it stored (a count that depends on the machine's libc).
    const said = Number(/recorded incident 'cli-pay': (\d+) events/.exec(rec.stderr)?.[1]);
    expect(said).toBeGreaterThan(0);
    expect(events.rows).toBe(said);
    expect(await holder.ask('exit')).toEqual({ exited: true });
  }

  it('lists incidents, as a table and as JSON, with filters', async () => {
    const list = await cli(['incidents']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/cli-pay\s+payments\s+.*exit 1/);
    const json = JSON.parse((await cli(['incidents', '--json', '--failed', '--since', '1h'])).stdout) as { incident_id: string }[];
    expect(json.map((i) => i.incident_id)).toEqual(['cli-pay']);
    const none = JSON.parse((await cli(['incidents', '--json', '--service', 'other'])).stdout) as unknown[];
    expect(none).toEqual([]);
  });

  it('replays with --json: the failure reproduced, no divergence', async () => {
    const r = await cli(['replay', 'cli-pay', '--speed', 'max', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ incident: 'cli-pay', exitCode: 1, signal: null, stdout: 'payment failed: timeout\n', stderr: '', divergence: null });
    expect(out.runId).toMatch(/^run-/);
    // The events it reports are the run's events in the store.
    const store = await openStore(home);
    try {
      const run = (await store.runs('cli-pay')).find((x) => x.run_id === out.runId);
      expect(run?.event_count).toBe(out.events);
      expect((await store.eventsTable('cli-pay', String(out.runId))).numRows).toBe(out.events);
    } finally {
      await store.close();
    }
    expect(out.events).toBeGreaterThan(0);
    expect(typeof out.wallMs).toBe('number');
  });

  it('says what is wrong in one line, without a stack trace', async () => {
    const r = await cli(['replay', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("replaybook: unknown incident 'nope': `replaybook incidents` lists the recorded ones\n");
    const dup = await cli(['record', '--incident', 'cli-pay', '--', '/bin/true']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toBe("replaybook: incident 'cli-pay' already exists: choose another id\n");
    const verbose = await cli(['replay', 'nope', '--verbose']);
    expect(verbose.stderr).toContain('at ');
  });

  it('exits 2 for a command line that cannot work, whatever the command, before anything runs', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['record', '--incident', '--help2', '--', '/bin/true'], /incident id '--help2' is not valid: it starts with '-'/],
      [['record', '--incident', 'a/b', '--', '/bin/true'], /incident id 'a\/b' is not valid/],
      [['record', '--incident', 'x'.repeat(10_000), '--', '/bin/true'], /'x{40}\.\.\.' \(10000 characters\) is not valid/],
      [['replay', 'cli-pay', '--speed', '1e-300'], /--speed must be a number from 0\.01 to 1000 .* or 'max' .*, not '1e-300'/],
      [['replay', 'cli-pay', '--speed', '0.001'], /--speed must be a number from 0\.01 to 1000/],
      [['replay', 'cli-pay', '--speed', '5000'], /--speed must be a number from 0\.01 to 1000/],
      [['verify', 'cli-pay', '--timeout', 'env:A=1', '--speed', '0'], /--speed must be/],
      [['unpack', 'f.rbpack', '--max-unpacked-bytes', 'lots'], /--max-unpacked-bytes needs a whole number of bytes/],
      [['spool', 'flush'], /spool needs 'list', 'retry ID' or 'rm ID'/],
      [['spool', 'retry'], /spool retry needs an entry id/],
      [['rm'], /rm needs an incident id/],
      [['incidents', '--since', 'soon'], /--since 'soon'/],
      [['kernel'], /kernel needs 'install' or 'uninstall'/],
      [['bogus'], /unknown command 'bogus'/],
      [['push', 'cli-pay', '--to', 'ftp://example'], /starts with http:\/\/ or https:\/\//],
      [['incidents', '--clickhouse', 'http://127.0.0.1:1/db?bogus=1'], /Unknown option 'bogus' in the ClickHouse URL/],
    ];
    for (const [args, why] of cases) {
      const r = await cli(args);
      expect({ args: args.join(' ').slice(0, 60), code: r.code }).toEqual({ args: args.join(' ').slice(0, 60), code: 2 });
      expect(r.stderr).toMatch(why);
      expect(r.stderr.length).toBeLessThan(400);
    }
    const listed = await cli(['incidents', '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ incident_id: string }>).some((i) => i.incident_id.startsWith('-') || i.incident_id.includes('/'))).toBe(false);
  });
});

describe('counterfactual replay and verify from the CLI', () => {
  const ID = 'cli-verify';
  const OK = 'payment ok: OK txn=7781 amount=19.99';

  async function runCount(): Promise<number> {
    const store = await openStore(home);
    try {
      return (await store.runs(ID)).length;
    } finally {
      await store.close();
    }
  }

  beforeAll(async () => {
    const store = await openStore(home);
    try {
      await recordPaymentIncident(store, ID);
    } finally {
      await store.close();
    }
  });

  it('replays with a longer timeout: the provider\'s late answer, and what the injection did', async () => {
    const r = await cli(['replay', ID, '--speed', 'max', '--timeout', 'env:PAYMENT_TIMEOUT_MS=5000']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`stdout: "${OK}\\n"`);
    expect(r.stdout).toContain('program exit 0; recorded exit 1');
    expect(r.stdout).toContain(
      'injection: environment variable PAYMENT_TIMEOUT_MS becomes 5000 (5 s): applied to the command before it started (env PAYMENT_TIMEOUT_MS: 2000 -> 5000)',
    );
    expect(r.stdout).toMatch(/^policy: strict until seq \d+, then stream: the program departed from the recording: poll argument 3 differs: recorded 2000, now 5000$/m);
    expect(r.stdout).toContain('counterfactual run: the outcome differs from the recording');
  });

  it('collects repeated injection flags in order, and reports each', async () => {
    const r = await cli(['replay', ID, '--speed', 'max', '--json', '--timeout', 'env:PAYMENT_TIMEOUT_MS=3000', '--latency', 'tcp:*:*=1000000']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { exitCode: number; stdout: string; injections: { kind: string }[]; injectionReport: { kind: string; fired: number }[]; policy: string };
    // The answer now comes at 3.5 s: a 3 s timeout is not enough.
    expect(out).toMatchObject({ exitCode: 1, stdout: 'payment failed: timeout\n', policy: 'stream' });
    expect(out.injections.map((i) => i.kind)).toEqual(['timeout', 'latency']);
    expect(out.injectionReport).toEqual([expect.objectContaining({ kind: 'latency', fired: 1 })]);

    const refused = await cli(['replay', ID, '--speed', 'max', '--inject', 'connect:error=ECONNREFUSED', '--jitter-ms', '100', '--seed', '7']);
    expect(refused.code).toBe(0);
    expect(refused.stdout).toContain('injection: connect, every call: fails with ECONNREFUSED (Connection refused): fired 1 time (1 matching call)');
    expect(refused.stdout).toContain('jitter: every recorded arrival up to 100 ms later (seed 7)');
    expect(refused.stdout).toContain('stdout: "payment failed: Connection refused\\n"');
  });

  it('refuses a malformed injection with its column and exit status 2, before anything runs', async () => {
    const before = await runCount();
    const r = await cli(['replay', ID, '--inject', 'read:error=EIOX']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("replaybook: --inject read:error=EIOX: unknown errno 'EIOX' (column 12); did you mean EIO?\n");
    // Checked before the store is opened: an unknown incident is not what it complains about.
    const unknown = await cli(['replay', 'no-such-incident', '--timeout', 'env:PAYMENT_TIMEOUT_MS']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^replaybook: --timeout env:PAYMENT_TIMEOUT_MS: .*\(column \d+\)\n$/);
    const v = await cli(['verify', ID, '--inject', 'connect:eror=1', '--runs', '10']);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/^replaybook: --inject connect:eror=1: unknown key 'eror' .*\(column 9\)\n$/);
    // A flag the recorded command does not have is refused too.
    const flag = await cli(['verify', ID, '--timeout', 'arg:--max-time=5']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('the recorded command has no --max-time');
    const noFix = await cli(['verify', ID]);
    expect(noFix.code).toBe(2);
    expect(noFix.stderr).toBe('replaybook: verify needs a fix: --timeout, --inject, --fault, --latency or --binary (see replaybook verify --help)\n');
    expect((await cli(['verify', ID, '--timeout', 'env:PAYMENT_TIMEOUT_MS=5000', '--runs', 'ten'])).code).toBe(2);
    expect((await cli(['replay', ID, '--unrecorded', 'ignore'])).code).toBe(2);
    expect((await cli(['replay', ID, '--seed', '3'])).code).toBe(2);
    expect(await runCount()).toBe(before);
  });

  it('verifies a 5 s timeout: exit 0, progress per run on stderr, the runs and the verdict on stdout', async () => {
    const r = await cli(['verify', ID, '--timeout', 'env:PAYMENT_TIMEOUT_MS=5000', '--runs', '10', '--seed', '42']);
    expect(r.code).toBe(0);
    const progress = r.stderr.trim().split('\n');
    expect(progress).toHaveLength(12);
    expect(progress[0]).toMatch(/^verify: \[1\/12\] baseline \(the original, no injections\): exit 1, failure, [\d.]+ m?s$/); // a wall time: ms, or s on a loaded machine
    expect(progress[1]).toMatch(/^verify: \[2\/12\] fix \(no jitter\): exit 0, success, /);
    expect(progress[11]).toMatch(new RegExp(`^verify: \\[12/12\\] jittered run 10/10 \\(seed ${runSeed(42, 10)}\\): exit 0, success, `));
    expect(r.stdout).toContain('  fix: environment variable PAYMENT_TIMEOUT_MS becomes 5000 (5 s)');
    expect(r.stdout).toMatch(/^baseline\s+failure\s+failure\s+-\s+exit 1\s+[\d.]+ m?s\s+payment failed: timeout$/m);
    expect(r.stdout).toMatch(new RegExp(`^10\\s+success\\s+success\\s+${runSeed(42, 10)}\\s+exit 0\\s+[\\d.]+ m?s\\s+${OK}$`, 'm'));
    expect(r.stdout).toContain(
      'verified: the recorded failure reproduces (exit 1), the fix succeeds (exit 0), and all 10 runs with up to 300 ms of jitter succeed (seed 42)\n',
    );
  });

  it('does not verify a 2.6 s timeout: exit 1 and the failed runs, the same for the same seed', async () => {
    const args = ['verify', ID, '--timeout', 'env:PAYMENT_TIMEOUT_MS=2600', '--runs', '10', '--jitter-ms', '300', '--seed', '4', '--json', '--no-store'];
    const before = await runCount();
    const r = await cli(args);
    expect(r.code).toBe(1);
    const v = JSON.parse(r.stdout) as { verified: boolean; reason: string; failedRuns: number[]; jittered: { index: number; success: boolean; stdout: string; seed: number }[] };
    expect(v.verified).toBe(false);
    const failed = v.jittered.filter((x) => !x.success).map((x) => x.index);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThan(10);
    expect(v.failedRuns).toEqual(failed);
    expect(v.reason).toBe(`not verified: ${failed.length} of 10 jittered runs failed (runs ${failed.join(', ')})`);
    const again = JSON.parse((await cli(args)).stdout) as typeof v;
    expect(again.jittered.map((x) => [x.seed, x.success, x.stdout])).toEqual(v.jittered.map((x) => [x.seed, x.success, x.stdout]));
    expect(await runCount()).toBe(before); // --no-store

    // The predicate from the command line: a timeout is what these runs must print.
    const text = await cli(['verify', ID, '--timeout', 'env:PAYMENT_TIMEOUT_MS=2600', '--runs', '2', '--seed', '4', '--success-stdout', 'payment ok', '--no-store']);
    expect(text.stdout).toContain('success: stdout contains "payment ok"');
  });

  it('explains replay and verify with --help', async () => {
    const rep = await cli(['replay', '--help']);
    expect(rep.code).toBe(0);
    for (const f of ['--inject SPEC ...', '--latency RES=US ...', '--timeout TARGET=VALUE ...', '--binary PATH', '--jitter-ms N', '--seed S', '--unrecorded error|refuse']) {
      expect(rep.stdout).toContain(f);
    }
    const ver = await cli(['verify', '--help']);
    expect(ver.code).toBe(0);
    for (const f of ['--runs N', '--jitter-ms N', '--seed S', '--json', '--success-stdout TEXT', 'Exit status: 0 verified, 1 not verified']) expect(ver.stdout).toContain(f);
    const main = await cli(['--help']);
    expect(main.stdout).toContain('verify     verify a fix');
  });
});
