// Recordings that stream into the store while the service runs, and what happens when the recording
// is interrupted: replaybook killed (the engine records on), Ctrl-C / SIGTERM, the engine killed,
// a budget reached. Each one keeps every event written before it, says so in the incident's state,
// and replays up to that point. Real processes, real ptrace, real chDB.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from './helpers/run';
import { processTable, processTree, stillRunning, waitGone, type Proc } from './helpers/procs';
import { record } from '../src/record/record';
import { chdbDataDir, openStore } from '../src/store';
import { lockHolder } from '../src/store/lock';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-streaming-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

// A service that writes one byte at a time to /dev/null, N times (0: until stopped), sleeping US
// microseconds after each (a long-running service's pace, which ingestion keeps up with), then says so.
const TICKER_C = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  long us = argc > 2 ? atol(argv[2]) : 0;
  int fd = open("/dev/null", O_WRONLY);
  for (long i = 0; n == 0 || i < n; i++) {
    write(fd, "x", 1);
    if (us) usleep(us);
  }
  printf("done %ld\\n", n);
  return 0;
}
`;
let ticker = '';
beforeAll(() => {
  fs.writeFileSync(path.join(work, 'ticker.c'), TICKER_C);
  ticker = path.join(work, 'ticker');
  const r = spawnSync('cc', ['-O2', '-o', ticker, path.join(work, 'ticker.c')], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
});

interface Listed {
  incident_id: string;
  state: string;
  state_reason: string;
  event_count: number;
  exit_code: number | null;
  exit_signal: string | null;
}

const cli = (home: string, args: string[]) => runProcess(process.execPath, [CLI, ...args], { ...process.env, REPLAYBOOK_HOME: home });

async function listed(home: string, id: string): Promise<Listed | undefined> {
  const r = await cli(home, ['incidents', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as Listed[]).find((i) => i.incident_id === id);
}

// `out` waits for the pipes to close: once node is gone, the engine and the service it recorded
// still hold them (they inherited them), so a test that kills node waits for `exited` instead.
function startCli(home: string, args: string[]): {
  child: ChildProcess;
  out: Promise<{ code: number | null; stdout: string; stderr: string }>;
  exited: Promise<unknown>;
} {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, REPLAYBOOK_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const out = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, out, exited };
}

/** The engine and the service under a running `replaybook record`, once both run. */
async function recordingTree(root: number): Promise<{ engine: Proc; service: Proc }> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    const tree = processTree([root]);
    const engine = tree.find((p) => p.args.includes('replaybook-engine') && !p.stat.startsWith('Z'));
    const service = tree.find((p) => p.args.startsWith(ticker) && !p.stat.startsWith('Z'));
    if (engine && service) return { engine, service };
  }
  throw new Error(`no engine and service under ${root}`);
}

// Fetches an incident's events as an analyst's notebook would (store.events), in a process of its own.
const FETCH = `const { openStore } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'store', 'index.js'))});
(async () => {
  const s = await openStore(process.argv[1]);
  let n = 0;
  for await (const b of s.events(process.argv[2])) n += b.numRows;
  await s.close();
  console.log(n);
})().catch((e) => { console.error(e.message); process.exit(1); });`;

async function fetchedEvents(home: string, id: string): Promise<number> {
  const r = await runProcess(process.execPath, ['-e', FETCH, home, id], process.env);
  expect(r.code, r.stderr).toBe(0);
  return Number(r.stdout.trim());
}

/** Waits until the store lists the incident as being recorded, with events that can be fetched. */
async function waitRecording(home: string, id: string): Promise<number> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
    const i = await listed(home, id);
    if (i?.state === 'recording') {
      const n = await fetchedEvents(home, id);
      if (n > 0) return n;
    }
  }
  throw new Error(`incident ${id} never showed as recording with events`);
}

async function noZombies(procs: Proc[]): Promise<Proc[]> {
  const zombies = () => processTable().filter((p) => p.stat.startsWith('Z') && procs.some((q) => q.pid === p.pid));
  for (let waited = 0; zombies().length > 0 && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  return zombies();
}

async function replayed(home: string, id: string): Promise<string> {
  const r = await cli(home, ['replay', id, '--speed', 'max']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('a recording that streams into the store', () => {
  it('goes on when replaybook is killed (SIGKILL): the engine records to the end, and the next command ingests it', async () => {
    const home = path.join(work, 'node-killed');
    const rec = startCli(home, ['record', '--incident', 'orphan', '--', ticker, '0', '300']);
    const { engine, service } = await recordingTree(rec.child.pid!);
    // In the store while it runs: listed as recording, the events so far fetched as they grow.
    const early = await waitRecording(home, 'orphan');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await fetchedEvents(home, 'orphan')).toBeGreaterThan(early);
    rec.child.kill('SIGKILL');
    await rec.exited;
    await new Promise((r) => setTimeout(r, 300));
    expect(stillRunning([engine, service]).map((p) => p.pid)).toEqual([engine.pid, service.pid]);
    // The engine records on: a later command (this listing) ingests what it wrote since.
    const atKill = await fetchedEvents(home, 'orphan');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await listed(home, 'orphan'))?.state).toBe('recording');
    const later = await fetchedEvents(home, 'orphan');
    expect(later).toBeGreaterThan(atKill);
    // The service ends (its operator stops it); the engine records its exit, then exits.
    process.kill(service.pid, 'SIGTERM');
    expect(await waitGone([engine, service], 30_000)).toEqual([]);
    expect(await noZombies([engine, service])).toEqual([]);
    const done = await listed(home, 'orphan');
    expect(done).toMatchObject({ state: 'complete', state_reason: '', exit_code: null, exit_signal: 'SIGTERM' });
    expect(done!.event_count).toBeGreaterThan(later);
    expect(fs.readdirSync(path.join(home, 'spool')).filter((n) => n.startsWith('live-'))).toEqual([]);
    const out = await replayed(home, 'orphan');
    expect(out).toMatch(/reproduced: same syscalls/);
    expect(out).not.toMatch(/cut short/);
  }, 300_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`keeps every event when replaybook record gets ${signal}: cut short, and the replay ends where it ends`, async () => {
      const home = path.join(work, `stopped-${signal}`);
      const rec = startCli(home, ['record', '--incident', 'stopped', '--', ticker, '0', '300']);
      const { engine, service } = await recordingTree(rec.child.pid!);
      await waitRecording(home, 'stopped');
      rec.child.kill(signal);
      const r = await rec.out;
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(new RegExp(`cut short: interrupted: replaybook record was stopped \\(${signal}\\)`));
      expect(await waitGone([engine, service], 10_000)).toEqual([]);
      expect(await noZombies([engine, service])).toEqual([]);
      const i = await listed(home, 'stopped');
      expect(i).toMatchObject({ state: 'cut short', exit_signal: 'SIGKILL' });
      expect(i!.state_reason).toMatch(signal);
      expect(i!.event_count).toBeGreaterThan(10);
      const out = await replayed(home, 'stopped');
      expect(out).toMatch(/the recording was cut short \(interrupted/);
      expect(out).toMatch(/reproduced: same syscalls/);
      expect(out).not.toMatch(/DIVERGED/);
    }, 300_000);
  }

  it('keeps the store open between its ingestions while nobody else waits, and lets a waiting process have it at its next one', async () => {
    const home = path.join(work, 'kept-open');
    const rec = startCli(home, ['record', '--incident', 'kept', '--', ticker, '0', '300']);
    await recordingTree(rec.child.pid!);
    const first = await waitRecording(home, 'kept');
    // Between two ingestions (1 s apart), the recorder holds the chDB directory: an open of chDB
    // costs the recorder hundreds of ms of CPU, which a service being recorded would pay each time.
    // (Once it has it again: the reads above made it let go.)
    const holds = (): boolean => lockHolder(home, chdbDataDir(home))?.pid === rec.child.pid;
    for (const deadline = Date.now() + 30_000; !holds() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    let held = 0;
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (holds()) held++;
    }
    expect(held).toBeGreaterThanOrEqual(9);
    // Another process that waits for the store (a notebook fetching the incident) gets it, and
    // the recording goes on storing events after that.
    const second = await fetchedEvents(home, 'kept');
    expect(second).toBeGreaterThanOrEqual(first);
    expect((await waitRecording(home, 'kept')) >= second).toBe(true);
    rec.child.kill('SIGINT');
    const r = await rec.out;
    expect(r.code).toBe(130);
    const i = await listed(home, 'kept');
    expect(i).toMatchObject({ state: 'cut short' });
    expect(i!.event_count).toBeGreaterThanOrEqual(second);
    // Nobody's marker of waiting is left behind.
    const holders = path.join(home, 'holders');
    expect((fs.existsSync(holders) ? fs.readdirSync(holders) : []).filter((n) => n.startsWith('want-'))).toEqual([]);
  }, 300_000);

  it('says so clearly when the engine is killed: the service goes with it, and the events up to then replay to their end', async () => {
    const home = path.join(work, 'engine-killed');
    const rec = startCli(home, ['record', '--incident', 'engine-gone', '--', ticker, '0', '300']);
    const { engine, service } = await recordingTree(rec.child.pid!);
    await waitRecording(home, 'engine-gone');
    process.kill(engine.pid, 'SIGKILL');
    const r = await rec.out;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the recording engine stopped unexpectedly \(signal 9\): the service was killed with it/);
    expect(r.stderr).toMatch(/stored as incident 'engine-gone', cut short/);
    expect(await waitGone([engine, service], 10_000)).toEqual([]);
    expect(await noZombies([engine, service])).toEqual([]);
    const i = await listed(home, 'engine-gone');
    expect(i).toMatchObject({ state: 'cut short', exit_code: null, exit_signal: null });
    expect(i!.state_reason).toMatch(/engine stopped before the service ended/);
    const out = await replayed(home, 'engine-gone');
    expect(out).toMatch(/the replay ran to its last event and was stopped there/);
    expect(out).toMatch(/reproduced: same syscalls/);
    expect(out).not.toMatch(/DIVERGED/);
  }, 300_000);

  it('stops the service at --max-events and keeps the recording up to there, cut short with the budget as reason', async () => {
    const home = path.join(work, 'budget');
    const r = await cli(home, ['record', '--incident', 'budget', '--max-events', '5000', '--', ticker, '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/cut short: its budget of 5000 events \(--max-events\) was reached: the service was stopped there/);
    const i = await listed(home, 'budget');
    expect(i).toMatchObject({ state: 'cut short', exit_signal: 'SIGKILL' });
    // The batch under way and the exits that follow may pass the budget by a little.
    expect(i!.event_count).toBeGreaterThanOrEqual(5000);
    expect(i!.event_count).toBeLessThan(5000 + 8192 + 16);
    expect(processTable().filter((p) => p.args.startsWith(ticker))).toEqual([]);
    const out = await replayed(home, 'budget');
    expect(out).toMatch(/the recording was cut short \(its budget/);
    expect(out).toMatch(/reproduced: same syscalls/);
  }, 300_000);

  it('--fast: the calls the service records in-process stream into the store through the same spool, none lost or doubled', async () => {
    const home = path.join(work, 'fast');
    const store = await openStore(home);
    try {
      const stop = new AbortController();
      const running = record({ incident: 'fast-live', command: [ticker, '0', '300'], fast: true, lateData: false, store, signal: stop.signal });
      // Another process sees the recording grow while it runs, as with ptrace-recorded calls.
      const early = await waitRecording(home, 'fast-live');
      await new Promise((r) => setTimeout(r, 1500));
      expect(await fetchedEvents(home, 'fast-live')).toBeGreaterThan(early);
      stop.abort('SIGINT');
      const res = await running;
      expect(res.incident.state).toBe('cut short');
      // The writes went through the service's ring, drained by the engine into its spool file.
      expect(res.fast?.calls ?? 0).toBeGreaterThan(100);
      const seqs: bigint[] = [];
      let writes = 0;
      for await (const b of store.events('fast-live')) {
        const seq = b.getChild('seq')!;
        const name = b.getChild('name')!;
        for (let i = 0; i < b.numRows; i++) {
          seqs.push(BigInt(seq.get(i) as bigint | number));
          if (name.get(i) === 'write') writes++;
        }
      }
      expect(seqs.length).toBe(res.incident.event_count);
      expect(res.fast!.lossyFrom).toBeNull();
      expect(writes).toBeGreaterThan(100);
      // Every seq once: the ring's records and the traced calls share one numbering.
      expect(new Set(seqs.map(String)).size).toBe(seqs.length);
      expect(seqs.reduce((m, s) => (s > m ? s : m), -1n)).toBe(BigInt(seqs.length - 1));
    } finally {
      await store.close();
    }
    const out = await replayed(home, 'fast-live');
    expect(out).toMatch(/the recording was cut short \(interrupted/);
    expect(out).toMatch(/reproduced: same syscalls/);
  }, 300_000);

  it('refuses a budget that is not a whole number above 0', async () => {
    const r = await cli(path.join(work, 'bad-budget'), ['record', '--incident', 'x', '--max-events', 'lots', '--', ticker, '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--max-events needs a whole number, not 'lots'/);
  });
});
