// Services replay as faithfully as command-line programs: files they map (shared memory that is
// gone by the end), real crashes, bytes moved inside the kernel (sendfile, copy_file_range).
// Fixtures: test/services/*.c, built here.
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Table, type RecordBatch } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record, type RecordResult } from '../src/record/record';
import { replay } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { firstDifference, replayAndCompare, rows, sequence } from './helpers/replay-check';
import { movedBytes } from '../src/events/syscalls';
import { transactions } from '../src/analysis/transactions';

const ROOT = path.join(__dirname, '..');
const SRC = path.join(__dirname, 'services');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-services-'));
const ENV = { PATH: '/usr/bin:/bin', LANG: 'C' };
let store: ChdbStore;

function build(name: string): string {
  const exe = path.join(tmp, name);
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(SRC, `${name}.c`)], { stdio: 'pipe' });
  return exe;
}

beforeAll(async () => {
  store = await openStore(path.join(tmp, 'store'));
});

afterAll(async () => {
  await store?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('mapped files are stored when they are mapped', () => {
  it('stores a shm_open segment unlinked before the end, and replays the processes sharing it', async () => {
    const exe = build('shm');
    const rec = await record({ incident: 'shm', command: [exe], env: ENV, cwd: tmp, store });
    const segment = Object.keys(rec.incident.files).find((p) => p.startsWith('/dev/shm/rb-shm-test-'));
    expect(segment, 'the segment is among the incident files').toBeDefined();
    expect(rec.incident.files[segment!]).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.existsSync(segment!), 'the segment is gone').toBe(false);
    const run = await replay('shm', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe('segment: written by the parent, then by the child\n');
    expect(run.reproduced).toBe(true);
  });

  it('stores a file it cannot copy by name, with a warning; /dev/zero is served in replay as the zeroes it is', async () => {
    const exe = build('devzero');
    const rec = await record({ incident: 'devzero', command: [exe], env: ENV, cwd: tmp, store });
    expect(rec.incident.files['/dev/zero']).toBe('');
    expect(rec.warnings.join('\n')).toMatch(/could not store \/dev\/zero, which the service mapped \(it is not a regular file\)/);
    expect((await store.incident('devzero'))?.files['/dev/zero']).toBe('');
    const run = await replay('devzero', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.warnings.join('\n')).not.toMatch(/the program maps \/dev\/zero/);
    expect(run.stdout.toString()).toBe('mapped: zeroes no more, private ones too, zero-filled\n');
    expect(run.reproduced).toBe(true);
  });

  it('stores the semaphore python multiprocessing maps in /dev/shm', async () => {
    const script = 'import multiprocessing as m\np = m.Pool(2)\nprint(p.map(abs, [-1, -2, 3]))\np.close()\np.join()\n';
    const rec = await record({ incident: 'pool', command: ['/usr/bin/python3', '-c', script], env: ENV, cwd: tmp, store });
    expect(rec.incident.exit_code).toBe(0);
    const sems = Object.entries(rec.incident.files).filter(([p]) => p.startsWith('/dev/shm/sem.'));
    expect(sems.length, 'a POSIX semaphore was mapped').toBeGreaterThan(0);
    for (const [p, sha] of sems) expect(sha, p).toMatch(/^[0-9a-f]{64}$/);
    const run = await replay('pool', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe('[1, 2, 3]\n');
  });
});

describe('a real crash', () => {
  it('replays a NULL dereference to its SIGSEGV', async () => {
    const exe = build('segv');
    const rec = await record({ incident: 'segv', command: [exe], env: ENV, cwd: tmp, store });
    expect(rec.incident.exit_signal).toBe('SIGSEGV');
    const run = await replay('segv', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.signal).toBe('SIGSEGV');
    expect(run.stdout.toString()).toBe('about to crash\n');
    expect(run.reproduced).toBe(true);
  });
});

describe('bytes moved inside the kernel', () => {
  const input = path.join(tmp, 'input.txt');
  const text = Array.from({ length: 200 }, (_, i) => `line ${i}: ${'x'.repeat(i % 50)}\n`).join('');

  it('cat FILE > out (copy_file_range) replays the bytes it copied to stdout', async () => {
    fs.writeFileSync(input, text);
    const out = path.join(tmp, 'cat-out.txt');
    const fd = fs.openSync(out, 'w');
    // Recorded by the CLI with its stdout on a file, so cat copies with copy_file_range (or
    // sendfile): the bytes never pass through its memory.
    const main = `require(${JSON.stringify(path.join(ROOT, 'src/cli/main.ts'))}).main(process.argv.slice(1)).then((c) => process.exit(c))`;
    execFileSync(process.execPath, ['-r', path.join(ROOT, 'test/helpers/load-ts.js'), '-e', main, 'record', '--incident', 'cat', '--', '/bin/cat', input], {
      stdio: ['ignore', fd, 'pipe'],
      env: { ...process.env, REPLAYBOOK_HOME: path.join(tmp, 'store') },
    });
    fs.closeSync(fd);
    expect(fs.readFileSync(out, 'utf8')).toBe(text);
    fs.rmSync(input);
    const events = await rows(store.events('cat'));
    expect(events.some((e) => e.name === 'copy_file_range' || e.name === 'sendfile'), 'cat copied inside the kernel').toBe(true);
    const run = await replay('cat', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.recorded.stdout.toString()).toBe(text);
    expect(run.stdout.toString()).toBe(text);
    expect(run.reproduced).toBe(true);
  });

  it('sendfile from a file to stdout, from its position and from an offset', async () => {
    fs.writeFileSync(input, text);
    const exe = build('sendfile');
    await record({ incident: 'sendfile', command: [exe, input], env: ENV, cwd: tmp, store });
    fs.rmSync(input);
    const run = await replay('sendfile', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    const expected = `${text}${text.slice(3, 8)}\nsent ${text.length} then 5 bytes, offset now 8\n`;
    expect(run.recorded.stdout.toString()).toBe(expected);
    expect(run.stdout.toString()).toBe(expected);
  });
});

describe('bytes moved between pipes and sockets', () => {
  it('splice and tee out of a socket and pipes: the bytes are read from the pipe ends', async () => {
    const exe = build('splice');
    await record({ incident: 'splice', command: [exe], env: ENV, cwd: tmp, store });
    const copies = (await rows(store.events('splice'))).filter((e) => e.name === 'splice' || e.name === 'tee');
    expect(copies.map((e) => e.name)).toEqual(['splice', 'tee', 'splice']);
    for (const e of copies) expect(Buffer.from(movedBytes(e.name, e.data_out) ?? []).toString(), `${e.name} seq ${e.seq}`).toBe('from a socket\n');
    const run = await replay('splice', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe("moved 14 14 14\ntee'd: from a socket\nspliced: from a socket\n");
  });
});

describe('process and thread ids in arguments', () => {
  it('translates the real tid a pthread holds in replay back to the recorded one', async () => {
    const exe = path.join(tmp, 'thread-ids');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', exe, path.join(SRC, 'thread-ids.c')], { stdio: 'pipe' });
    await record({ incident: 'thread-ids', command: [exe], env: ENV, cwd: tmp, store });
    const run = await replay('thread-ids', { store, speed: 'max', ephemeral: true });
    // sched_getaffinity, clock_getres of the thread's CPU clock, tgkill, ioprio_get and the
    // path /proc/self/task/TID/comm name the worker by the tid the kernel wrote at clone: a real
    // one in replay.
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe('getaffinity: 0\ncpu clock: 0, getres: 0\nsignal 0: 0\nioprio: ok\nsetname: 0\njoined\n');
    expect(run.reproduced).toBe(true);
  });
});

describe('real runtimes', () => {
  it('a JVM: its perf file (/tmp/hsperfdata_*) is stored, and the replay names its threads by recorded ids', async () => {
    const dir = path.join(tmp, 'java');
    fs.mkdirSync(dir);
    fs.writeFileSync(
      path.join(dir, 'Hello.java'),
      'public class Hello { public static void main(String[] a) { System.out.println("hello from the JVM"); } }\n',
    );
    execFileSync('/usr/bin/javac', ['Hello.java'], { cwd: dir, stdio: 'pipe' });
    const rec = await record({ incident: 'jvm', command: ['/usr/bin/java', '-cp', dir, 'Hello'], env: ENV, cwd: dir, store });
    expect(rec.incident.exit_code).toBe(0);
    const perf = Object.entries(rec.incident.files).filter(([p]) => p.startsWith('/tmp/hsperfdata_'));
    expect(perf.length, 'the JVM mapped its perf file').toBeGreaterThan(0);
    for (const [p, sha] of perf) expect(sha, p).toMatch(/^[0-9a-f]{64}$/);
    const run = await replay('jvm', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe('hello from the JVM\n');
  });

  it('node worker_threads: the worker is named by its real tid in replay (sched_getaffinity)', async () => {
    const script = path.join(tmp, 'worker.js');
    fs.writeFileSync(
      script,
      "const { Worker, isMainThread, parentPort } = require('node:worker_threads');\n" +
        "if (isMainThread) new Worker(__filename).on('message', (m) => console.log('worker said', m));\n" +
        'else parentPort.postMessage(42);\n',
    );
    // node reads its own memory map: recorded without address randomization, as the corpus does.
    await record({ incident: 'node-worker', command: [process.execPath, script], env: ENV, cwd: tmp, store });
    const run = await replay('node-worker', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe('worker said 42\n');
  });
});

/** A free port on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, (err, out) => (err ? reject(err) : resolve(out))));
}

async function waitFor(what: string, ok: () => Promise<boolean> | boolean): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await Promise.resolve().then(ok).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within 15 s`);
}

/**
 * Replays an incident twice at full speed and checks what a faithful replay keeps: the recorded
 * exit status, no divergence, the recorded stdout, the recorded syscall sequence, and the very
 * same events in both replays. Returns the responses the service sent, from the recording.
 */
async function replaysTwice(incident: string, rec: RecordResult): Promise<string[]> {
  const recorded = await rows(store.events(incident));
  const runs = [await replayAndCompare(incident, store, recorded), await replayAndCompare(incident, store, recorded)];
  for (const r of runs) {
    expect(r.run.divergence, r.run.divergence?.reason).toBeNull();
    expect(r.run.exitCode).toBe(rec.incident.exit_code);
    expect(r.run.signal).toBe(rec.incident.exit_signal ?? null);
    expect(r.run.stdout.toString()).toBe(r.run.recorded.stdout.toString());
    expect(r.sequenceDiff).toBeNull();
  }
  console.log(
    `${incident}: ${recorded.length} events, service ran ${(Number(rec.incident.duration_ns) / 1e6).toFixed(0)} ms recorded; ` +
      `replays ${runs.map((r) => r.run.wallMs.toFixed(0)).join(' ms, ')} ms at --speed max`,
  );
  const [a, b] = await Promise.all(runs.map(async (r) => (await rows(r.run.batches)).map((e) => `${e.kind} ${e.tid} ${e.name} ${e.ret}`)));
  expect(b.length, 'both replays have as many events').toBe(a.length);
  expect(b).toEqual(a);
  const batches: RecordBatch[] = [];
  for await (const x of store.events(incident)) batches.push(x);
  return transactions(new Table(batches)).map((t) => t.response);
}

/** A directory with three C files and a Makefile that compiles them (two at a time with -j2) into a library. */
function makeProject(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const n of ['a', 'b', 'c']) fs.writeFileSync(path.join(dir, `${n}.c`), `int f_${n}(int x) { return x + 1; }\n`);
  fs.writeFileSync(path.join(dir, 'Makefile'), 'all: a.o b.o c.o\n\tcc -shared -o libabc.so a.o b.o c.o\n%.o: %.c\n\tcc -fPIC -O1 -c $< -o $@\n');
  return dir;
}

describe('asynchronous signals are delivered at syscall boundaries', () => {
  it('a SIGALRM every millisecond during computation lands where the recording had it', async () => {
    const exe = build('timer');
    const rec = await record({ incident: 'timer', command: [exe, '60', '2000000'], env: ENV, cwd: tmp, store });
    const signals = (await rows(store.events('timer'))).filter((e) => e.kind === 'signal' && e.name === 'SIGALRM');
    expect(signals.length, 'the timer fired while recording').toBeGreaterThan(0);
    // Each was held from the program's own code to its next syscall, or landed at one.
    for (const e of signals) expect(Number(Array.from(e.args)[2]), `seq ${e.seq}`).toBeLessThanOrEqual(1);
    await replaysTwice('timer', rec);
  });

  it('a signal to a thread that makes no syscall within the bound is delivered anyway, and marked inexact', async () => {
    const exe = build('timer');
    const rec = await record({ incident: 'timer-compute', command: [exe, '--compute', '30'], env: ENV, cwd: tmp, store, signalDeferMs: 5 });
    expect(rec.warnings.join('\n')).toMatch(/SIGALRM reached thread \d+ while it made no syscall for 5 ms, so it was delivered at an arbitrary instruction/);
    const inexact = (await rows(store.events('timer-compute'))).filter((e) => e.kind === 'signal' && Number(Array.from(e.args)[2]) === 2);
    expect(inexact.length).toBeGreaterThan(0);
    expect(Number(Array.from(inexact[0].args)[3])).toBe(5);
  });

  it('make -j2 building three C files (SIGCHLD) replays twice the same way', async () => {
    const dir = makeProject('make');
    // gcc names its temporary files from a stack address (glibc's tempname): recorded, by
    // default, with the fixed addresses its replay runs with, it names them the same there.
    const rec = await record({ incident: 'make', command: ['/usr/bin/make', '-j2'], env: ENV, cwd: dir, store });
    expect(rec.incident.exit_code).toBe(0);
    expect(rec.incident.aslr).toBe(false);
    expect(fs.existsSync(path.join(dir, 'libabc.so'))).toBe(true);
    const events = await rows(store.events('make'));
    expect(events.some((e) => e.kind === 'signal' && e.name === 'SIGCHLD')).toBe(true);
    await replaysTwice('make', rec);
  });

  it('make -j2 replays at 1x speed too: its interrupted pselect6 waits for the recorded SIGCHLD in a real rt_sigsuspend', async () => {
    const dir = makeProject('make-1x');
    const rec = await record({ incident: 'make-1x', command: ['/usr/bin/make', '-j2'], env: ENV, cwd: dir, store });
    expect(rec.incident.exit_code).toBe(0);
    const recorded = await rows(store.events('make-1x'));
    // The stand-in is used: a pselect6 (with its own signal mask) interrupted by a SIGCHLD.
    const interrupted = recorded.filter((e, i) => {
      const next = recorded.slice(i + 1).find((x) => x.tid === e.tid);
      return e.name === 'pselect6' && e.ret < 0n && next?.kind === 'signal' && next.name === 'SIGCHLD';
    });
    expect(interrupted.length, 'an interrupted pselect6').toBeGreaterThan(0);
    const run = await replay('make-1x', { store, speed: 1, ephemeral: true });
    console.log(`make-1x: ${recorded.length} events, service ran ${(Number(rec.incident.duration_ns) / 1e6).toFixed(0)} ms recorded; replay ${run.wallMs.toFixed(0)} ms at --speed 1`);
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.exitCode).toBe(0);
    expect(run.stdout.toString()).toBe(run.recorded.stdout.toString());
    expect(firstDifference(sequence(recorded), sequence(await rows(run.batches)))).toBeNull();
  });

  it.each([
    ['SIGQUIT', 'a graceful shutdown'],
    ['SIGTERM', 'a fast shutdown'],
  ] as const)('nginx (master and two workers, sendfile) serves five files and a 404, stops on %s (%s), and replays twice the same way', async (stop) => {
    const incident = `nginx-${stop}`;
    // The workers run as an unprivileged user: a directory of its own they can read.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-nginx-'));
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(path.join(dir, 'html'));
    fs.chmodSync(path.join(dir, 'html'), 0o755); // whatever the umask (the store holds 077 at times)
    const files = [1, 2, 3, 4, 5].map((i) => `file ${i}\n`.repeat(i * 100));
    files.forEach((body, i) => {
      fs.writeFileSync(path.join(dir, 'html', `f${i + 1}.txt`), body);
      fs.chmodSync(path.join(dir, 'html', `f${i + 1}.txt`), 0o644);
    });
    const port = await freePort();
    const pidFile = path.join(dir, 'nginx.pid');
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${dir}/${k};`).join(' ');
    fs.writeFileSync(
      path.join(dir, 'nginx.conf'),
      `daemon off;\nmaster_process on;\nworker_processes 2;\npid ${pidFile};\nerror_log stderr notice;\nevents { worker_connections 64; }\n` +
        `http { access_log off; sendfile on; ${temp} server { listen 127.0.0.1:${port}; root ${dir}/html; } }\n`,
    );
    const recording = record({ incident, command: ['/usr/sbin/nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', 'stderr'], env: ENV, cwd: dir, store, lateData: false });
    let rec: RecordResult | undefined;
    try {
      await waitFor('nginx writing its pid file', () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '');
      const get = (p: string) => run('curl', ['-sS', '--max-time', '10', '--retry', '3', '--retry-all-errors', '--retry-delay', '0', '-w', ' %{http_code}', `http://127.0.0.1:${port}${p}`]);
      for (let i = 0; i < 5; i++) expect(await get(`/f${i + 1}.txt`)).toBe(`${files[i]} 200`);
      expect(await get('/missing')).toMatch(/404 Not Found.* 404$/s);
    } finally {
      // Stopped as an operator does, whatever happened: a signal to the master.
      if (fs.existsSync(pidFile)) process.kill(Number(fs.readFileSync(pidFile, 'utf8')), stop);
      rec = await recording;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(rec.incident.exit_code).toBe(0);
    const events = await rows(store.events(incident));
    expect(events.some((e) => e.kind === 'signal' && e.name === stop)).toBe(true);
    expect(events.some((e) => e.name === 'sendfile')).toBe(true);
    const responses = await replaysTwice(incident, rec);
    expect(responses.filter((r) => r.startsWith('HTTP/1.1 200 OK')).length).toBe(5);
    expect(responses.filter((r) => r.startsWith('HTTP/1.1 404 Not Found')).length).toBe(1);
  });

  it('redis-server driven by redis-cli (SET, GET, 20 INCR, SHUTDOWN NOSAVE) replays twice the same way', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'redis-'));
    const port = await freePort();
    // redis hands open a stack address as its unused mode argument: not compared (the table's
    // open row), and the same in replay anyway, recorded with fixed addresses (the default).
    const recording = record({
      incident: 'redis',
      command: ['/usr/bin/redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      env: ENV, cwd: dir, store, lateData: false,
    });
    let rec: RecordResult | undefined;
    const cli = (...a: string[]) => run('redis-cli', ['-p', String(port), ...a]).then((o) => o.trim());
    const answers: string[] = [];
    try {
      await waitFor('redis answering PING', async () => (await cli('PING')) === 'PONG');
      answers.push(await cli('SET', 'k', 'v'), await cli('GET', 'k'));
      for (let i = 0; i < 20; i++) answers.push(await cli('INCR', 'n'));
      await cli('SHUTDOWN', 'NOSAVE').catch(() => ''); // the server closes the connection
    } finally {
      rec = await recording;
    }
    expect(answers).toEqual(['OK', 'v', ...Array.from({ length: 20 }, (_, i) => String(i + 1))]);
    expect(rec.incident.exit_code).toBe(0);
    expect(rec.incident.aslr).toBe(false);
    const responses = await replaysTwice('redis', rec);
    expect(responses).toContain('+OK\\r\\n');
    expect(responses).toContain('$1\\r\\nv\\r\\n');
    expect(responses).toContain(':20\\r\\n');
  });
});

describe('cpuid', () => {
  // This machine's case, whichever it is: replaybook does not trap cpuid, and says why.
  const faulting = /^flags\s*:.*\bcpuid_fault\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  const reason = faulting ? /this CPU could fault it \(ARCH_SET_CPUID\)/ : /this CPU cannot fault it \(ARCH_SET_CPUID answers ENODEV: no cpuid_fault\)/;

  it('a recording warns once that cpuid is not recorded, with the reason this CPU gives', async () => {
    const rec = await record({ incident: 'cpuid', command: ['/bin/true'], env: ENV, cwd: tmp, store });
    const warnings = rec.warnings.filter((w) => /cpuid is not recorded/.test(w));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(reason);
  });

  it('record --cpuid require fails before the service runs, with the reason this CPU gives, and stores nothing', async () => {
    const marker = path.join(tmp, 'cpuid-ran');
    const attempt = record({ incident: 'cpuid-required', command: ['/usr/bin/touch', marker], env: ENV, cwd: tmp, store, cpuid: 'require' });
    await expect(attempt).rejects.toThrow(/recording failed: cpuid answers cannot be recorded here \(record --cpuid require\): .*; record without --cpuid require/);
    await expect(attempt).rejects.toThrow(reason);
    expect(fs.existsSync(marker), 'the service never ran').toBe(false);
    expect(await store.incident('cpuid-required')).toBeNull();
  });

  it('doctor lists it as a limit of this machine', () => {
    const main = `require(${JSON.stringify(path.join(ROOT, 'src/cli/main.ts'))}).main(process.argv.slice(1)).then((c) => process.exit(c))`;
    const out = execFileSync(process.execPath, ['-r', path.join(ROOT, 'test/helpers/load-ts.js'), '-e', main, 'doctor'], {
      env: { ...process.env, REPLAYBOOK_HOME: path.join(tmp, 'doctor-home') },
      encoding: 'utf8',
    });
    expect(out).toMatch(/^LIMIT {2}cpuid trap: cpuid is not recorded: /m);
    expect(out.split('\n').find((l) => l.includes('cpuid trap'))).toMatch(reason);
  });
});
