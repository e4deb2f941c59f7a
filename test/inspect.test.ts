// A paused replay seen by gdb: frames and variables by name (ReplaySession.backtrace/variables,
// through the engine's gdbserver and gdb/MI), gdb itself through `replaybook replay --gdb`,
// breakpoints, and jumps that land in the same state as a fresh fast-forward.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record } from '../src/record/record';
import { ReplaySession } from '../src/replay/session';
import { lookAfterFreshJump } from './helpers/replay-check';
import { fail } from '../src/inject/build';
import { ReplayPanel } from '../src/panel/panel';
import { parseMiLine } from '../src/replay/gdb-mi';
import { backtraceBundle, isBacktrace, isFrameVariables, variablesBundle } from '../src/notebook/bundle';
import { openStore, type ChdbStore } from '../src/store';
import { runProcess } from './helpers/run';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-inspect-'));
const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const SRC = path.join(__dirname, 'fixtures', 'request-loop.c');
let store: ChdbStore;
let exe: string;
let bare: string;
/** seq and printed line of each recorded write of a "served=" line. */
let writes: { seq: number; line: string }[];
let bareWrites: number[];

async function recordedWrites(id: string): Promise<{ seq: number; line: string }[]> {
  const all = [];
  for await (const b of store.events(id)) all.push(b);
  return new Table(all)
    .toArray()
    .filter((r) => r.name === 'write')
    .map((r) => ({ seq: Number(r.seq), line: Buffer.from(r.data_in as Uint8Array).toString('utf8') }))
    .filter((w) => w.line.startsWith('served='))
    .sort((a, b) => a.seq - b.seq);
}

/** The fields of a printed "served=3 id=103 bytes=3000 path=/item/21" line. */
function printed(line: string): Record<string, string> {
  return Object.fromEntries(line.trim().split(' ').map((kv) => kv.split('=') as [string, string]));
}

beforeAll(async () => {
  store = await openStore(home);
  exe = path.join(home, 'request-loop');
  bare = path.join(home, 'request-loop-bare');
  execFileSync('cc', ['-g', '-O0', '-Wall', '-Wextra', '-Werror', '-o', exe, SRC]);
  execFileSync('cc', ['-O0', '-Wall', '-Wextra', '-Werror', '-o', bare, SRC]); // no debug info
  await record({ incident: 'loop', command: [exe, '5'], store, env: { PATH: '/usr/bin:/bin' } });
  await record({ incident: 'bare', command: [bare, '3'], store, env: { PATH: '/usr/bin:/bin' } });
  writes = await recordedWrites('loop');
  bareWrites = (await recordedWrites('bare')).map((w) => w.seq);
});

