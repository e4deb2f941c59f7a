// record --fast (docs/fast-path.md): the hot syscalls recorded inside the service's processes must
// be the same events the ptrace path records (same calls, bytes, results), and replay the same.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventRow } from '../src/events/schema';
import { syscallByName } from '../src/inject/syscalls';
import type { ChdbStore } from '../src/store';
import { recordWithWarnings, replayAndCompare } from './helpers/replay-check';
import { scratchStore } from './helpers/scratch';
import { makeInputs } from './helpers/syscall-inputs';

const SYSCALLS = path.join(__dirname, 'syscalls');
const FAST = path.join(__dirname, 'fast');
const programs = fs.readdirSync(SYSCALLS).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2)).sort();
// Programs whose output differs from run to run by nature (ids, clocks, randomness, CPU and
// scheduling facts, child processes' ids): their calls are compared by name and resource only.
const VARYING = new Set(['affinity', 'ids', 'process', 'random', 'rdtsc', 'sched', 'signals', 'sysinfo', 'time']);
// Calls whose results are clocks, ids, usage or file metadata (times, inode numbers, directory order of a
// directory made anew for each run): compared by result size, not bytes.
const METADATA = new Set(['clock_gettime', 'gettimeofday', 'getrusage', 'getpid', 'gettid', 'fstat', 'getdents64']);
// Processes racing each other and signals: the number of calls differs between any two runs; the
// fast recording is checked by its replay.
const RACY = new Set(['process']);
// A child forked at the end makes its first call before or after its parent's wait4, whichever
// the schedule lets run first; a second thread starts its calls before or after its creator's
// next ones (timer_thread): the same calls, compared in any order.
const INTERLEAVED = new Set(['signals', 'timer_thread']);
const ENV = { PATH: '/usr/bin:/bin', LANG: 'C' };

let store: ChdbStore;
const { tmp, binDir } = scratchStore('rb-fast-', (s) => (store = s));
let n = 0;
let fastCalls = 0;


const isFast = (e: EventRow) => syscallByName(e.name)?.traits.includes('fast') ?? false;
const UNFINISHED = -(2n ** 63n);
/** The calls, less one cut short by its process's exit (a race of the exit, not of the path). */
const calls = (ev: EventRow[]) => ev.filter((e) => e.kind === 'syscall' && BigInt(e.ret) !== UNFINISHED);
/** Each call by name and resource (what it was made on; numbers, such as ports and pipe inodes, vary). */
const shape = (ev: EventRow[]) => calls(ev).map((e) => `${e.name} ${e.resource.replace(/\d+/g, 'N')}`);
/**
 * The fast calls in full: result and bytes both ways. Left out: clock reads (time moves) and
 * what the programs print about what they saw (inode numbers, times); replay checks that.
 */
const detail = (ev: EventRow[]) =>
  calls(ev)
    .filter((e) => isFast(e) && !METADATA.has(e.name) && e.resource !== 'stdout')
    .map((e) => `${e.name} ${e.resource.replace(/\d+/g, 'N')} ret=${e.ret} in=${Buffer.from(e.data_in).toString('hex')} out=${Buffer.from(e.data_out).toString('hex')}`);

/**
 * Records `command` through ptrace and with --fast (each after `prepare`); both must have the
 * same calls. `threads`: several threads or processes, whose calls interleave differently.
 */
async function both(command: string[], cwd: string, exact: boolean, schedule?: 'serial' | 'parallel', threads = false, prepare = () => {}, racy = false) {
  const id = `f${n++}`;
  prepare();
  const ptrace = await recordWithWarnings({ incident: `${id}-ptrace`, command, env: ENV, cwd, store, schedule });
  prepare();
  const fast = await recordWithWarnings({ incident: `${id}-fast`, command, env: ENV, cwd, store, fast: true, schedule });
  expect(fast.fast, 'the engine reports what the fast path did').toBeDefined();
  fastCalls += fast.fast?.calls ?? 0;
  expect(fast.fast?.lossyFrom ?? null).toBeNull();
  // Threads interleave differently from run to run: then the same calls, in any order, less
  // futex calls, whose number is how often a lock or a join found the other thread not done yet
  // (one more in one of two recordings was seen).
  const order = (l: string[]) => (threads ? l.filter((c) => !c.startsWith('futex ')).sort() : l);
  if (!racy) expect(order(shape(fast.events))).toEqual(order(shape(ptrace.events)));
  if (exact) expect(order(detail(fast.events))).toEqual(order(detail(ptrace.events)));
  return { id: `${id}-fast`, ptrace, fast };
}

async function replaysClean(id: string, events: EventRow[]) {
  const { run, sequenceDiff } = await replayAndCompare(id, store, events);
  expect(run.divergence, run.divergence?.reason).toBeNull();
  expect(sequenceDiff).toBeNull();
  expect(run.stdout.toString()).toBe(run.recorded.stdout.toString());
  expect(run.exitCode).toBe(run.recorded.exitCode);
  return run;
}

