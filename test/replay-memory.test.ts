// A replay's events past its memory budget (ReplayOptions.eventMemory) go to disk as they are
// served: the run's verdict, output, events and stored rows are those of a run kept in memory,
// and a session that jumps back (reading the log from the store again) still replays it exactly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replay } from '../src/replay/replay';
import { RunEvents } from '../src/replay/run-events';
import { ReplaySession } from '../src/replay/session';
import { openStore, type ChdbStore } from '../src/store';
import { recordOnly, rows, sequence } from './helpers/replay-check';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-replay-memory-'));
let store: ChdbStore;
const ID = 'lines';
// Lines on stdout and stderr, each its own write: a few hundred events.
const SCRIPT = 'i=0; while [ $i -lt 150 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; exit 3';

/** Directories the runs of this process spilled their events to. */
function runDirs(): string[] {
  return fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith('replaybook-run-'));
}

beforeAll(async () => {
  store = await openStore(home);
  await recordOnly({ incident: ID, command: ['/bin/sh', '-c', SCRIPT], env: { PATH: '/usr/bin:/bin' }, cwd: '/', store });
});

afterAll(async () => {
  await store?.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('a replay over its event-memory budget', () => {
  it('reports the same verdict, output, events and stored rows as one kept in memory', async () => {
    const inMemory = await replay(ID, { store, speed: 'max' });
    const before = new Set(runDirs());
    const onDisk = await replay(ID, { store, speed: 'max', eventMemory: 1 }); // every batch goes to disk
    // It did write its events to a directory of its own.
    expect(runDirs().filter((d) => !before.has(d)).length).toBeGreaterThan(0);

    expect(inMemory.reproduced).toBe(true);
    expect(onDisk.reproduced).toBe(true);
    expect(onDisk.exitCode).toBe(3);
    expect(onDisk.stdout.toString()).toBe(inMemory.stdout.toString());
    expect(onDisk.stdout.toString()).toContain('out 149\n');
    expect(onDisk.stderr.toString()).toBe(inMemory.stderr.toString());
    expect(onDisk.stderr.toString()).toContain('err 149\n');
    expect(onDisk.recorded.stdout.equals(inMemory.recorded.stdout)).toBe(true);
    expect(onDisk.events).toBe(inMemory.events);

    // RunResult.batches gives every event, in order, as the run kept in memory has them.
    const diskRows = await rows(onDisk.batches);
    expect(diskRows.length).toBe(onDisk.events);
    expect(diskRows.map((e) => Number(e.seq))).toEqual(diskRows.map((_, i) => i));
    expect(sequence(diskRows)).toEqual(sequence(await rows(inMemory.batches)));
    // ... and what was stored under the run id is the same.
    expect(onDisk.stored).toBe('stored');
    expect(sequence(await rows(store.events(ID, onDisk.runId)))).toEqual(sequence(diskRows));
  });

  it('jumps back in a session (the log read from the store again) and still reproduces', async () => {
    const s = await ReplaySession.open(ID, { store, speed: 'max', ephemeral: true, eventMemory: 1 }, { paused: true, checkpoints: false });
    let st = await s.jumpTo(200);
    expect(st.seq).toBe(200);
    st = await s.jumpTo(20); // backward without checkpoints: a restart
    expect(st.seq).toBe(20);
    s.resume();
    const r = await s.done;
    expect(r.reproduced).toBe(true);
    expect(r.stdout.toString()).toContain('out 149\n');
    const got = await rows(r.batches);
    expect(got.length).toBe(r.events);
    expect(got.map((e) => Number(e.seq))).toEqual(got.map((_, i) => i));
  });

  it('streams events() from disk to a reader that lags behind', async () => {
    const s = await ReplaySession.open(ID, { store, speed: 'max', ephemeral: true, eventMemory: 1 });
    const r = await s.done; // everything served before the reader starts
    let n = 0;
    for await (const b of s.events()) n += b.numRows;
    expect(n).toBe(r.events);
  });
});

describe('RunEvents', () => {
  let recorded: RecordBatch[] = [];
  const seqs = async (it: AsyncIterable<RecordBatch> | RecordBatch[]): Promise<number[]> => (await rows(it)).map((e) => Number(e.seq));

  beforeAll(async () => {
    recorded = [];
    for await (const b of store.events(ID)) recorded.push(...Array.from({ length: Math.ceil(b.numRows / 7) }, (_, i) => b.slice(i * 7, i * 7 + 7)));
  });

  it('gives back every row pushed, from any row, whether kept or written out', async () => {
    const total = recorded.reduce((n, b) => n + b.numRows, 0);
    for (const budget of [1, 4096, 1 << 30]) {
      const ev = new RunEvents(budget);
      for (const b of recorded) ev.push(b);
      expect(ev.rows).toBe(total);
      expect(ev.spilled).toBe(budget < 1 << 30);
      expect(await seqs(ev.toArray())).toEqual([...Array(total).keys()]);
      expect(await seqs(ev.batches(100))).toEqual([...Array(total).keys()].slice(100));
      ev.dispose();
    }
  });

  it('truncates into what was written out, then goes on from there', async () => {
    const ev = new RunEvents(2048);
    for (const b of recorded.slice(0, 30)) ev.push(b);
    const keep = 45;
    ev.truncate(keep);
    expect(ev.rows).toBe(keep);
    expect(await seqs(ev.batches())).toEqual([...Array(keep).keys()]);
    // Served again after a checkpoint: the rows from `keep` on are pushed anew.
    const all = await rows(recorded);
    let at = 0;
    for (const b of recorded) {
      if (at + b.numRows > keep) ev.push(at >= keep ? b : b.slice(keep - at));
      at += b.numRows;
    }
    expect(await seqs(ev.toArray())).toEqual(all.map((e) => Number(e.seq)));
    ev.dispose();
  });
});
