// In-process serving at replay (docs/fast-path.md, "Replay"): at speed max the program's own
// blob answers simple recorded calls from entries the engine fills from the log. Such a replay
// must make the same replayed events (calls, bytes, results), the same verdict and output as
// the replay that serves every call through ptrace (inProcess: false), for recordings made with
// --fast and through ptrace alike; and a jump must land where it lands without it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { replay } from '../src/replay/replay';
import { ReplaySession } from '../src/replay/session';
import type { ChdbStore } from '../src/store';
import { recordOnly, rows, sequence } from './helpers/replay-check';
import { runProcess } from './helpers/run';
import { scratchStore } from './helpers/scratch';
import { makeInputs } from './helpers/syscall-inputs';

const SYSCALLS = path.join(__dirname, 'syscalls');
// Per-syscall programs whose hot calls the blob answers (read, write, pread64, pwrite64, lseek,
// fstat, getdents64, clock_gettime...), and some whose calls it leaves to ptrace.
const PROGRAMS = ['read', 'write', 'lseek', 'stat', 'getdents', 'time', 'fileops', 'pipe', 'open'];
// Each program's calls that answer with clocks or ids differ between two recordings, not
// between two replays of one: every replay is compared in full.
const ENV = { PATH: '/usr/bin:/bin', LANG: 'C' };

let store: ChdbStore;
const { tmp, binDir } = scratchStore('rb-fast-replay-', (s) => (store = s));
let n = 0;
let servedTotal = 0;


/** Replays `id` at speed max both ways; both must reproduce the recording and make the same events. */
async function bothWays(id: string) {
  const viaPtrace = await replay(id, { store, speed: 'max', ephemeral: true, inProcess: false });
  const inProcess = await replay(id, { store, speed: 'max', ephemeral: true });
  expect(viaPtrace.servedInProcess ?? 0).toBe(0);
  expect(inProcess.divergence, inProcess.divergence?.reason).toBeNull();
  expect(viaPtrace.divergence, viaPtrace.divergence?.reason).toBeNull();
  expect(inProcess.reproduced).toBe(true);
  expect(inProcess.reproduced).toBe(viaPtrace.reproduced);
  expect(inProcess.stdout.toString()).toBe(viaPtrace.stdout.toString());
  expect(inProcess.stderr.toString()).toBe(viaPtrace.stderr.toString());
  expect(inProcess.exitCode).toBe(viaPtrace.exitCode);
  expect(inProcess.events).toBe(viaPtrace.events);
  const a = await rows(inProcess.batches);
  const b = await rows(viaPtrace.batches);
  expect(sequence(a)).toEqual(sequence(b));
  // Same seq, thread and call at every position (what the run's table and the panel show). A
  // thread's exit is reported when the kernel reaps it, in either run, so exits are compared as
  // a set and the calls after them by what comes before.
  const calls = (rs: typeof a) => rs.filter((e) => e.kind === 'syscall').map((e) => `${e.tid} ${e.name}`);
  const exits = (rs: typeof a) => rs.filter((e) => e.kind !== 'syscall').map((e) => `${e.tid} ${e.kind} ${e.name}`).sort();
  expect(calls(a)).toEqual(calls(b));
  expect(exits(a)).toEqual(exits(b));
  servedInProcess(inProcess.servedInProcess ?? 0);
  return { inProcess, viaPtrace };
}

function servedInProcess(k: number) {
  servedTotal += k;
}

function build(name: string): string {
  const exe = path.join(binDir, name);
  if (!fs.existsSync(exe)) execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, path.join(SYSCALLS, `${name}.c`)], { stdio: 'pipe' });
  return exe;
}

