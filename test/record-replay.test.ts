// The walking skeleton end to end with real parts: the payment incident recorded under ptrace
// into chDB on disk, fetched as Arrow, replayed from the log with no provider running.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, type FixturePaths } from '../src/fixtures';
import { record } from '../src/record/record';
import { recordPaymentIncident } from '../src/demo';
import { replay, type RunResult } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { recordOnly, replayAndCompare, rows, sequence, watchPort } from './helpers/replay-check';
import { freePort } from './helpers/net';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-e2e-'));
let store: ChdbStore;
let bins: FixturePaths;

async function recordPayment(id: string, timeoutMs: number, delayMs: number, exe = bins.paymentClient): Promise<number> {
  return (await recordPaymentIncident(store, id, { timeoutMs, providerDelayMs: delayMs, exe })).providerPort;
}

beforeAll(async () => {
  bins = await buildFixtures();
  store = await openStore(home);
});

afterAll(async () => {
  await store?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('the payment incident', () => {
  let port = 0;

  beforeAll(async () => {
    port = await recordPayment('pay-timeout', 2000, 2500);
  });

  it('records the connect, the send, a 2 s poll that timed out, and the failure on stdout', async () => {
    const info = await store.incident('pay-timeout');
    expect(info?.exit_code).toBe(1);
    expect(info?.service).toBe('payment-client');
    expect(info?.argv).toEqual([bins.paymentClient]);
    expect(info?.env).toContain('PAYMENT_TIMEOUT_MS=2000');
    expect(info?.exe_sha256).toMatch(/^[0-9a-f]{64}$/);
    // The executable, the ELF interpreter and libc are stored as blobs.
    const files = Object.keys(info?.files ?? {});
    expect(files.some((f) => f.endsWith('/payment-client'))).toBe(true);
    expect(files.some((f) => /ld-linux-x86-64\.so/.test(f))).toBe(true);
    expect(files.some((f) => /libc\.so/.test(f))).toBe(true);

    const ev = await rows(store.events('pay-timeout'));
    expect(ev.map((e) => Number(e.seq))).toEqual(ev.map((_, i) => i));
    const connect = ev.find((e) => e.name === 'connect');
    expect(connect?.resource).toBe(`tcp:127.0.0.1:${port}`);
    const send = ev.find((e) => e.name === 'write' && e.resource === `tcp:127.0.0.1:${port}`);
    expect(Buffer.from(send!.data_in).toString()).toMatch(/^CHARGE order=42 amount=19\.99 id=[0-9a-f]+\n$/);
    const poll = ev.find((e) => e.name === 'poll');
    expect(poll?.ret).toBe(0n); // 0 = timed out
    expect(poll!.dur_ns).toBeGreaterThanOrEqual(2_000_000_000n);
    const out = ev.find((e) => e.name === 'write' && e.resource === 'stdout');
    expect(Buffer.from(out!.data_in).toString()).toBe('payment failed: timeout\n');
    // Clock reads trap (vDSO disabled) and their results are logged.
    const clocks = ev.filter((e) => e.name === 'clock_gettime');
    expect(clocks.length).toBeGreaterThan(0);
    expect(clocks.every((c) => c.data_out.length === 16)).toBe(true);
    expect(ev.find((e) => e.name === 'getrandom')?.data_out.length).toBeGreaterThan(0);
    // The service's last event is its exit; late data (the answer after the timeout) follows it.
    const own = ev.filter((e) => e.kind !== 'late_data');
    expect(own[own.length - 1]).toMatchObject({ kind: 'exit', ret: 1n });
  });

  it('replays 5 times with the same output, exit status and syscalls, and contacts no one', async () => {
    // A listener on the recorded port (outside any namespace) must see no connection.
    const listener = await watchPort(port);
    try {
      const recorded = sequence(await rows(store.events('pay-timeout')));
      const runs: RunResult[] = [];
      // No network namespace: a real connection would be possible; emulation alone must prevent it.
      for (let i = 0; i < 5; i++) runs.push(await replay('pay-timeout', { store, speed: 'max', isolateNetwork: false }));
      for (const r of runs) {
        expect(r.divergence).toBeNull();
        expect(r.stdout.toString()).toBe('payment failed: timeout\n');
        expect(r.exitCode).toBe(1);
        expect(r.reproduced).toBe(true);
        expect(sequence(await rows(r.batches))).toEqual(recorded);
      }
      expect(listener.contacts()).toBe(0);
      // Every run is stored with its own events.
      const stored = await store.runs('pay-timeout');
      expect(stored.map((s) => s.run_id).sort()).toEqual(runs.map((r) => r.runId).sort());
      const again = await rows(store.events('pay-timeout', runs[0].runId));
      expect(sequence(again)).toEqual(recorded);
    } finally {
      await listener.close();
    }
  });

  it('keeps production timing at 1x: the 2 s poll takes 2 s again', async () => {
    const r = await replay('pay-timeout', { store, speed: 1 });
    expect(r.reproduced).toBe(true);
    const poll = (await rows(r.batches)).find((e) => e.name === 'poll');
    expect(poll!.dur_ns).toBeGreaterThanOrEqual(1_990_000_000n);
  });
});

describe('the replay serves the log', () => {
  it('prints what the log served: a changed response diverges at the stdout write', async () => {
    await recordPayment('pay-ok', 5000, 50);
    const ok = await replay('pay-ok', { store, speed: 'max', ephemeral: true });
    expect(ok.stdout.toString()).toBe('payment ok: OK txn=7781 amount=19.99\n');
    expect(ok.reproduced).toBe(true);

    const before = await rows(store.events('pay-ok'));
    const response = before.find((e) => e.name === 'read' && e.resource.startsWith('tcp:'));
    expect(Buffer.from(response!.data_out).toString()).toBe('OK txn=7781 amount=19.99\n');
    await store.command(
      `ALTER TABLE events UPDATE data_out = {bytes:String}
       WHERE incident_id = {id:String} AND run_id = 'recording' AND seq = {seq:UInt64}
       SETTINGS mutations_sync = 1`,
      { bytes: 'OK txn=6666 amount=66.66\n', id: 'pay-ok', seq: response!.seq },
    );
    const r = await replay('pay-ok', { store, speed: 'max' });
    expect(r.divergence).not.toBeNull();
    expect(r.divergence!.expected?.name).toBe('write');
    expect(r.divergence!.expected?.resource).toBe('stdout');
    expect(r.divergence!.actual.data_in.toString()).toContain('OK txn=6666 amount=66.66');
    expect(r.divergence!.expected!.data_in.toString()).toContain('OK txn=7781');
    expect(r.reproduced).toBe(false);
  });
});

describe('no external contact', () => {
  it('gives a replay that tries to connect somewhere unrecorded a divergence, and no connection', async () => {
    await recordPayment('pay-elsewhere', 2000, 2500);
    const port = await freePort();
    const listener = await watchPort(port);
    try {
      // The service is now configured for another endpoint than the one it talked to.
      await store.command(
        `ALTER TABLE incidents UPDATE env = arrayMap(e -> if(startsWith(e, 'PAYMENT_PROVIDER='), {ep:String}, e), env)
         WHERE incident_id = {id:String} SETTINGS mutations_sync = 1`,
        { ep: `PAYMENT_PROVIDER=127.0.0.1:${port}`, id: 'pay-elsewhere' },
      );
      const r = await replay('pay-elsewhere', { store, speed: 'max', isolateNetwork: false, ephemeral: true });
      expect(r.divergence?.expected?.name).toBe('connect');
      expect(r.divergence?.actual.name).toBe('connect');
      expect(r.divergence?.reason).toContain('different bytes');
      expect(listener.contacts()).toBe(0);
    } finally {
      await listener.close();
    }
  });

  it('runs replays in a network namespace of their own', async () => {
    const r = await replay('pay-timeout', { store, speed: 'max', ephemeral: true });
    // The namespace could be made (root here); other warnings (a machine that cannot trap rdtsc)
    // are about the machine, not the namespace.
    expect(r.warnings.filter((w) => /network namespace/.test(w))).toEqual([]);
    expect(r.reproduced).toBe(true);
  });
});

describe('signals', () => {
  it('delivers a kill from outside where it was recorded: the interrupted sleep and the handler replay', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-kill-'));
    const exe = path.join(dir, 'sleeper');
    const pidFile = path.join(dir, 'pid');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-x', 'c', '-o', exe, '-'], {
      input: `#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void on_usr1(int s) { got = s; }
int main(int argc, char **argv) {
  (void)argc;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, 0);
  FILE *f = fopen(argv[1], "w");
  fprintf(f, "%d", getpid());
  fclose(f);
  int slept = 0;
  while (!got && slept < 20) {
    struct timespec t = {1, 0};
    int r = nanosleep(&t, 0);
    printf("nanosleep %d %s\\n", r, r ? strerror(errno) : "");
    slept++;
  }
  printf("handler saw signal %d after %d sleeps\\n", (int)got, slept);
  return got ? 0 : 1;
}
`,
    });
    const recording = recordOnly({ incident: 'killed-from-outside', command: [exe, pidFile], env: {}, cwd: dir, store });
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, 'utf8') === '') {
      if (Date.now() > deadline) throw new Error('the sleeper did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300)); // let it block in nanosleep
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGUSR1');
    const recorded = await recording;
    const sig = recorded.filter((e) => e.kind === 'signal');
    expect(sig.map((e) => e.name)).toEqual(['SIGUSR1']);
    fs.rmSync(dir, { recursive: true, force: true }); // the replay runs the recorded binary from its blob

    const { run, sequenceDiff } = await replayAndCompare('killed-from-outside', store, recorded);
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(sequenceDiff).toBeNull();
    expect(run.recorded.stdout.toString()).toMatch(/nanosleep -1 Interrupted system call\nhandler saw signal 10 after \d+ sleeps\n$/);
    expect(run.stdout.toString()).toBe(run.recorded.stdout.toString());
    expect(run.exitCode).toBe(0);
    // The replay delivered it itself, at the recorded place: right after the interrupted sleep.
    const served = await rows(run.batches);
    const at = served.findIndex((e) => e.kind === 'signal');
    expect(served[at].name).toBe('SIGUSR1');
    expect(served.slice(0, at).filter((e) => e.kind === 'syscall').at(-1)?.name).toMatch(/^(clock_)?nanosleep$/); // glibc: clock_nanosleep
  });
});