describe('record --fast', () => {
  it.each(programs)('%s: the fast path records what ptrace records, and it replays', async (name) => {
    const exe = path.join(binDir, name);
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(SYSCALLS, `${name}.c`)], { stdio: 'pipe' });
    const data = path.join(tmp, `in-${name}`);
    const { id, fast } = await both([exe, data], binDir, !VARYING.has(name), undefined, INTERLEAVED.has(name), () => makeInputs(data), RACY.has(name));
    if (name !== 'rdtsc') await replaysClean(id, fast.events);
  });

  it('made calls in-process across the per-syscall programs', () => {
    expect(fastCalls).toBeGreaterThan(programs.length);
  });

  it('cat and sha256sum of a file, python3 -c: same calls, and they replay', async () => {
    const file = path.join(tmp, 'big.txt');
    fs.writeFileSync(file, Array.from({ length: 4000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`).join('\n'));
    for (const command of [
      ['cat', file],
      ['sha256sum', file],
      ['python3', '-c', 'import sys\nfor i in range(200): sys.stdout.write(str(i*i)+"\\n"); sys.stdout.flush()'],
    ]) {
      const { id, fast } = await both(command, tmp, command[0] !== 'python3');
      expect(fast.fast?.calls, command.join(' ')).toBeGreaterThan(0);
      await replaysClean(id, fast.events);
    }
  });

  it('a statically linked program', async () => {
    const exe = path.join(binDir, 'write-static');
    execFileSync('cc', ['-O2', '-static', '-o', exe, path.join(SYSCALLS, 'write.c')], { stdio: 'pipe' });
    const data = path.join(tmp, 'in-static');
    const { id, fast } = await both([exe, data], binDir, true, undefined, false, () => makeInputs(data));
    expect(fast.fast?.calls).toBeGreaterThan(0);
    await replaysClean(id, fast.events);
  });

  it('a program with its own SIGSYS handler that blocks every signal around its writes', async () => {
    const exe = path.join(binDir, 'sigsys');
    execFileSync('cc', ['-O2', '-o', exe, path.join(FAST, 'sigsys.c')], { stdio: 'pipe' });
    const { id, fast } = await both([exe], binDir, true);
    expect(fast.fast?.calls).toBeGreaterThanOrEqual(20);
    const run = await replaysClean(id, fast.events);
    expect(run.stdout.toString()).toContain(`handler saw 31`);
  });

  it('a signal handler calling at the site its signal interrupted: the site waits for the handler to return', async () => {
    const exe = path.join(binDir, 'sigframe');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(FAST, 'sigframe.c')], { stdio: 'pipe' });
    const { id, fast } = await both([exe], binDir, false);
    const exit = fast.events.find((e) => e.kind === 'exit' && e.pid === e.tid);
    expect(Number(exit?.ret), 'the service ran to its end (it died of SIGTRAP when the site was rewritten under the handler)').toBe(0);
    const written = calls(fast.events).filter((e) => e.resource === 'stdout').map((e) => Buffer.from(e.data_in).toString());
    expect(written.filter((w) => w === 'handler\n')).toHaveLength(3);
    expect(written.filter((w) => w === 'after\n')).toHaveLength(5);
    expect(fast.fast?.calls, 'the writes after the handlers go through the patched site').toBeGreaterThanOrEqual(5);
    await replaysClean(id, fast.events);
  });

  it('threads: serial schedule traces every call once there are several; parallel records them in-process', async () => {
    const exe = path.join(binDir, 'threads');
    execFileSync('cc', ['-O2', '-pthread', '-o', exe, path.join(FAST, 'threads.c')], { stdio: 'pipe' });
    const serial = await both([exe], binDir, true, 'serial', true);
    await replaysClean(serial.id, serial.fast.events);
    const parallel = await recordWithWarnings({ incident: 'threads-parallel', command: [exe], env: ENV, cwd: binDir, store, fast: true, schedule: 'parallel' });
    expect(parallel.warnings.some((w) => /may diverge where threads shared memory/.test(w))).toBe(true);
    expect(parallel.fast?.calls ?? 0).toBeGreaterThan(300);  // 3 threads x 50 x (write + read)
    const counts = (ev: EventRow[]) => calls(ev).filter((e) => e.name === 'read' || e.name === 'write').length;
    expect(counts(parallel.events)).toBe(counts(serial.ptrace.events));
    const seqs = parallel.events.map((e) => BigInt(e.seq));
    expect(new Set(seqs.map(String)).size).toBe(seqs.length);  // one order: every seq once
    await replaysClean('threads-parallel', parallel.events);
  });

  it('a service that scribbles over its ring: the recording is marked lossy, nothing crashes', async () => {
    const exe = path.join(binDir, 'scribble');
    execFileSync('cc', ['-O2', '-o', exe, path.join(FAST, 'scribble.c')], { stdio: 'pipe' });
    const r = await recordWithWarnings({ incident: 'scribble', command: [exe], env: ENV, cwd: binDir, store, fast: true });
    expect(r.warnings.some((w) => /ring was found corrupt.*lossy from seq \d+/.test(w))).toBe(true);
    expect(r.fast?.lossyFrom).not.toBeNull();
    const written = calls(r.events)
      .filter((e) => e.name === 'write')
      .map((e) => Buffer.from(e.data_in).toString());
    // The service went on: what it wrote after the scribbling is in the log (through ptrace).
    expect(written).toContain('after 4\n');
    const exit = r.events.find((e) => e.kind === 'exit' && e.pid === e.tid);
    expect(Number(exit?.ret)).toBe(0);
  });
});
