// Services replay as faithfully as command-line programs: files they map (shared memory that is
// gone by the end), real crashes, bytes moved inside the kernel (sendfile, copy_file_range).
// Fixtures: test/services/*.c, built here.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../src/record/record';
import { replay } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { rows } from './helpers/replay-check';
import { movedBytes } from '../src/events/syscalls';

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

  it('stores a file it cannot copy by name, with a warning, and the replay names it where it is mapped', async () => {
    const exe = build('devzero');
    const rec = await record({ incident: 'devzero', command: [exe], env: ENV, cwd: tmp, store });
    expect(rec.incident.files['/dev/zero']).toBe('');
    expect(rec.warnings.join('\n')).toMatch(/could not store \/dev\/zero, which the service mapped \(it is not a regular file\)/);
    expect((await store.incident('devzero'))?.files['/dev/zero']).toBe('');
    const run = await replay('devzero', { store, speed: 'max', ephemeral: true });
    expect(run.warnings.join('\n')).toMatch(/the program maps \/dev\/zero \(seq \d+\), whose bytes the recording could not store/);
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
    // sched_getaffinity, clock_getres of the thread's CPU clock, tgkill and ioprio_get name the
    // worker by the tid the kernel wrote at clone: a real one in replay.
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe('getaffinity: 0\ncpu clock: 0, getres: 0\nsignal 0: 0\nioprio: ok\njoined\n');
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
    await record({ incident: 'node-worker', command: [process.execPath, script], env: ENV, cwd: tmp, store, aslr: false });
    const run = await replay('node-worker', { store, speed: 'max', ephemeral: true });
    expect(run.divergence, run.divergence?.reason).toBeNull();
    expect(run.stdout.toString()).toBe('worker said 42\n');
  });
});