afterAll(async () => {
  await store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

const env = (): NodeJS.ProcessEnv => ({ ...process.env, REPLAYBOOK_HOME: home, REPLAYBOOK_CLICKHOUSE_URL: '' });

describe('gdb/MI output', () => {
  it('parses result records, nested tuples and lists, and C strings with octal escapes', () => {
    const r = parseMiLine('12^done,stack=[frame={level="0",func="main",line="41"},frame={level="1",func="f"}],s="a\\"b\\303\\251\\n"');
    expect(r).toEqual({
      kind: 'result',
      token: 12,
      class: 'done',
      results: { stack: [{ level: '0', func: 'main', line: '41' }, { level: '1', func: 'f' }], s: 'a"bé\n' },
    });
    expect(parseMiLine('~"hello\\n"')).toEqual({ kind: 'stream', type: '~', text: 'hello\n' });
    expect(parseMiLine('*stopped,reason="breakpoint-hit",thread-id="1"')).toMatchObject({ kind: 'async', type: '*', class: 'stopped' });
    expect(() => parseMiLine('^done,x={a="1"')).toThrow(/MI/);
  });
});

describe('a paused replay, inspected', () => {
  it('shows the loop function and main in the backtrace, and the locals with the values the program printed', async () => {
    expect(writes).toHaveLength(5);
    const third = writes[2];
    const want = printed(third.line); // served=3 id=103 bytes=3000 path=/item/21
    const s = await ReplaySession.open('loop', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      const st = await s.jumpTo(third.seq);
      expect(st.next?.name).toBe('write');

      const bt = await s.backtrace();
      expect(bt).toHaveLength(1);
      expect(bt[0].tid).toBe(st.next!.tid);
      const names = bt[0].frames.map((f) => f.function);
      const serve = bt[0].frames.find((f) => f.function === 'serve')!;
      const main = bt[0].frames.find((f) => f.function === 'main')!;
      expect(names.indexOf('serve')).toBeLessThan(names.indexOf('main'));
      expect(serve).toMatchObject({ file: SRC, library: null });
      expect(main).toMatchObject({ file: SRC, line: 41, library: null });

      // Default: the program's innermost frame with source, the loop's function.
      const inServe = await s.variables();
      expect(inServe.message).toBeNull();
      expect(inServe.frame.function).toBe('serve');
      const v = Object.fromEntries(inServe.variables.map((x) => [x.name, x]));
      expect(v.served).toMatchObject({ type: 'int', value: want.served, argument: true });
      expect(v.req).toMatchObject({ type: 'struct request *', argument: true });
      expect(v.n.value).toBe(String(third.line.length));
      expect(v.line.value).toContain(JSON.stringify(third.line).slice(0, -1)); // gdb's C string of the line

      const inMain = await s.variables({ frame: main.level });
      const m = Object.fromEntries(inMain.variables.map((x) => [x.name, x]));
      expect(m.served.value).toBe(want.served);
      expect(m.count).toMatchObject({ value: '5', argument: false });
      expect(m.req.type).toBe('struct request');
      expect(m.req.value).toBe(`{id = ${want.id}, bytes = ${want.bytes}, path = "${want.path}", '\\000' <repeats ${32 - want.path.length - 1} times>}`);
      expect(m.name.value).toMatch(/"request-loop"$/);
      await expect(s.variables({ frame: 99 })).rejects.toThrow(/not 99/);

      // In a notebook they display as tables.
      const btHtml = String(backtraceBundle(bt)['text/html']);
      expect(btHtml).toContain('<table');
      expect(btHtml).toMatch(/serve[\s\S]*request-loop\.c:\d+[\s\S]*main[\s\S]*request-loop\.c:41/);
      expect(isBacktrace(bt) && isFrameVariables(inMain)).toBe(true);
      const varHtml = String(variablesBundle(inMain)['text/html']);
      expect(varHtml).toMatch(/<td[^>]*>count<\/td>[\s\S]*<td[^>]*>5<\/td>/);
      expect(String(variablesBundle(inMain)['text/plain'])).toContain(`int served = ${want.served}`);

      // The replay goes on where it was: one step later the same process is at the next event.
      const after = await s.step(1);
      expect(after.seq).toBe(third.seq + 1);
      const r = await s.jumpTo(writes[3].seq);
      expect(r.seq).toBe(writes[3].seq);
      const inMain4 = await s.variables({ frame: main.level });
      expect(inMain4.variables.find((x) => x.name === 'served')?.value).toBe(printed(writes[3].line).served);
    } finally {
      await s.stop();
    }
  });

  it('without debug info: function names from the symbol table, and variables say how to get debug info', async () => {
    const s = await ReplaySession.open('bare', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(bareWrites[1]);
      const bt = await s.backtrace();
      const frames = bt[0].frames.filter((f) => f.library === null);
      expect(frames.map((f) => f.function)).toEqual(['serve', 'main']);
      expect(frames.every((f) => f.file === null && f.line === null)).toBe(true);
      const vars = await s.variables();
      expect(vars.variables).toEqual([]);
      expect(vars.message).toMatch(/has no debug info/);
      expect(vars.message).toMatch(/-g/);
      expect(vars.message).toMatch(/\/usr\/lib\/debug/);
    } finally {
      await s.stop();
    }
  });

  it('jumps forward, backward and to the same place land in the state of a fresh fast-forward', async () => {
    const target = writes[1].seq;
    const look = async (s: ReplaySession): Promise<unknown> => {
      const st = await s.state();
      const vars = await s.variables({ frame: (await s.backtrace())[0].frames.find((f) => f.function === 'main')!.level });
      const req = vars.variables.find((x) => x.name === 'req')!;
      return { seq: st.seq, next: st.next, registers: st.registers, req: req.value };
    };
    const expected = await lookAfterFreshJump('loop', store, target, look);
    expect(expected).toMatchObject({ seq: target, req: expect.stringContaining(`id = ${printed(writes[1].line).id}`) });
    const s = await ReplaySession.open('loop', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(writes[0].seq);
      await s.jumpTo(target); // forward
      expect(await look(s)).toEqual(expected);
      await s.jumpTo(writes[4].seq);
      await s.jumpTo(target); // backward
      expect(await look(s)).toEqual(expected);
      await s.jumpTo(target); // the same place
      expect(await look(s)).toEqual(expected);
    } finally {
      await s.stop();
    }
  });

  it('goes back through checkpoints of the process, and a run resumed from one ends as recorded', async () => {
    const s = await ReplaySession.open('loop', { store, speed: 'max', ephemeral: true }, { paused: true });
    const last = writes[4].seq;
    await s.jumpTo(last);
    const kept = s.checkpoints();
    expect(kept.refused).toBeNull();
    expect(kept.checkpoints.map((c) => c.seq)).toContain(last); // one at every pause
    for (const c of kept.checkpoints) expect(c.pssKb).toBeGreaterThan(0);
    const back = await s.jumpTo(writes[1].seq);
    expect(back.seq).toBe(writes[1].seq);
    const inMain = await s.variables({ frame: (await s.backtrace())[0].frames.find((f) => f.function === 'main')!.level });
    expect(inMain.variables.find((x) => x.name === 'served')?.value).toBe(printed(writes[1].line).served);
    // The same checkpoint restored again after the copy made from it was replaced (its SIGCHLD
    // pending in the frozen process): forward to `last`, back, and forward to `last` once more.
    for (let i = 0; i < 2; i++) {
      expect((await s.jumpTo(last)).seq).toBe(last);
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true, seq: last });
      expect((await s.jumpTo(writes[1].seq)).seq).toBe(writes[1].seq);
      expect(s.checkpoints().lastRestore?.restored).toBe(true);
    }
    // One event back, from the checkpoint taken at the pause before.
    const step = await s.jumpTo(writes[1].seq - 1);
    expect(step.seq).toBe(writes[1].seq - 1);
    s.resume();
    const r = await s.done;
    expect(r.divergence).toBeNull();
    expect(r.reproduced).toBe(true);
    expect(r.stdout.toString()).toBe(writes.map((w) => w.line).join('') + 'request-loop done: 15000 bytes\n');
  });

  it('keeps checkpoints with an injection until it fires: jumps back restore them, and a run past it fails where a fresh one does', async () => {
    const injections = [fail('write', 'EIO', { when: 4 })]; // the 4th line's write fails: the program exits 1
    const opts = { store, speed: 'max' as const, ephemeral: true, injections };
    const fresh = async (seq: number): Promise<{ next: unknown; registers: unknown }> => {
      const f = await ReplaySession.open('loop', opts, { paused: true, checkpoints: false });
      try {
        const st = await f.jumpTo(seq);
        return { next: st.next, registers: st.registers };
      } finally {
        await f.stop();
      }
    };
    const s = await ReplaySession.open('loop', opts, { paused: true });
    await s.jumpTo(writes[3].seq); // before the failing write: the replay still follows the log
    expect(s.checkpoints().refused).toBeNull();
    expect(s.checkpoints().checkpoints.map((c) => c.seq)).toContain(writes[3].seq);
    for (const w of [writes[1], writes[0]]) {
      const st = await s.jumpTo(w.seq);
      expect(st.seq).toBe(w.seq);
      expect(s.checkpoints().lastRestore?.restored).toBe(true);
      expect({ next: st.next, registers: st.registers }).toEqual(await fresh(w.seq));
    }
    // Forward past the failing write from the restored process: the injection counts from where
    // the checkpoint stood, so it fires at the 4th write again (not at the next one), and the run
    // ends as a fresh run with the injection does.
    await s.jumpTo(writes[4].seq);
    const r = await s.done;
    const f = await ReplaySession.open('loop', opts, { paused: false });
    const want = await f.done;
    expect(want.switchedAt?.seq).toBe(writes[3].seq);
    expect(r.switchedAt).toEqual(want.switchedAt);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.toString()).toBe(writes.slice(0, 3).map((w) => w.line).join(''));
    expect(r.stdout.equals(want.stdout)).toBe(true);
    expect(r.injectionReport).toEqual(want.injectionReport);
  });

  it('changes the injections of a paused replay in place, from a checkpoint: the state and the run on are those of a fresh replay with them', async () => {
    const base = { store, speed: 'max' as const, ephemeral: true };
    const at = writes[3].seq; // paused before the 4th line's write
    const fresh = async (injections: ReturnType<typeof fail>[]): Promise<{ next: unknown; registers: unknown }> => {
      const f = await ReplaySession.open('loop', { ...base, injections }, { paused: true, checkpoints: false });
      try {
        const st = await f.jumpTo(at);
        return { next: st.next, registers: st.registers };
      } finally {
        await f.stop();
      }
    };
    const freshRun = async (injections: ReturnType<typeof fail>[]) => (await ReplaySession.open('loop', { ...base, injections }, { paused: false })).done;
    const s = await ReplaySession.open('loop', { ...base, injections: [fail('write', 'EIO', { when: 4 })] }, { paused: true });
    await s.jumpTo(at);
    for (const injections of [[], [fail('write', 'EIO', { when: 5 })]]) {
      expect(await s.setInjections(injections)).toBe(true);
      expect(s.checkpoints().lastRestore).toMatchObject({ restored: true });
      const st = await s.state();
      expect(st.seq).toBe(at);
      expect(st.paused).toBe(true);
      expect({ next: st.next, registers: st.registers }).toEqual(await fresh(injections));
    }
    s.resume();
    const r = await s.done;
    const want = await freshRun([fail('write', 'EIO', { when: 5 })]);
    expect(want.switchedAt?.seq).toBe(writes[4].seq);
    expect(r.switchedAt).toEqual(want.switchedAt);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.toString()).toBe(writes.slice(0, 4).map((w) => w.line).join(''));
    expect(r.injectionReport).toEqual(want.injectionReport);

    // One that fires before where the replay stands: back to a checkpoint before that call, and
    // the run on fails there and ends, as a fresh one does.
    const t = await ReplaySession.open('loop', base, { paused: true });
    await t.jumpTo(at);
    expect(await t.setInjections([fail('write', 'EIO', { when: 2 })])).toBe(true);
    expect(t.checkpoints().lastRestore?.seq).toBeLessThanOrEqual(writes[1].seq);
    const r2 = await t.done;
    const want2 = await freshRun([fail('write', 'EIO', { when: 2 })]);
    expect(r2.switchedAt?.seq).toBe(writes[1].seq);
    expect(r2.switchedAt).toEqual(want2.switchedAt);
    expect(r2.stdout.toString()).toBe(writes[0].line);
    expect(r2.injectionReport).toEqual(want2.injectionReport);
  });

  it("the panel's injection changes while paused come from a checkpoint, back at the same event as a fresh replay with them", async () => {
    const all = [];
    for await (const b of store.events('loop')) all.push(b);
    const at = writes[3].seq;
    const base = { store, speed: 'max' as const, ephemeral: true };
    const p = new ReplayPanel({ incident: 'loop', events: new Table(all), transactions: [], replayOptions: (injections) => ({ ...base, injections }) }, { injections: [fail('write', 'EIO', { when: 4 })] });
    try {
      await p.open();
      await p.jumpTo(at);
      const s = p.replay!;
      await p.removeInjection(0);
      await p.addInjection(fail('write', 'EIO', { when: 5 }));
      expect(p.replay).toBe(s); // the same engine: no restart
      expect(s.checkpoints().lastRestore?.restored).toBe(true);
      expect(p.injectionsInForce).toHaveLength(1);
      const st = await p.state();
      expect(st.seq).toBe(at);
      const f = await ReplaySession.open('loop', { ...base, injections: [...p.injectionsInForce] }, { paused: true, checkpoints: false });
      const want = await f.jumpTo(at);
      await f.stop();
      expect({ next: st.next, registers: st.registers }).toEqual({ next: want.next, registers: want.registers });
    } finally {
      await p.close();
    }
  });

  it('goes back to the same checkpoint again after the copy made from it was replaced', async () => {
    const s = await ReplaySession.open('loop', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      const far = writes[3].seq;
      await s.jumpTo(far);
      const c1 = Math.max(...s.checkpoints().checkpoints.map((c) => c.seq).filter((q) => q <= writes[1].seq));
      expect((await s.jumpTo(c1)).seq).toBe(c1); // a copy of c1 replaces the process
      expect((await s.jumpTo(far)).seq).toBe(far); // forward to the checkpoint at `far`: that copy ends
      const again = await s.jumpTo(c1); // c1 once more (it has its ended child's SIGCHLD pending)
      expect(again.seq).toBe(c1);
      // Restored, not restarted: a restart would have begun a new list without the one at `far`.
      expect(s.checkpoints().checkpoints.map((c) => c.seq)).toContain(far);
    } finally {
      await s.stop();
    }
  });

  it('keeps at most 64 checkpoints over many jumps, always one a few events before where it pauses', async () => {
    await record({ incident: 'dd', command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1', 'count=500', 'status=none'], store, env: { PATH: '/usr/bin:/bin' } });
    const all = [];
    for await (const b of store.events('dd')) all.push(b);
    const syscalls = new Table(all)
      .toArray()
      .filter((r) => r.kind === 'syscall')
      .map((r) => Number(r.seq))
      .sort((a, b) => a - b);
    const s = await ReplaySession.open('dd', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      let x = 12345;
      let target = 0;
      for (let i = 0; i < 80; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        target = syscalls[100 + (x % (syscalls.length - 100))];
        expect((await s.jumpTo(target)).seq).toBe(target);
        const kept = s.checkpoints().checkpoints.map((c) => c.seq);
        expect(kept.length).toBeLessThanOrEqual(64);
        expect(kept).toContain(target);
      }
      const kept = s.checkpoints().checkpoints.map((c) => c.seq);
      expect(kept.length).toBe(64);
      // The one for a step back: within 16 events before the pause (unless the jump came from there).
      expect(kept.filter((q) => q < target && q >= target - 16)).toHaveLength(1);
      const before = syscalls[syscalls.indexOf(target) - 1];
      expect((await s.jumpTo(before)).seq).toBe(before);
    } finally {
      await s.stop();
    }
  });

  it('a program with several threads keeps checkpoints of all of them: a jump back restores one and lands right, and the run ends as recorded', async () => {
    const dir = fs.mkdtempSync(path.join(home, 'pool-'));
    const pool = path.join(dir, 'worker-pool');
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', pool, path.join(__dirname, 'fixtures', 'worker-pool.c')]);
    fs.writeFileSync(path.join(dir, 'jobs.txt'), Array.from({ length: 8 }, (_, i) => `job-${i}`).join('\n') + '\n');
    await record({ incident: 'pool', command: [pool, path.join(dir, 'jobs.txt')], store, env: { PATH: '/usr/bin:/bin' } });
    const all = [];
    for await (const b of store.events('pool')) all.push(b);
    const rows = new Table(all).toArray().sort((a, b) => Number(a.seq - b.seq));
    const syscalls = rows.filter((r) => r.kind === 'syscall');
    const late = Number(syscalls[Math.floor(syscalls.length * 0.8)].seq);
    const early = Number(syscalls[Math.floor(syscalls.length * 0.5)].seq);
    const recordedOut = Buffer.concat(rows.filter((r) => r.name === 'write' && r.resource === 'stdout').map((r) => Buffer.from(r.data_in as Uint8Array)));
    const s = await ReplaySession.open('pool', { store, speed: 'max', ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(late);
      expect(s.checkpoints().refused).toBeNull();
      // Taken while its workers ran too, after its last clone.
      const clone = Number(rows.filter((r) => /^clone/.test(String(r.name))).at(-1)!.seq);
      expect(s.checkpoints().checkpoints.filter((c) => c.seq > clone).length).toBeGreaterThan(0);
      const st = await s.jumpTo(early);
      expect(s.checkpoints().lastRestore?.restored).toBe(true);
      expect(st.seq).toBe(early);
      expect(st.next?.name).toBe(rows.find((r) => Number(r.seq) === early)!.name);
      expect(st.threads).toHaveLength(5); // main + 4 workers, made again
      s.resume();
      const r = await s.done;
      expect(r.divergence).toBeNull();
      expect(r.stdout.equals(recordedOut)).toBe(true);
    } finally {
      await s.stop();
    }
  });

  it('refuses to inspect a running replay, with what to do', async () => {
    const s = await ReplaySession.open('loop', { store, speed: 0.01, ephemeral: true }, { paused: true });
    try {
      await s.jumpTo(writes[0].seq);
      s.resume();
      await expect(s.variables()).rejects.toThrow(/pause it first/);
    } finally {
      await s.stop();
    }
  });
});

describe('replaybook replay --until SEQ --gdb', () => {
  it('runs gdb against the paused replay: bt and info locals print what the program printed; a line breakpoint stops in the next request', async () => {
    const want = printed(writes[2].line);
    const next = printed(writes[3].line);
    const r = await runProcess(
      process.execPath,
      [CLI, 'replay', 'loop', '--until', String(writes[2].seq), '--gdb', '--gdb-ex', 'bt', '--gdb-ex', 'frame function main', '--gdb-ex', 'info locals',
        '--gdb-ex', 'break request-loop.c:41', '--gdb-ex', 'continue', '--gdb-ex', 'print req', '--gdb-ex', 'print served'],
      env(),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/#\d+ +0x[0-9a-f]+ in serve \(req=0x[0-9a-f]+, served=3\) at .*request-loop\.c:\d+/);
    expect(r.stdout).toMatch(/in main \(argc=2, argv=0x[0-9a-f]+\) at .*request-loop\.c:41/);
    expect(r.stdout).toContain(`req = {id = ${want.id}, bytes = ${want.bytes}, path = "${want.path}"`);
    expect(r.stdout).toContain(`served = ${want.served}`);
    expect(r.stdout).toContain('count = 5');
    // The breakpoint: the replay ran on (serving the recorded calls) to the next request's call.
    expect(r.stdout).toMatch(/Breakpoint 1, main \(/);
    expect(r.stdout).toContain(`= {id = ${next.id}, bytes = ${next.bytes}, path = "${next.path}"`);
    expect(r.stdout).toMatch(new RegExp(`\\$2 = ${next.served}\\b`));
  });

  it('reverse-stepi goes back one recorded event and reverse-continue to the first, through the checkpoints', async () => {
    const all = [];
    for await (const b of store.events('loop')) all.push(b);
    const syscalls = new Table(all)
      .toArray()
      .filter((r) => r.kind === 'syscall')
      .map((r) => ({ seq: Number(r.seq), name: String(r.name) }))
      .sort((a, b) => a.seq - b.seq);
    const at = syscalls.findIndex((x) => x.seq === writes[2].seq);
    const [before, twoBefore] = [syscalls[at - 1], syscalls[at - 2]];
    const r = await runProcess(
      process.execPath,
      [CLI, 'replay', 'loop', '--until', String(writes[2].seq), '--gdb', '--gdb-ex', 'info threads', '--gdb-ex', 'reverse-stepi', '--gdb-ex', 'info threads',
        '--gdb-ex', 'reverse-stepi', '--gdb-ex', 'info threads', '--gdb-ex', 'stepi', '--gdb-ex', 'info threads',
        '--gdb-ex', 'reverse-continue', '--gdb-ex', 'info threads'],
      env(),
    );
    expect(r.code).toBe(0);
    const nexts = [...r.stdout.matchAll(/next event: (\w+) \(seq (\d+)\)/g)].map((m) => ({ name: m[1], seq: Number(m[2]) }));
    expect(nexts).toEqual([
      { name: 'write', seq: writes[2].seq },
      before,
      twoBefore,
      before, // stepi: one event forward again
      nexts[4], // the first checkpoint, where the history begins: checked below
    ]);
    expect(syscalls.map((x) => x.seq)).toContain(nexts[4].seq);
    expect(nexts[4].seq).toBeLessThan(twoBefore.seq);
    expect(r.stdout + r.stderr).toContain('No more reverse-execution history');
  });

  it('reverse-continue stops at the previous breakpoint hit, found by re-running from the checkpoints; without breakpoints it goes to the start', async () => {
    // Paused at the first request's write (its serve() call already made): three continues
    // stop in serve() for requests 2, 3 and 4; each reverse-continue goes one hit back; a
    // continue from there reaches the next hit again; without breakpoints, the beginning.
    const r = await runProcess(
      process.execPath,
      [CLI, 'replay', 'loop', '--until', String(writes[0].seq), '--gdb', '--gdb-ex', 'break serve',
        '--gdb-ex', 'continue', '--gdb-ex', 'continue', '--gdb-ex', 'continue', '--gdb-ex', 'print served',
        '--gdb-ex', 'reverse-continue', '--gdb-ex', 'print served', '--gdb-ex', 'reverse-continue', '--gdb-ex', 'print served',
        '--gdb-ex', 'continue', '--gdb-ex', 'print served', '--gdb-ex', 'info threads',
        '--gdb-ex', 'delete', '--gdb-ex', 'reverse-continue', '--gdb-ex', 'info threads'],
      env(),
    );
    expect(r.code).toBe(0);
    const printedServed = [...r.stdout.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]));
    expect(printedServed).toEqual([4, 3, 2, 3]);
    // Each stop, forward or back, is gdb's breakpoint stop in serve() with that request's argument.
    const stops = [...r.stdout.matchAll(/Breakpoint 1, serve \(req=0x[0-9a-f]+, served=(\d+)\)/g)].map((m) => Number(m[1]));
    expect(stops).toEqual([2, 3, 4, 3, 2, 3]);
    const nexts = [...r.stdout.matchAll(/next event: (\w+) \(seq (\d+)\)/g)].map((m) => Number(m[2]));
    expect(nexts).toHaveLength(2);
    // At the third request's breakpoint, its clock read is next (before its write).
    expect(nexts[0]).toBeLessThan(writes[2].seq);
    expect(nexts[0]).toBeGreaterThan(writes[1].seq);
    // No breakpoint: back to where the history begins, before the first request.
    expect(nexts[1]).toBeLessThan(writes[0].seq);
    expect(r.stdout + r.stderr).toContain('No more reverse-execution history');

    // Two breakpoints hit between the same two recorded calls (main's call of serve(), then
    // serve()): going back tells them apart by their order there.
    const two = await runProcess(
      process.execPath,
      [CLI, 'replay', 'loop', '--until', String(writes[0].seq), '--gdb', '--gdb-ex', 'break serve', '--gdb-ex', 'break request-loop.c:41',
        '--gdb-ex', 'continue', '--gdb-ex', 'continue', '--gdb-ex', 'continue',
        '--gdb-ex', 'reverse-continue', '--gdb-ex', 'print served', '--gdb-ex', 'reverse-continue', '--gdb-ex', 'print served',
        '--gdb-ex', 'reverse-continue', '--gdb-ex', 'print served'],
      env(),
    );
    expect(two.code).toBe(0);
    const where = [...two.stdout.matchAll(/Breakpoint (\d), (\w+) \(/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(where).toEqual(['2:main', '1:serve', '2:main', '1:serve', '2:main', '1:serve']);
    expect([...two.stdout.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([2, 2, 1]);
  });

  it('a breakpoint in a loop without syscalls stops at every pass, forward and back', async () => {
    // mix() runs four times between two writes: each continue stops at the next call (the
    // engine steps over the int3's instruction and puts it back), and reverse-continue counts
    // the hits within one recorded event.
    const tight = path.join(home, 'tight-loop');
    execFileSync('cc', ['-g', '-O0', '-Wall', '-Wextra', '-Werror', '-o', tight, path.join(__dirname, 'fixtures', 'tight-loop.c')]);
    await record({ incident: 'tight', command: [tight, '3'], store, env: { PATH: '/usr/bin:/bin' } });
    const all = [];
    for await (const b of store.events('tight')) all.push(b);
    const rounds = new Table(all).toArray().filter((r) => r.name === 'write').map((r) => Number(r.seq));
    expect(rounds).toHaveLength(3);
    const r = await runProcess(
      process.execPath,
      [CLI, 'replay', 'tight', '--until', String(rounds[0]), '--gdb', '--gdb-ex', 'break mix',
        ...Array.from({ length: 5 }, () => ['--gdb-ex', 'continue']).flat(),
        '--gdb-ex', 'reverse-continue', '--gdb-ex', 'reverse-continue', '--gdb-ex', 'print x', '--gdb-ex', 'continue', '--gdb-ex', 'delete', '--gdb-ex', 'continue'],
      env(),
    );
    expect(r.code).toBe(0);
    // Paused before round 1's write: round 2's four calls, then round 3's first; back two: 22.
    const stops = [...r.stdout.matchAll(/Breakpoint 1, mix \(x=(\d+)\)/g)].map((m) => Number(m[1]));
    expect(stops).toEqual([20, 21, 22, 23, 30, 23, 22, 23]);
    expect([...r.stdout.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([22]);
    // The program runs on to its end with the recording's output.
    expect(r.stdout).toMatch(/\[Inferior 1 \(Remote target\) exited normally\]/);

    // From a breakpoint, stepi is one instruction and next one source line (gdb steps by
    // instructions there); the loop's next call of mix() then stops at the breakpoint.
    const s = await runProcess(
      process.execPath,
      [CLI, 'replay', 'tight', '--until', String(rounds[0]), '--gdb', '--gdb-ex', 'break mix', '--gdb-ex', 'continue',
        '--gdb-ex', 'stepi', '--gdb-ex', 'stepi', '--gdb-ex', 'next', '--gdb-ex', 'next', '--gdb-ex', 'continue', '--gdb-ex', 'print x'],
      env(),
    );
    expect(s.code).toBe(0);
    const pcs = [...s.stdout.matchAll(/^0x([0-9a-f]+)\t12\t/gm)].map((m) => BigInt('0x' + m[1]));
    expect(pcs).toHaveLength(2);
    expect(pcs[1]).toBeGreaterThan(pcs[0]);
    expect(s.stdout).toMatch(/^13\t}/m);
    expect([...s.stdout.matchAll(/Breakpoint 1, mix \(x=(\d+)\)/g)].map((m) => Number(m[1]))).toEqual([20, 21, 22]);
    expect([...s.stdout.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([22]);
  });

  it('reverse-continue in a program with several threads goes back through the hits of all of them, in order', async () => {
    const tc = path.join(home, 'thread-counters');
    execFileSync('cc', ['-g', '-O0', '-pthread', '-Wall', '-Wextra', '-Werror', '-o', tc, path.join(__dirname, 'fixtures', 'thread-counters.c')]);
    await record({ incident: 'threads-gdb', command: [tc, '5'], store, env: { PATH: '/usr/bin:/bin' } });
    const all = [];
    for await (const b of store.events('threads-gdb')) all.push(b);
    const writesSeqs = new Table(all).toArray().filter((r) => r.name === 'write').map((r) => Number(r.seq));
    // Each hit prints its thread's slot and round as id*100+round (the line counting the round).
    const line = fs.readFileSync(path.join(__dirname, 'fixtures', 'thread-counters.c'), 'utf8').split('\n').findIndex((l) => l.includes('slots[id].count = i;')) + 1;
    const show = ['--gdb-ex', 'print id*100+i'];
    const r = await runProcess(
      process.execPath,
      [CLI, 'replay', 'threads-gdb', '--until', String(writesSeqs[3]), '--gdb', '--gdb-ex', `break thread-counters.c:${line}`,
        '--gdb-ex', 'continue', ...show, '--gdb-ex', 'continue', ...show, '--gdb-ex', 'continue', ...show,
        '--gdb-ex', 'reverse-continue', ...show, '--gdb-ex', 'reverse-continue', ...show,
        '--gdb-ex', 'continue', ...show, '--gdb-ex', 'continue', ...show],
      env(),
    );
    expect(r.code).toBe(0);
    const at = [...r.stdout.matchAll(/^\$\d+ = (\d+)$/gm)].map((m) => Number(m[1]));
    expect(at).toHaveLength(7);
    const [a, b, c] = at;
    expect(new Set([a, b, c]).size).toBe(3);
    // Back two hits, then forward over the same two again.
    expect(at.slice(3)).toEqual([b, a, b, c]);
    // (Which threads the three hits are of is the recording's interleaving.) gdb is switched to
    // the thread of each hit, back and forth alike.
    const hitThreads = [...r.stdout.matchAll(/Thread (\d+) hit Breakpoint 1/g)].map((m) => Number(m[1]));
    expect(hitThreads).toHaveLength(7);
    expect(hitThreads.slice(3)).toEqual([hitThreads[1], hitThreads[0], hitThreads[1], hitThreads[2]]);
  });

  it('refuses what would change the replay, with the reason gdb shows, and runs to the end on continue', async () => {
    const r = await runProcess(
      process.execPath,
      [CLI, 'replay', 'loop', '--until', String(writes[0].seq), '--gdb', '--gdb-ex', 'frame function main', '--gdb-ex', 'set var count = 9',
        '--gdb-ex', 'print count', '--gdb-ex', 'continue'],
      env(),
    );
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Cannot access memory|read-only/);
    expect(r.stdout).toContain('$1 = 5');
    expect(r.stdout).toMatch(/\[Inferior 1 \(Remote target\) exited normally\]/);
  });

  it('--gdbserver waits for any gdb on loopback, which sees the paused replay; Ctrl-C ends it', async () => {
    const cli = spawn(process.execPath, [CLI, 'replay', 'loop', '--until', String(writes[1].seq), '--gdbserver', '0'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let err = '';
      const port = await new Promise<number>((resolve, reject) => {
        cli.stderr.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          const m = /gdbserver on 127\.0\.0\.1:(\d+)/.exec(err);
          if (m) resolve(Number(m[1]));
        });
        cli.once('exit', (code) => reject(new Error(`replaybook exited (${code}) before listening: ${err}`)));
      });
      expect(err).toMatch(/attach with: gdb .*target remote 127\.0\.0\.1:\d+/);
      const g = await runProcess('/usr/bin/gdb', ['-nx', '-batch', '-ex', `target remote 127.0.0.1:${port}`, '-ex', 'bt', '-ex', 'info threads', exe], env());
      expect(g.stdout).toMatch(/in serve \(req=0x[0-9a-f]+, served=2\)/);
      expect(g.stdout).toMatch(/Thread \d+ \(at_syscall, next event: write \(seq \d+\)\)/);
      // gdb went away; the replay still waits, paused, for the next one.
      const again = await runProcess('/usr/bin/gdb', ['-nx', '-batch', '-ex', `target remote 127.0.0.1:${port}`, '-ex', 'frame function main', '-ex', 'print served', exe], env());
      expect(again.stdout).toMatch(/\$1 = 2\b/);
      const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
      cli.kill('SIGINT');
      expect(await exited).not.toBe(0);
    } finally {
      cli.kill('SIGKILL');
    }
  });

  it('--gdbserver waits for any gdb; bad uses are refused before anything runs', async () => {
    const bad = await runProcess(process.execPath, [CLI, 'replay', 'loop', '--gdb'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/give --until SEQ/);
    const port = await runProcess(process.execPath, [CLI, 'replay', 'loop', '--until', '3', '--gdbserver', '99999'], env());
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/--gdbserver needs a whole number up to 65535/);
  });
});
