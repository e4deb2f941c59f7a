// Checkpoints of a multi-threaded process: the frozen copy is a fork of the leader, and a
// restore clones the other threads again and gives each its registers, signal mask, robust
// list, alternate signal stack, rseq registration, name and CPU affinity. Jumps through them land
// in the state of a fresh fast-forward, and nothing is left behind.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../src/record/record';
import { ReplaySession } from '../src/replay/session';
import { lookAfterFreshJump } from './helpers/replay-check';
import { openStore, type ChdbStore } from '../src/store';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-ckpt-threads-'));
const ROUNDS = 40;
let store: ChdbStore;
let exe: string;
let slots: bigint; // the address of the fixture's `slots` array (built without PIE)
let syscalls: { seq: number; name: string; tid: number }[];
let firstThread: number; // seq of the first event of a thread other than the main one
let output: string;

/** Processes still running (or unreaped) the fixture, by their command name. */
function leftovers(): string[] {
  const out: string[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      if (stat.includes('(thread-counters)')) out.push(stat.slice(0, 60));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

beforeAll(async () => {
  store = await openStore(home);
  exe = path.join(home, 'thread-counters');
  execFileSync('cc', ['-g', '-O0', '-no-pie', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', exe, path.join(__dirname, 'fixtures', 'thread-counters.c')]);
  const sym = execFileSync('nm', [exe], { encoding: 'utf8' }).split('\n').find((l) => / slots$/.test(l))!;
  slots = BigInt('0x' + sym.split(' ')[0]);
  await record({ incident: 'counters', command: [exe, String(ROUNDS)], store, env: { PATH: '/usr/bin:/bin' } });
  const all = [];
  for await (const b of store.events('counters')) all.push(b);
  const rows = new Table(all).toArray().sort((a, b) => Number(a.seq - b.seq));
  syscalls = rows.filter((r) => r.kind === 'syscall').map((r) => ({ seq: Number(r.seq), name: String(r.name), tid: Number(r.tid) }));
  output = Buffer.concat(rows.filter((r) => r.name === 'write' && r.resource === 'stdout').map((r) => Buffer.from(r.data_in as Uint8Array))).toString();
  firstThread = syscalls.find((s) => s.tid !== syscalls[0].tid)!.seq;
}, 120_000);

afterAll(async () => {
  await store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

/** What a paused replay shows: the next event, its thread's registers, every thread's state,
 *  stack (frame addresses) and its slot in memory (read through that thread). */
async function look(s: ReplaySession): Promise<unknown> {
  const st = await s.state();
  const threads = [...st.threads].sort((a, b) => a.tid - b.tid);
  const memory: Record<number, string> = {};
  for (const t of threads) memory[t.tid] = (await s.readMemory(t.tid, slots, 3 * 32)).toString('hex');
  const stacks = (await s.backtrace()).map((t) => ({ tid: t.tid, frames: t.frames.map((f) => `${f.function}@${f.address.toString(16)}`) }));
  stacks.sort((a, b) => a.tid - b.tid);
  return { seq: st.seq, next: st.next, registers: st.registers, threads: threads.map((t) => [t.tid, t.state]), memory, stacks };
}

/** Each thread's name (/proc/TID/comm), by recorded tid. */
async function threadNames(s: ReplaySession): Promise<{ tid: number; comm: string }[]> {
  const threads = [...(await s.state()).threads].sort((a, b) => a.tid - b.tid);
  return threads.map((t) => ({ tid: t.tid, comm: fs.readFileSync(`/proc/${t.realTid}/comm`, 'utf8').trim() }));
}

/** Each thread's name and CPU mask (/proc/TID/status), by recorded tid. */
async function threadLook(s: ReplaySession): Promise<{ tid: number; comm: string; cpus: string }[]> {
  const names = await threadNames(s);
  const threads = [...(await s.state()).threads].sort((a, b) => a.tid - b.tid);
  return names.map((n, i) => ({ ...n, cpus: /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync(`/proc/${threads[i].realTid}/status`, 'utf8'))![1] }));
}

/** Runs the paused replay to its end: as recorded, and no process of it is left. */
async function endsAsRecorded(s: ReplaySession): Promise<void> {
  s.resume();
  const r = await s.done;
  expect(r.divergence).toBeNull();
  expect(r.reproduced).toBe(true);
  expect(r.stdout.toString()).toBe(output);
  await s.stop();
  expect(leftovers()).toEqual([]);
}

describe('checkpoints of a process with several threads', () => {
  it('jumps backward, forward and to the same place land in the state of a fresh fast-forward; the run then ends as recorded and leaves no process', async () => {
    expect(output.split('\n').filter((l) => / round /.test(l))).toHaveLength(3 * ROUNDS);
    const after = syscalls.filter((s) => s.seq > firstThread);
    const target = after[Math.floor(after.length * 0.5)].seq;
    const early = after[Math.floor(after.length * 0.2)].seq;
    const late = after[Math.floor(after.length * 0.9)].seq;
    const expected = await lookAfterFreshJump('counters', store, target, look, false);
    expect(expected).toMatchObject({ seq: target });
    expect((expected as { threads: unknown[] }).threads).toHaveLength(3);

    const s = await ReplaySession.open('counters', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(late); // a pass through most of the run
      const kept = s.checkpoints();
      expect(kept.refused).toBeNull();
      expect(kept.checkpoints.filter((c) => c.seq > firstThread).length).toBeGreaterThanOrEqual(2); // 256 and 16 events before, and at the pause
      await s.jumpTo(target); // backward
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true });
      expect(await look(s)).toEqual(expected);
      await s.jumpTo(early);
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true });
      await s.jumpTo(target); // forward, from the checkpoint taken at the pause there
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true, seq: target });
      expect(await look(s)).toEqual(expected);
      await s.jumpTo(target); // the same place
      expect(await look(s)).toEqual(expected);
      await endsAsRecorded(s);
    } finally {
      await s.stop();
    }
  }, 180_000);

  it('a thread made again at a restore has its name, alternate signal stack, rseq registration and CPU affinity back', async () => {
    // Every round line says what its thread sees: its name, its alternate stack, whether the
    // kernel updates its rseq area. The recording's lines are the reference the replay is held to.
    const lines = output.split('\n').filter((l) => /^t[12] round /.test(l));
    expect(lines.length).toBe(2 * ROUNDS);
    for (const l of lines) expect(l).toMatch(/^t(\d) round \d+ name counter-\1 alt 1 rseq (1|-1)$/);
    const after = syscalls.filter((s) => s.seq > firstThread);
    const target = after[Math.floor(after.length * 0.5)].seq;
    const late = after[Math.floor(after.length * 0.9)].seq;
    const expected = await lookAfterFreshJump('counters', store, target, threadNames, false);
    expect(expected.map((t) => t.comm).sort()).toEqual(['counter-1', 'counter-2', 'thread-counters']);
    const s = await ReplaySession.open('counters', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(target);
      const before = await threadLook(s);
      await s.jumpTo(late);
      await s.jumpTo(target); // backward: the two threads are made again
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true });
      expect(await threadNames(s)).toEqual(expected);
      // The CPU mask is the one each thread had at that point of this replay (the program's own
      // sched_setaffinity is answered from the log; the engine pins its replay).
      expect(await threadLook(s)).toEqual(before);
      // Run on: the lines they print (name, alternate stack, rseq updates) are the recorded ones.
      await endsAsRecorded(s);
    } finally {
      await s.stop();
    }
  }, 180_000);

  it('a checkpoint taken between two clones: restored, the run makes the third thread again and ends as recorded', async () => {
    const clones = syscalls.filter((c) => /^clone/.test(c.name));
    expect(clones).toHaveLength(2);
    const between = clones[1].seq; // paused before the second clone: two threads
    const s = await ReplaySession.open('counters', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      expect((await s.jumpTo(between)).threads).toHaveLength(2);
      await s.jumpTo(syscalls.at(-1)!.seq);
      const back = await s.jumpTo(between);
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true, seq: between });
      expect(back.threads).toHaveLength(2);
      await endsAsRecorded(s);
    } finally {
      await s.stop();
    }
  }, 120_000);

  it('memory mapped shared and writable is copied into a checkpoint and written back: a jump back finds it as it was', async () => {
    const prog = path.join(home, 'shared-counter');
    execFileSync('cc', ['-g', '-O0', '-Wall', '-Wextra', '-Werror', '-o', prog, path.join(__dirname, 'fixtures', 'shared-counter.c')]);
    await record({ incident: 'shared', command: [prog, '200'], store, env: { PATH: '/usr/bin:/bin' } });
    const all = [];
    for await (const b of store.events('shared')) all.push(b);
    const rows = new Table(all).toArray().sort((a, b) => Number(a.seq - b.seq));
    const writes = rows.filter((r) => r.kind === 'syscall' && r.name === 'write' && r.resource === 'stdout');
    const printed = Buffer.concat(writes.map((r) => Buffer.from(r.data_in as Uint8Array))).toString();
    const at = BigInt(/shared at (0x[0-9a-f]+)/.exec(printed)![1]);
    const target = Number(writes[100].seq);
    const late = Number(writes[180].seq);
    const lookShared = async (s: ReplaySession): Promise<unknown> => {
      const st = await s.state();
      const memory = (await s.readMemory(st.threads[0].tid, at, 56)).toString('hex');
      return { seq: st.seq, next: st.next, registers: st.registers, memory };
    };
    const expected = await lookAfterFreshJump('shared', store, target, lookShared, false);
    // Paused at the write of round 99 (writes[0] is the address line): its line is made already.
    expect(Buffer.from((expected as { memory: string }).memory, 'hex').toString('latin1')).toContain('round 99 counter 4950');
    const s = await ReplaySession.open('shared', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(target); // a checkpoint at the pause here, the mapping made long before
      await s.jumpTo(late); // the later rounds change the memory that checkpoint shares
      expect(s.checkpoints().refused).toBeNull();
      expect(s.checkpoints().checkpoints.map((c) => c.seq)).toContain(target);
      await s.jumpTo(target); // backward: the shared counter must be back to round 99's
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true, seq: target });
      expect(await lookShared(s)).toEqual(expected);
      s.resume();
      const r = await s.done;
      expect(r.divergence).toBeNull();
      expect(r.stdout.toString()).toBe(printed); // what it wrote from that memory, as recorded
    } finally {
      await s.stop();
    }
  }, 120_000);

  it('a tree of processes takes no checkpoint once it forks and says so; its jumps restart the replay and land right', async () => {
    await record({ incident: 'tree', command: ['/bin/sh', '-c', 'echo one; /bin/echo two; echo three'], store, env: { PATH: '/usr/bin:/bin' } });
    const all = [];
    for await (const b of store.events('tree')) all.push(b);
    const rows = new Table(all).toArray().sort((a, b) => Number(a.seq - b.seq));
    const calls = rows.filter((r) => r.kind === 'syscall');
    const pids = new Set(calls.map((r) => Number(r.pid)));
    expect(pids.size).toBe(2);
    const child = calls.find((r) => Number(r.pid) !== Number(calls[0].pid))!;
    const inChild = calls.filter((r) => Number(r.pid) === Number(child.pid));
    const late = Number(calls.at(-1)!.seq);
    const early = Number(inChild[Math.floor(inChild.length / 2)].seq);
    const s = await ReplaySession.open('tree', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(late);
      expect(s.checkpoints().refused).toMatch(/several processes.*jumps restart the replay/);
      const st = await s.jumpTo(early);
      expect(st.seq).toBe(early);
      expect(st.next?.name).toBe(String(rows.find((r) => Number(r.seq) === early)!.name));
      expect(s.checkpoints().checkpoints.filter((c) => c.seq > Number(child.seq))).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});
