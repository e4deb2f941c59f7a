// The replay panel: a ReplaySession paused, stepped, inspected, jumped forward and back, resumed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { ReplaySession } from '../src/replay/session';
import { replay as notebookReplay, session as notebookSession, timeout } from '../src/notebook';
import { openStore, type ChdbStore } from '../src/store';
import { runProcess } from './helpers/run';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-session-'));
let store: ChdbStore;

beforeAll(async () => {
  // The notebook API finds its store as a kernel would: from REPLAYBOOK_HOME.
  process.env.REPLAYBOOK_HOME = home;
  delete process.env.REPLAYBOOK_CLICKHOUSE_URL;
  store = await openStore(home);
  await recordPaymentIncident(store, 'pay');
});

afterAll(async () => {
  await store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('ReplaySession', () => {
  it('starts paused, steps, shows state, registers and memory, jumps both ways, then runs to the end', async () => {
    const recorded = new Table(await (async () => {
      const all = [];
      for await (const b of store.events('pay')) all.push(b);
      return all;
    })());
    // By seq: syscalls and the other served events (rdtsc reads by the loader, signals).
    const names = recorded.toArray().sort((a, b) => Number(a.seq - b.seq)).map((r) => r.name as string);

    const s = await ReplaySession.open('pay', { store, speed: 1, ephemeral: true }, { paused: true });
    let st = await s.state();
    expect(st.paused).toBe(true);
    expect(st.seq).toBe(0);
    expect(st.next?.name).toBe('execve');
    expect(st.threads).toHaveLength(1);

    st = await s.step(3);
    expect(st).toMatchObject({ paused: true, seq: 3, served: 3 });
    expect(st.next?.name).toBe(names[3]);
    expect(st.registers?.rip).toBeGreaterThan(0n);
    const stack = await s.readMemory(st.next!.tid, st.registers!.rsp, 16);
    expect(stack.length).toBe(16);

    const pollSeq = names.indexOf('poll');
    st = await s.jumpTo(pollSeq);
    expect(st.seq).toBe(pollSeq);
    expect(st.next?.name).toBe('poll');
    expect(st.speed).toBe(1); // the jump fast-forwards, then the chosen speed holds again

    st = await s.jumpTo(10); // backward: restart and fast-forward
    expect(st.seq).toBe(10);
    expect(st.next?.name).toBe(names[10]);

    s.speed('max');
    s.resume();
    const r = await s.done;
    expect(r.reproduced).toBe(true);
    expect(r.stdout.toString()).toBe('payment failed: timeout\n');
  });

  it('streams events as they are served and stops on request, leaving no tracee', async () => {
    const s = await ReplaySession.open('pay', { store, speed: 1, ephemeral: true });
    const seen: number[] = [];
    for await (const b of s.events()) {
      seen.push(b.numRows);
      if (seen.reduce((a, n) => a + n, 0) >= 20) break; // the 2 s poll is still ahead
    }
    const r = await s.stop();
    expect(r.signal).toBe('SIGKILL');
    expect(r.reproduced).toBe(false);
    expect(seen.reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(20);
  });

  it('replays to a given event from the CLI with --until, printing the state there', async () => {
    const cli = path.join(__dirname, '..', 'bin', 'replaybook.js');
    // The CLI is another process; this one opens the store per operation, so both work.
    const r = await runProcess(process.execPath, [cli, 'replay', 'pay', '--until', '5', '--json'], { ...process.env, REPLAYBOOK_HOME: home });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { state: { seq: number; paused: boolean; next: { name: string } } };
    expect(out.state.seq).toBe(5);
    expect(out.state.paused).toBe(true);
  });
});

describe("the notebook's session() and replay()", () => {
  it('session() applies the injections it is given: a 5 s timeout lets the payment through', async () => {
    const s = await notebookSession('pay', { injections: [timeout('env:PAYMENT_TIMEOUT_MS', 5000)], speed: 'max', paused: false });
    const r = await s.done;
    expect(r.injections).toHaveLength(1);
    expect(r.commandChanges.join('\n')).toContain('PAYMENT_TIMEOUT_MS');
    expect(r.stdout.toString()).toMatch(/^payment ok/);
  });

  it('replay() stores the label it is given with the run', async () => {
    const run = await notebookReplay('pay', { speed: 'max', label: 'as recorded' });
    expect(run.result.label).toBe('as recorded');
    const stored = (await store.runs('pay')).find((r) => r.run_id === run.id);
    expect(stored?.label).toBe('as recorded');
  });
});