describe('threads', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-threads-'));
  const exe = path.join(dir, 'worker-pool');
  beforeAll(() => {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', exe, path.join(__dirname, 'fixtures', 'worker-pool.c')]);
    fs.writeFileSync(path.join(dir, 'jobs.txt'), Array.from({ length: 16 }, (_, i) => `job-${i}`).join('\n') + '\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replays a worker pool: threads released in the recorded order, 5 times identical', async () => {
    const rec = await record({ incident: 'pool', command: [exe, path.join(dir, 'jobs.txt')], store, env: { PATH: '/usr/bin:/bin' } });
    // Serialized throughout, even on a loaded machine: a thread starved of CPU is not a spinner.
    expect(rec.warnings.filter((w) => !/does not trap rdtsc|cpuid is not recorded/.test(w))).toEqual([]);
    const ev = await rows(store.events('pool'));
    const tids = new Set(ev.filter((e) => e.kind === 'syscall').map((e) => e.tid));
    expect(tids.size).toBe(5); // main + 4 workers
    expect(ev.filter((e) => e.name === 'clone3' || e.name === 'clone').length).toBe(4);
    const recorded = sequence(ev);
    const recordedOut = Buffer.concat(ev.filter((e) => e.name === 'write' && e.resource === 'stdout').map((e) => Buffer.from(e.data_in)));
    expect(recordedOut.toString()).toContain('all 16 jobs done');
    for (let i = 0; i < 5; i++) {
      const r = await replay('pool', { store, speed: 'max', ephemeral: true });
      expect(r.divergence).toBeNull();
      expect(r.exitCode).toBe(0);
      expect(r.stdout.equals(recordedOut)).toBe(true);
      const run = await rows(r.batches);
      expect(sequence(run)).toEqual(recorded);
      // Replayed events carry the recorded thread ids.
      expect(new Set(run.filter((e) => e.kind === 'syscall').map((e) => e.tid))).toEqual(tids);
    }
  });

  it('replays exit_group while threads are blocked in read and sleep', async () => {
    await record({ incident: 'abandon', command: [exe, '--abandon'], store, env: { PATH: '/usr/bin:/bin' } });
    const info = await store.incident('abandon');
    expect(info?.exit_code).toBe(7);
    const ev = await rows(store.events('abandon'));
    // The blocked calls never returned: logged as unfinished.
    const unfinished = ev.filter((e) => e.ret === -(2n ** 63n));
    expect(unfinished.map((e) => e.name).sort()).toEqual(['clock_nanosleep', 'read']);
    const r = await replay('abandon', { store, speed: 'max', ephemeral: true });
    expect(r.divergence).toBeNull();
    expect(r.exitCode).toBe(7);
    expect(r.stdout.toString()).toBe('leaving with blocked threads\n');
  });
});

describe('files, errors and unknown syscalls', () => {
  it('serves a deleted config file, a failed open, an unknown syscall and binary output from the log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-cfg-'));
    const exe = path.join(dir, 'config-reader');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(__dirname, 'fixtures', 'config-reader.c')]);
    const conf = path.join(dir, 'app.conf');
    fs.writeFileSync(conf, 'timeout_ms=2000\nprovider=127.0.0.1:9000\nretries=3\n');
    await record({ incident: 'cfg', command: [exe, conf], store, env: { PATH: '/usr/bin:/bin' } });
    const ev = await rows(store.events('cfg'));
    const reads = ev.filter((e) => e.name === 'read' && e.resource === `file:${conf}`);
    expect(reads.length).toBeGreaterThan(3);
    expect(Buffer.concat(reads.map((r) => Buffer.from(r.data_out))).toString()).toBe(fs.readFileSync(conf, 'utf8'));
    expect(ev.find((e) => e.resource === 'file:/nonexistent/replaybook/file')?.ret).toBe(-2n);
    const unknown = ev.find((e) => e.name === 'unknown');
    expect(unknown?.nr).toBe(309); // getcpu is not in the table: logged raw, replayed by return value
    const recordedOut = Buffer.concat(ev.filter((e) => e.name === 'write' && e.resource === 'stdout').map((e) => Buffer.from(e.data_in)));
    expect(recordedOut.includes(Buffer.from([0, 0xff, 0xc3, 0x28, 0x80]))).toBe(true);

    fs.rmSync(conf); // replay must not need it
    const r = await replay('cfg', { store, speed: 'max' });
    expect(r.divergence).toBeNull();
    expect(r.exitCode).toBe(0);
    expect(r.stdout.equals(recordedOut)).toBe(true); // including the recorded wall-clock time
    expect(r.stdout.toString()).toContain('retries=3');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('portability and errors', () => {
  it('runs the recorded executable after the local one was rebuilt differently', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-exe-'));
    const exe = path.join(dir, 'payment-client');
    fs.copyFileSync(bins.paymentClient, exe);
    fs.chmodSync(exe, 0o755);
    await recordPayment('pay-rebuilt', 2000, 2500, exe);
    // A different program now lives at the recorded path.
    fs.rmSync(exe);
    execFileSync('cc', ['-O0', '-x', 'c', '-o', exe, '-'], { input: 'int main(void){return 42;}\n' });
    const localBefore = fs.readFileSync(exe);
    const r = await replay('pay-rebuilt', { store, speed: 'max' });
    expect(r.localExeChanged).toBe(true);
    expect(r.divergence).toBeNull();
    expect(r.stdout.toString()).toBe('payment failed: timeout\n');
    expect(r.exitCode).toBe(1);
    // The local file is untouched by the replay.
    expect(fs.readFileSync(exe).equals(localBefore)).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('replays with the recorded shared library after the local one was swapped for another version', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-lib-'));
    const lib = (version: string) => {
      execFileSync('cc', ['-O2', '-shared', '-fPIC', '-o', path.join(dir, 'libgreet.so'), '-x', 'c', '-'], {
        input: `const char *greeting(void) { return "greetings from library ${version}"; }\n`,
      });
    };
    lib('1.0');
    const exe = path.join(dir, 'greeter');
    execFileSync('cc', ['-O2', '-o', exe, '-x', 'c', '-', `-L${dir}`, '-lgreet', `-Wl,-rpath,${dir}`], {
      input: '#include <stdio.h>\nconst char *greeting(void);\nint main(void){puts(greeting());return 0;}\n',
    });
    await record({ incident: 'greeter', command: [exe], store, env: { PATH: '/usr/bin:/bin' } });
    const info = await store.incident('greeter');
    expect(Object.keys(info!.files)).toContain(path.join(dir, 'libgreet.so'));
    lib('2.0'); // this machine now has another version of the library
    expect(execFileSync(exe).toString()).toBe('greetings from library 2.0\n');
    const r = await replay('greeter', { store, speed: 'max', ephemeral: true });
    expect(r.divergence).toBeNull();
    expect(r.stdout.toString()).toBe('greetings from library 1.0\n');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops a 1x replay when interrupted, leaving no tracee behind', async () => {
    // A uniquely named copy, so the check below cannot see other tests' clients.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-int-'));
    const name = `pi${process.pid}`.slice(0, 15);
    const exe = path.join(dir, name);
    fs.copyFileSync(bins.paymentClient, exe);
    fs.chmodSync(exe, 0o755);
    await recordPayment('pay-interrupt', 2000, 2500, exe);
    const running = () =>
      fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === name;
        } catch {
          return false;
        }
      });
    const ac = new AbortController();
    const pending = replay('pay-interrupt', { store, speed: 1, signal: ac.signal });
    // Wait for the tracee to exist (it parks in the recorded 2 s poll), however loaded the machine.
    for (let i = 0; i < 200 && running().length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(running().length).toBe(1);
    ac.abort();
    await expect(pending).rejects.toThrow(/interrupted/);
    expect(running()).toEqual([]);
    expect(await store.runs('pay-interrupt')).toEqual([]); // nothing half-stored
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an unknown incident with a clear error', async () => {
    await expect(replay('no-such-incident', { store })).rejects.toThrow(
      "unknown incident 'no-such-incident': `replaybook incidents` lists the recorded ones",
    );
  });

  it('records and replays a service that forks a worker as one incident, with the recorded process ids', async () => {
    const exe = path.join(path.dirname(bins.paymentClient), 'forker');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-x', 'c', '-o', exe, '-'], {
      input:
        '#include <stdio.h>\n#include <unistd.h>\n#include <sys/wait.h>\n' +
        'int main(void){int st;pid_t p=fork();if(p==0){printf("worker %d of %d\\n",getpid(),getppid());return 4;}' +
        'pid_t w=waitpid(p,&st,0);printf("parent %d reaped %d (same: %d) code %d\\n",getpid(),w,w==p,WEXITSTATUS(st));return 0;}\n',
    });
    const recorded = await recordOnly({ incident: 'forker', command: [exe], env: { PATH: '/usr/bin:/bin' }, cwd: path.dirname(exe), store });
    const exits = recorded.filter((e) => e.kind === 'exit');
    expect(new Set(exits.map((e) => e.pid)).size, 'an exit event per process').toBe(2);
    const { run, sequenceDiff } = await replayAndCompare('forker', store, recorded);
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(sequenceDiff).toBeNull();
    const out = run.stdout.toString();
    expect(out).toBe(run.recorded.stdout.toString());
    // The replayed processes saw the ids production had, not this machine's.
    const [worker, parent] = exits.map((e) => e.pid);
    expect(out).toContain(`worker ${worker} of ${parent}\n`);
    expect(out).toContain(`parent ${parent} reaped ${worker} (same: 1) code 4\n`);
  });
});
