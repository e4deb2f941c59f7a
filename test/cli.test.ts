// The CLI as a user runs it (the compiled bin/replaybook.js), including recording while a
// long-lived reader, such as a notebook kernel, holds the store open.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, startProvider, type FixturePaths } from '../src/fixtures';
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
    expect(events.rows).toBeGreaterThan(20);
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
    expect(out.events).toBeGreaterThan(20);
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
});