describe('replay served in-process', () => {
  it.each(PROGRAMS)('%s: recorded through ptrace and with --fast, both replays give the same events', async (name) => {
    const exe = build(name);
    const data = path.join(tmp, `in-${name}`);
    for (const fast of [false, true]) {
      const id = `p${n++}`;
      makeInputs(data);
      await recordOnly({ incident: id, command: [exe, data], env: ENV, cwd: binDir, store, fast });
      await bothWays(id);
    }
  });

  it('answered calls in-process across those programs', () => {
    expect(servedTotal).toBeGreaterThan(PROGRAMS.length);
  });

  it('a dd bs=1 loop: every read and write but a few answered in-process, the same events as through ptrace', async () => {
    const argv = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=6000', 'status=none'];
    for (const fast of [false, true]) {
      const id = `dd${n++}`;
      const recorded = await recordOnly({ incident: id, command: argv, env: ENV, cwd: '/', store, fast });
      const { inProcess } = await bothWays(id);
      expect(sequence(await rows(inProcess.batches))).toEqual(sequence(recorded));
      // 12000 calls in the loop: at most a few hundred go through ptrace (one per fill, the first ones).
      expect(inProcess.servedInProcess ?? 0).toBeGreaterThan(11000);
    }
  });

  it('several threads: the bursts of each are answered in-process in turn, the same events and registers as through ptrace', async () => {
    const exe = path.join(binDir, 'thread-bursts');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', exe, path.join(__dirname, 'fixtures', 'thread-bursts.c')], { stdio: 'pipe' });
    const id = `threads${n++}`;
    const recorded = await recordOnly({ incident: id, command: [exe, '300'], env: ENV, cwd: binDir, store });
    expect(new Set(recorded.filter((e) => e.kind === 'syscall').map((e) => e.tid)).size).toBe(4);
    const { inProcess } = await bothWays(id);
    expect(sequence(await rows(inProcess.batches))).toEqual(sequence(recorded));
    expect(inProcess.stdout.toString()).toBe('total 101022\n');
    // Answered in-process: every call of a thread's run of calls in the log but the last (after
    // which the thread must stop: the next event is another thread's), once its site is patched.
    const calls = recorded.filter((e) => e.kind === 'syscall');
    const followedBySameThread = calls.filter((e, i) => i + 1 < calls.length && calls[i + 1].tid === e.tid).length;
    expect(followedBySameThread).toBeGreaterThan(300);
    expect(inProcess.servedInProcess ?? 0).toBeGreaterThan(followedBySameThread / 2);
    // A session jumps into the middle and lands where a ptrace-only session does, registers included.
    const syscalls = recorded.filter((e) => e.kind === 'syscall').map((e) => Number(e.seq));
    const target = syscalls[Math.floor(syscalls.length * 0.6)];
    const looks = [];
    for (const inProc of [true, false]) {
      const s = await ReplaySession.open(id, { store, speed: 'max', ephemeral: true, inProcess: inProc }, { paused: true });
      try {
        const st = await s.jumpTo(target);
        looks.push({ seq: st.seq, next: st.next, registers: st.registers, threads: st.threads.map((t) => `${t.tid} ${t.state}`) });
      } finally {
        await s.stop();
      }
    }
    expect(looks[0].seq).toBe(target);
    expect(looks[0]).toEqual(looks[1]);
  });

  it('at speed 1 nothing is answered in-process', async () => {
    const id = `one${n++}`;
    await recordOnly({ incident: id, command: ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=50', 'status=none'], env: ENV, cwd: '/', store });
    const r = await replay(id, { store, speed: 1, ephemeral: true });
    expect(r.divergence).toBeNull();
    expect(r.servedInProcess ?? 0).toBe(0);
  });

  it('a jump with in-process serving lands at the same state, and jumps back through checkpoints', async () => {
    const id = `jump${n++}`;
    const argv = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=20000', 'status=none'];
    const recorded = await recordOnly({ incident: id, command: argv, env: ENV, cwd: '/', store });
    const syscalls = recorded.filter((e) => e.kind === 'syscall').map((e) => Number(e.seq));
    const targets = [syscalls[Math.floor(syscalls.length * 0.8)], syscalls[Math.floor(syscalls.length / 3)], syscalls[syscalls.length - 2]];
    const look = async (s: ReplaySession) => {
      // Registers too: a call the blob leaves to the tracer is shown at the program's own site.
      const st = await s.state();
      return { seq: st.seq, served: st.served, paused: st.paused, next: st.next, threads: st.threads.map((t) => `${t.tid} ${t.state}`), registers: st.registers };
    };
    const states = { inProcess: [] as unknown[], viaPtrace: [] as unknown[] };
    for (const inProcess of [true, false]) {
      const s = await ReplaySession.open(id, { store, speed: 'max', ephemeral: true, inProcess }, { paused: true });
      try {
        for (const t of targets) {
          const st = await s.jumpTo(t);
          expect(st.seq).toBe(t);
          states[inProcess ? 'inProcess' : 'viaPtrace'].push(await look(s));
        }
      } finally {
        await s.stop();
      }
    }
    expect(states.inProcess).toEqual(states.viaPtrace);
  });

  it('a pause at a patched call looks unpatched to gdb; a gdb that runs the program gets its code back', async () => {
    const id = `gdb${n++}`;
    const argv = ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=3000', 'status=none'];
    const recorded = await recordOnly({ incident: id, command: argv, env: ENV, cwd: '/', store });
    const syscalls = recorded.filter((e) => e.kind === 'syscall');
    const target = Number(syscalls[Math.floor(syscalls.length / 2)].seq);
    // Where the kernel has the thread stopped: the pc of its syscall (/proc/TID/syscall's last field).
    const kernelPc = (tid: number) => BigInt(fs.readFileSync(`/proc/${tid}/syscall`, 'utf8').trim().split(' ').pop() ?? '0');
    const inBlob = (pc: bigint) => pc >= 0x6b6b00000000n && pc < 0x6b6b00010000n; // RB_FAST_CODE, its size
    const gdb = (port: number, ...ex: string[]) =>
      runProcess('/usr/bin/gdb', ['-nx', '-batch', '-ex', `target remote 127.0.0.1:${port}`, ...ex.flatMap((e) => ['-ex', e]), '/bin/dd'], { ...process.env });
    const seen: Record<string, unknown> = {};
    for (const inProcess of [true, false]) {
      const s = await ReplaySession.open(id, { store, speed: 'max', ephemeral: true, inProcess }, { paused: true });
      try {
        const st = await s.jumpTo(target);
        expect(st.seq).toBe(target);
        const tid = st.threads[0].realTid;
        const regs = st.registers as Record<string, bigint>;
        // Patched, the thread really stands in replaybook's code; what is shown is the program's.
        if (inProcess) expect(inBlob(kernelPc(tid))).toBe(true);
        else expect(kernelPc(tid)).toBe(regs.rip);
        expect(inBlob(regs.rip)).toBe(false);
        const code = (await s.readMemory(st.threads[0].tid, regs.rip - 16n, 32)).toString('hex');
        expect(code.slice(28, 32)).toBe('0f05'); // the program's own `syscall`, right before rip
        const port = await s.gdbserver();
        const bt = await gdb(port, 'bt', 'x/2i $pc-2');
        expect(bt.stdout).toMatch(/#1 /);
        seen[String(inProcess)] = { registers: st.registers, code, bt: bt.stdout.slice(bt.stdout.indexOf('#0')) };
        if (inProcess) {
          // gdb steps the program: its sites get their own code back first, so the next calls stop
          // at the program's own `syscall`, and the replay goes on as recorded.
          await gdb(port, 'stepi', 'stepi');
          const after = await s.state();
          expect(after.seq).toBeGreaterThan(target);
          expect(kernelPc(tid)).toBe((after.registers as Record<string, bigint>).rip);
          const end = Number(syscalls[syscalls.length - 2].seq);
          expect((await s.jumpTo(end)).seq).toBe(end);
        }
      } finally {
        await s.stop();
      }
    }
    expect(seen.true).toEqual(seen.false);
  });
});
