// The fault catalogue: what replaybook does when the world fails under it. Each case leaves a
// clear result and a way forward: a full disk, a tracee or replaybook itself killed mid-work,
// interrupted replays, a server store that dies mid-stream. README's "When things fail" lists them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { startEndpoint } from './helpers/clickhouse-endpoint';
import { runProcess } from './helpers/run';
import { processTable, processTree, stillRunning, waitGone, type Proc } from './helpers/procs';
import { replay } from '../src/replay/replay';
import { openStore } from '../src/store';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-faults-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const cli = (home: string, args: string[]) => runProcess(process.execPath, [CLI, ...args], { ...process.env, REPLAYBOOK_HOME: home });

/** Whether this machine lets us mount a small tmpfs in a private mount namespace (root or userns). */
function canMountTmpfs(): boolean {
  const dir = fs.mkdtempSync(path.join(work, 'probe-'));
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=64k tmpfs ${dir}`]);
  if (r.status === 0) return true;
  const u = spawnSync('unshare', ['-Urm', 'sh', '-c', `mount -t tmpfs -o size=64k tmpfs ${dir}`]);
  return u.status === 0;
}
const UNSHARE = spawnSync('id', ['-u']).stdout.toString().trim() === '0' ? ['-m', '--propagation', 'private'] : ['-Urm'];

/** Runs a shell script in a private mount namespace; its output lines tagged `@name` are collected. */
function inMountNamespace(script: string, env: NodeJS.ProcessEnv): { out: string; err: string; code: number | null } {
  const r = spawnSync('unshare', [...UNSHARE, 'sh', '-c', script], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 240_000 });
  return { out: r.stdout, err: r.stderr, code: r.status };
}

/** A script's output lines `@tag text` (text may run over several lines) by tag. */
function taggedLines(out: string): Map<string, string> {
  const tagged = new Map<string, string>();
  for (const block of out.split(/\n(?=@)/)) {
    const m = /^@(\S+) ([\s\S]*)$/.exec(block.trim());
    if (m) tagged.set(m[1], m[2]);
  }
  return tagged;
}

describe.skipIf(!canMountTmpfs())('a full disk', () => {
  it('keeps a recording the store cannot take in the spool, names the disk and the space, and spool retry/rm get it out', () => {
    const home = path.join(work, 'full-store');
    // The store is created on the big disk, then its chDB directory moves onto a 400 KiB tmpfs:
    // ClickHouse reserves at least 1 MiB for any part it writes, so every ingestion fails there.
    const script = `
      R="node ${CLI}"
      $R incidents >/dev/null
      mv "$REPLAYBOOK_HOME/chdb" "$REPLAYBOOK_HOME/chdb0" && mkdir "$REPLAYBOOK_HOME/chdb"
      mount -t tmpfs -o size=400k tmpfs "$REPLAYBOOK_HOME/chdb" && cp -a "$REPLAYBOOK_HOME/chdb0/." "$REPLAYBOOK_HOME/chdb/"
      echo "@record $($R record --incident full-1 -- /bin/true 2>&1; echo "status $?")"
      echo "@later $($R incidents 2>&1)"
      echo "@list $($R spool list --json)"
      echo "@retry $($R spool retry full-1 2>&1; echo "status $?")"
      id=$($R spool list --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8"))[0].id)')
      echo "@retry-full $($R spool retry $id 2>&1; echo "status $?")"
      mount -o remount,size=64m "$REPLAYBOOK_HOME/chdb"
      echo "@retry-space $($R spool retry $id 2>&1; echo "status $?")"
      echo "@after $($R incidents --json 2>&1)"
      echo "@list-after $($R spool list 2>&1)"
      rm -rf "$REPLAYBOOK_HOME/chdb/"* && cp -a "$REPLAYBOOK_HOME/chdb0/." "$REPLAYBOOK_HOME/chdb/"
      mount -o remount,size=400k "$REPLAYBOOK_HOME/chdb"
      $R record --incident full-2 -- /bin/true >/dev/null 2>&1
      id=$($R spool list --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8"))[0].id)')
      echo "@rm $($R spool rm $(echo $id | cut -c1-20) 2>&1; echo "status $?")"
      echo "@list-rm $($R spool list 2>&1)"
      echo "@rm-missing $($R spool rm nothing-like-it 2>&1; echo "status $?")"
    `;
    const r = inMountNamespace(script, { REPLAYBOOK_HOME: home });
    const tagged = taggedLines(r.out);
    expect(r.code, r.err).toBe(0);
    // The recording is not lost, the message says which disk, how much is free and needed, and how to go on.
    expect(tagged.get('record')).toMatch(/the disk holding \S+\/chdb is full \(\d+(\.\d)? KiB free\): storing it needs about \d+(\.\d)? MiB/);
    expect(tagged.get('record')).toMatch(/replaybook spool retry \S+ retries it now, replaybook spool rm \S+ drops it/);
    expect(tagged.get('record')).not.toMatch(/events\/schema\.ts/);
    expect(tagged.get('record')).toMatch(/status 1$/);
    expect(tagged.get('later')).toMatch(/disk-full/); // every operation warns while it waits
    const listed = JSON.parse(tagged.get('list') ?? '[]') as Array<{ id: string; state: string; incident_id: string; kind: string }>;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ state: 'pending', incident_id: 'full-1', kind: 'incident' });
    expect(tagged.get('retry')).toMatch(/has no entry "full-1": replaybook spool list shows them\.\nstatus 1$/);
    expect(tagged.get('retry-full')).toMatch(/is full .*status 1$/s);
    expect(tagged.get('retry-space')).toMatch(/^ingested spool entry \S+ \(incident 'full-1'\) into .*\nstatus 0$/);
    expect((JSON.parse(tagged.get('after') ?? '[]') as Array<{ incident_id: string }>).map((i) => i.incident_id)).toEqual(['full-1']);
    expect(tagged.get('list-after')).toMatch(/the spool of \S+ is empty/);
    expect(tagged.get('rm')).toMatch(/^deleted spool entry \S+ \(incident 'full-2', \d+(\.\d)? MiB\) from .*\nstatus 0$/);
    expect(tagged.get('list-rm')).toMatch(/the spool of \S+ is empty/);
    expect(tagged.get('rm-missing')).toMatch(/has no entry "nothing-like-it".*\nstatus 1$/s);
  }, 300_000);

  it('says which disk is full when the spool cannot even start the recording, and keeps nothing half-written', () => {
    const home = path.join(work, 'full-spool');
    const script = `
      R="node ${CLI}"
      $R incidents >/dev/null
      mkdir -p "$REPLAYBOOK_HOME/spool" && mount -t tmpfs -o size=4k tmpfs "$REPLAYBOOK_HOME/spool"
      echo "@record $($R record --incident full-3 -- /bin/true 2>&1; echo "status $?")"
      echo "@spool $(ls -A "$REPLAYBOOK_HOME/spool" | wc -l)"
    `;
    const r = inMountNamespace(script, { REPLAYBOOK_HOME: home });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/@record replaybook: Nothing was recorded: the disk holding \S+\/spool is full \(\d+(\.\d)? (B|KiB) free\): .* needs more than \d/);
    expect(r.out).toMatch(/record again/);
    expect(r.out).not.toMatch(/events\/schema\.ts/);
    expect(r.out).toMatch(/status 1\n/);
    expect(r.out).toMatch(/@spool 0/);
  }, 300_000);

  it('stops the recording when a spool write fails mid-way: the events before it are kept, cut short, and record says why', () => {
    const home = path.join(work, 'full-spool-mid');
    // A service of our own name (so that no one else's process is counted) writing one byte at a
    // time: far more events than the spool's 8 MiB disk holds.
    const dd = path.join(work, 'dd-spool-full');
    fs.copyFileSync('/bin/dd', dd);
    fs.chmodSync(dd, 0o755);
    const script = `
      R="node ${CLI}"
      $R incidents >/dev/null
      mkdir -p "$REPLAYBOOK_HOME/spool" && mount -t tmpfs -o size=8m tmpfs "$REPLAYBOOK_HOME/spool"
      echo "@record $($R record --incident full-4 -- ${dd} if=/dev/zero of=/dev/null bs=1 count=50000000 2>&1; echo "status $?")"
      echo "@left $(pgrep -x dd-spool-full | wc -l)"
      echo "@spool $(ls -A "$REPLAYBOOK_HOME/spool" | wc -l)"
      echo "@incidents $($R incidents --json 2>&1)"
    `;
    const r = inMountNamespace(script, { REPLAYBOOK_HOME: home });
    const tagged = taggedLines(r.out);
    expect(r.code, r.err).toBe(0);
    const rec = tagged.get('record') ?? '';
    // What happened (the write, the errno, where), which disk, what to do; and a failing status.
    const at = /spool write failed: ENOSPC at event (\d+) \(No space left on device\)/.exec(rec);
    expect(at, rec).not.toBeNull();
    expect(rec).toMatch(/the disk holding \S+\/spool is full \(\d+(\.\d)? (B|KiB|MiB) free\): the recording needs more than \d/);
    expect(rec).toMatch(/Free space on the disk holding \S+\/spool .* and record again\./);
    expect(rec).toMatch(/stored as incident 'full-4', cut short/);
    expect(rec).toMatch(/status 1$/);
    // The service was stopped with the recording, and nothing of it is left in the spool.
    expect(tagged.get('left')).toBe('0');
    expect(tagged.get('spool')).toBe('0');
    const listed = (JSON.parse(tagged.get('incidents') ?? '[]') as Array<{ incident_id: string; state: string; state_reason: string; event_count: number }>).find(
      (i) => i.incident_id === 'full-4',
    );
    expect(listed?.state).toBe('cut short');
    expect(listed?.state_reason).toMatch(/^spool write failed: ENOSPC at event \d+ /);
    // Every event written before the failure is in the store, and no more.
    const kept = Number(at![1]);
    expect(kept).toBeGreaterThan(1000);
    expect(listed?.event_count).toBe(kept);
  }, 300_000);
});

/** The CLI as a child process we can signal, with what it printed. */
function startCli(home: string, args: string[]): { child: ChildProcess; out: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, REPLAYBOOK_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const out = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, out };
}

/** Waits until a process of `root`'s tree runs a command containing `marker`; returns it. */
async function waitForDescendant(root: number, marker: string, ms = 60_000): Promise<Proc> {
  const deadline = Date.now() + ms;
  for (;;) {
    // Not the engine between its fork and its exec: it still shows replaybook's own command line.
    // Nor the shell of `sh -c '...; exec sleep 30'` before its exec: the process is the same, but
    // its command line changes, and stillRunning() compares command lines.
    const found = processTree([root]).find(
      (p) => p.pid !== root && p.args.includes(marker) && !p.args.includes('replaybook') && !p.args.startsWith('/bin/sh -c') && !p.stat.startsWith('Z'),
    );
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no process running ${marker} under ${root}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Processes under `root` (not `root`) that are still there: running, stopped (T, t) or zombies (Z). */
function leftovers(root: number): Proc[] {
  return processTree([root]).filter((p) => p.pid !== root && !p.args.startsWith('ps '));
}

describe('a process killed under replaybook', () => {
  const home = path.join(work, 'killed');

  it('records a service killed by SIGKILL as such, and replays it to the same end', async () => {
    const rec = startCli(home, ['record', '--incident', 'killed-1', '--no-late-data', '--', '/bin/sh', '-c', 'echo started; exec sleep 30']);
    const tracee = await waitForDescendant(rec.child.pid!, 'sleep 30');
    process.kill(tracee.pid, 'SIGKILL');
    const r = await rec.out;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/recorded incident 'killed-1': \d+ events in .*; the service was killed by SIGKILL/);
    const replayed = await cli(home, ['replay', 'killed-1', '--speed', 'max', '--json']);
    expect(replayed.code).toBe(0);
    // The kill came from outside, at a syscall the log shows unfinished: the replay ends there too.
    const j = JSON.parse(replayed.stdout) as { signal: string | null; divergence: unknown };
    expect(j.signal === 'SIGKILL' || j.divergence !== null).toBe(true);
  }, 120_000);

  it('ends a replay whose program is killed mid-run with a clear result, and leaves no process', async () => {
    const rec = await cli(home, ['record', '--incident', 'sleeper', '--', '/bin/sleep', '3']);
    expect(rec.code).toBe(0);
    const rp = startCli(home, ['replay', 'sleeper', '--json']);
    const tracee = await waitForDescendant(rp.child.pid!, 'sleep 3');
    await new Promise((r) => setTimeout(r, 300));
    process.kill(tracee.pid, 'SIGKILL');
    const r = await rp.out;
    expect([0, 1, 3]).toContain(r.code);
    const line = r.code === 1 ? r.stderr : r.stdout;
    expect(line).toMatch(/SIGKILL|killed|diverg/i);
    expect(leftovers(rp.child.pid!)).toEqual([]);
  }, 120_000);

  it('keeps recording when replaybook itself is killed mid-record; stopping the engine then keeps what it recorded, cut short', async () => {
    expect((await cli(home, ['record', '--incident', 'stored-before', '--', '/bin/true'])).stderr).toMatch(/recorded incident 'stored-before'/);
    const before = JSON.parse((await cli(home, ['incidents', '--json'])).stdout) as Array<{ incident_id: string; event_count: number }>;
    expect(before.map((i) => i.incident_id)).toContain('stored-before');
    const rec = startCli(home, ['record', '--incident', 'cut-short', '--', '/bin/sh', '-c', 'echo started; exec sleep 30']);
    const exited = new Promise((resolve) => rec.child.once('exit', resolve));
    const tracee = await waitForDescendant(rec.child.pid!, 'sleep 30');
    const engine = processTree([rec.child.pid!]).find((p) => p.args.includes('replaybook-engine'))!;
    expect(engine).toBeDefined();
    rec.child.kill('SIGKILL');
    // (its pipes stay open: the engine and the service inherited them)
    await exited;
    // The engine owns the recording: it and its tracee go on without node.
    await new Promise((r) => setTimeout(r, 500));
    expect(stillRunning([engine, tracee]).map((p) => p.pid)).toEqual([engine.pid, tracee.pid]);
    const during = JSON.parse((await cli(home, ['incidents', '--json'])).stdout) as Array<{ incident_id: string; state: string }>;
    expect(during.find((i) => i.incident_id === 'cut-short')?.state).toBe('recording');
    // Stopped as an operator would stop it: the engine kills its tracee and ends the recording.
    process.kill(engine.pid, 'SIGTERM');
    expect(await waitGone([engine, tracee], 10_000)).toEqual([]);
    // Nothing is left behind: init reaps the engine (and the engine its tracee).
    const zombies = () => processTable().filter((p) => p.stat.startsWith('Z') && [engine.pid, tracee.pid].includes(p.pid));
    for (let waited = 0; zombies().length > 0 && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect(zombies()).toEqual([]);
    const after = JSON.parse((await cli(home, ['incidents', '--json'])).stdout) as Array<{ incident_id: string; event_count: number; state: string; state_reason: string }>;
    const cut = after.find((i) => i.incident_id === 'cut-short')!;
    expect(cut.state).toBe('cut short');
    expect(cut.state_reason).toMatch(/stopped by SIGTERM/);
    expect(cut.event_count).toBeGreaterThan(10);
    expect(after.find((i) => i.incident_id === 'stored-before')?.event_count).toBe(before.find((i) => i.incident_id === 'stored-before')?.event_count);
    // The live entry was ingested and removed: the spool holds nothing.
    expect((await cli(home, ['spool', 'list'])).stdout).toMatch(/is empty/);
  }, 120_000);

  it('leaves no running, stopped or zombie process after many interrupted replays', async () => {
    // In-process replays (the library a notebook uses), each stopped after a different delay:
    // while fetching, while the engine starts, or while the program runs.
    const N = Number(process.env.REPLAYBOOK_INTERRUPTS ?? 100);
    const store = await openStore(home);
    const outcomes: Record<string, number> = {};
    try {
      for (let i = 0; i < N; i++) {
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(), (i * 37) % 400);
        try {
          await replay('sleeper', { store, speed: 1, ephemeral: true, signal: ac.signal });
          outcomes.finished = (outcomes.finished ?? 0) + 1;
        } catch (e) {
          const code = (e as { code?: string }).code ?? 'unstructured';
          outcomes[code] = (outcomes[code] ?? 0) + 1;
        } finally {
          clearTimeout(timer);
        }
      }
    } finally {
      await store.close();
    }
    process.stdout.write(`${N} interrupted replays: ${JSON.stringify(outcomes)}\n`);
    expect(Object.keys(outcomes).filter((k) => k !== 'interrupted' && k !== 'finished')).toEqual([]);
    expect(outcomes.interrupted ?? 0).toBeGreaterThan(N / 2);
    // Counted from /proc (ps): no child or grandchild of this process is left, in any state.
    await new Promise((r) => setTimeout(r, 500));
    expect(leftovers(process.pid).map((p) => `${p.pid} ${p.stat} ${p.args}`)).toEqual([]);
  }, 600_000);
});

describe('a busy store', () => {
  it("keeps chDB's lock chatter off stderr when processes open the store at the same moment and all succeed", async () => {
    const home = path.join(work, 'busy');
    expect((await cli(home, ['incidents'])).code).toBe(0);
    for (let round = 0; round < 3; round++) {
      const all = await Promise.all(Array.from({ length: 6 }, () => cli(home, ['incidents', '--json'])));
      for (const r of all) {
        expect(r.code).toBe(0);
        expect(r.stderr).toBe(''); // before: "Code: 76. DB::Exception: Cannot lock file .../status" from about every other one
      }
    }
  }, 180_000);
});

describe('a server store that fails', () => {
  it('gives up on a server that accepts and never answers, and says the HTTP status of one that is not ClickHouse', async () => {
    const silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
    const notClickhouse = http.createServer((_q, res) => res.writeHead(404).end()).listen(0, '127.0.0.1');
    await Promise.all([once(silent, 'listening'), once(notClickhouse, 'listening')]);
    try {
      const home = path.join(work, 'pull-silent');
      const port = (s: net.Server | http.Server) => (s.address() as net.AddressInfo).port;
      const hung = await cli(home, ['pull', 'x', '--from', `http://127.0.0.1:${port(silent)}/db`]);
      expect(hung.code).toBe(1);
      expect(hung.stderr).toMatch(/accepted the connection but did not answer GET \/ping within 15 s \(read timeout\)/);
      const wrong = await cli(home, ['push', 'x', '--to', `http://127.0.0.1:${port(notClickhouse)}/db`]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/answered HTTP 404 Not Found to GET \/ping with an empty body: it is not a ClickHouse HTTP interface/);
    } finally {
      silent.close();
      notClickhouse.close();
    }
  }, 120_000);

  it('stores nothing when the server dies in the middle of the events, and the pull works once it is back', async () => {
    const endpoint = await startEndpoint();
    try {
      const a = path.join(work, 'push-a');
      const b = path.join(work, 'pull-b');
      expect((await cli(a, ['record', '--incident', 'srv-1', '--', '/bin/ls', '-la', '/usr/bin'])).code).toBe(0);
      const pushed = await cli(a, ['push', 'srv-1', '--to', `${endpoint.origin}/faults`]);
      expect(pushed.stderr).toBe('');
      await endpoint.fault({ match: 'FROM events', kind: 'drop', afterBytes: 2000 });
      const cut = await cli(b, ['pull', 'srv-1', '--from', `${endpoint.origin}/faults`]);
      expect(cut.code).toBe(1);
      expect(cut.stderr).toMatch(/was cut short .*Nothing partial was returned; retry/);
      expect(JSON.parse((await cli(b, ['incidents', '--json'])).stdout)).toEqual([]);
      const again = await cli(b, ['pull', 'srv-1', '--from', `${endpoint.origin}/faults`]);
      expect(again.stderr).toBe('');
      expect(again.stdout).toMatch(/^copied incident 'srv-1'/);
    } finally {
      await endpoint.stop();
    }
  }, 180_000);
});
