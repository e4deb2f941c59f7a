// Two processes, one store: a notebook kernel keeps the store open while `replaybook record` in a
// terminal stores an incident. Nothing fails because the directory is locked, and no incident is
// lost or stored twice.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError, openStore, spoolDir } from '../src/store';
import { eventBatch, incidentInfo, syntheticEvents } from './helpers/store-fixtures';

const HOLDER = path.join(__dirname, 'helpers', 'store-holder.js');

/** The store-holder helper as a process we talk to line by line. */
class Holder {
  private readonly lines: AsyncIterator<string>;
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static async start(home: string, mode: '--keep-open' | '--raw'): Promise<Holder> {
    // A short wait: if this test's process wrongly kept the directory, the holder fails quickly.
    const env = { ...process.env, HOLDER_LOCK_WAIT_MS: '2000' };
    const child = spawn(process.execPath, [HOLDER, home, mode], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const holder = new Holder(child);
    const first = await holder.next().catch((err) => {
      throw new Error(`store holder did not start: ${err.message}\n${stderr}`);
    });
    if (!first.ready) throw new Error(`store holder could not open the store: ${JSON.stringify(first)}\n${stderr}`);
    return holder;
  }

  async next(): Promise<Record<string, unknown>> {
    for (;;) {
      const { value, done } = await this.lines.next();
      if (done) throw new Error('store holder exited');
      const msg = JSON.parse(value) as Record<string, unknown>;
      if (!('warning' in msg)) return msg;
    }
  }

  async ask(command: string): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${command}\n`);
    return this.next();
  }
}

const children: Holder[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const h of children.splice(0)) h.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempHome(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-lock-'));
  dirs.push(dir);
  return dir;
}

/** What the holder reports for a run of events: row count and a digest of seq, time and bytes. */
function digestOf(rows: ReturnType<typeof syntheticEvents>): { rows: number; digest: string } {
  const hash = createHash('sha256');
  for (const r of rows) hash.update(`${r.seq}:${r.enter_ns}:`).update(r.data_in).update(r.data_out);
  return { rows: rows.length, digest: hash.digest('hex') };
}

function spoolEntries(home: string): string[] {
  try {
    return fs.readdirSync(spoolDir(home));
  } catch {
    return [];
  }
}

describe('a store shared by a notebook kernel and a recorder', () => {
  it('spools a recording while another process keeps the store open, and that process sees it next', async () => {
    const home = tempHome();
    const store = await openStore(home);
    // Per-operation opening: once this returns, the directory is free for the holder below.
    expect(await store.incidents()).toEqual([]);

    const kernel = await Holder.start(home, '--keep-open');
    children.push(kernel);
    expect(await kernel.ask('incidents')).toEqual({ ids: [] });

    const rows = syntheticEvents('while-held', 300, 21);
    const info = incidentInfo('while-held', { event_count: rows.length });
    const outcome = await store.putIncident(info, [eventBatch(rows.slice(0, 100)), eventBatch(rows.slice(100))], new Map());
    expect(outcome).toBe('spooled');
    expect(spoolEntries(home)).toHaveLength(1);

    // A read here cannot wait the holder out: it keeps the store open. It says so, and who.
    const err = await store.incidents().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('locked');
    expect((err as StoreError).message).toContain(home);
    expect((err as StoreError).message).toContain(`process ${kernel.child.pid}`);

    // The holder's next operation ingests the spool.
    expect(await kernel.ask('incidents')).toEqual({ ids: ['while-held'] });
    expect(await kernel.ask('events while-held')).toEqual(digestOf(rows));
    expect(spoolEntries(home)).toEqual([]);

    expect(await kernel.ask('exit')).toEqual({ exited: true });
    expect(await kernel.exited).toBe(0);

    // A fresh open after the holder is gone: the incident, once, with its rows once.
    const fresh = await openStore(home);
    const listed = await fresh.incidents();
    expect(listed.map((i) => i.incident_id)).toEqual(['while-held']);
    expect(listed[0].started_at_ns).toBe(info.started_at_ns);
    const table = await fresh.eventsTable('while-held');
    expect(table.numRows).toBe(300);
    expect(new Set(Array.from(table.getChild('seq')!, String)).size).toBe(300);
    await fresh.close();
    await store.close();
  });

  it('has a read wait for another process\'s short operation, and ingests what was spooled meanwhile', async () => {
    const home = tempHome();
    const store = await openStore(home);
    await store.incidents(); // creates the store

    // Another process holds the bare directory, as a replaybook operation in progress does.
    const other = await Holder.start(home, '--raw');
    children.push(other);

    const rows = syntheticEvents('during-op', 20, 4);
    expect(await store.putIncident(incidentInfo('during-op'), [eventBatch(rows)], new Map())).toBe('spooled');

    // The read starts while the directory is held; the holder lets go a moment later.
    const read = store.incidents();
    const released = new Promise((resolve) => setTimeout(resolve, 1500)).then(() => other.ask('release'));
    const listed = await read;
    expect(await released).toEqual({ released: true });
    expect(listed.map((i) => i.incident_id)).toEqual(['during-op']);
    expect((await store.eventsTable('during-op')).numRows).toBe(20);
    expect(spoolEntries(home)).toEqual([]);
    await store.close();
  });

  it('releases the store when a reader stops iterating events early', async () => {
    const home = tempHome();
    const store = await openStore(home);
    const rows = syntheticEvents('early-exit', 30, 8);
    const batches = [eventBatch(rows.slice(0, 10)), eventBatch(rows.slice(10))];
    expect(await store.putIncident(incidentInfo('early-exit'), batches, new Map())).toBe('stored');
    for await (const batch of store.events('early-exit')) {
      expect(batch.numRows).toBeGreaterThan(0);
      break;
    }
    // Another process can now take the directory for good.
    const kernel = await Holder.start(home, '--keep-open');
    children.push(kernel);
    expect(await kernel.ask('incidents')).toEqual({ ids: ['early-exit'] });
    await store.close();
  });

  it('gets the store back when the process holding it is killed', async () => {
    const home = tempHome();
    const kernel = await Holder.start(home, '--keep-open');
    children.push(kernel);
    const store = await openStore(home);
    expect(await store.putIncident(incidentInfo('before-kill'), [eventBatch(syntheticEvents('before-kill', 5))], new Map())).toBe('spooled');

    kernel.child.kill('SIGKILL');
    await kernel.exited;

    // The kernel drops a dead process's lock; the holder marker it left is ignored.
    expect((await store.incidents()).map((i) => i.incident_id)).toEqual(['before-kill']);
    expect(await store.putIncident(incidentInfo('after-kill'), [], new Map())).toBe('stored');
    await store.close();
  });
});
