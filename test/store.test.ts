// The store on a real chDB directory: what goes in comes out byte for byte, incidents can be
// found by service, outcome and time, runs and blobs are kept, and the spool survives crashes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Session, drainPending } from 'chdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSchema, RECORDING_RUN } from '../src/events/schema';
import { ChdbStore, SCHEMA_VERSION, StoreError, blobCachePath, chdbDataDir, openStore, spoolDir, storeHome } from '../src/store';
import { createStore } from '../src/store/sql';
import { PendingEntry } from '../src/store/spool';
import {
  BIG_NS,
  eventBatch,
  incidentInfo,
  prng,
  randomBytes,
  rowsOf,
  runInfo,
  syntheticEvents,
} from './helpers/store-fixtures';

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('where the store lives', () => {
  const saved = { home: process.env.REPLAYBOOK_HOME, xdg: process.env.XDG_DATA_HOME };
  const restore = () => {
    if (saved.home === undefined) delete process.env.REPLAYBOOK_HOME;
    else process.env.REPLAYBOOK_HOME = saved.home;
    if (saved.xdg === undefined) delete process.env.XDG_DATA_HOME;
    else process.env.XDG_DATA_HOME = saved.xdg;
  };

  it('prefers REPLAYBOOK_HOME, then the nearest .replaybook/, then the XDG data directory', () => {
    try {
      const root = tempDir('rb-loc-');
      const nested = path.join(root, 'project', 'notebooks', 'deep');
      fs.mkdirSync(nested, { recursive: true });
      fs.mkdirSync(path.join(root, 'project', '.replaybook'));
      delete process.env.REPLAYBOOK_HOME;

      expect(storeHome(nested)).toBe(path.join(root, 'project', '.replaybook'));

      process.env.XDG_DATA_HOME = path.join(root, 'xdg');
      expect(storeHome(root)).toBe(path.join(root, 'xdg', 'replaybook'));
      process.env.XDG_DATA_HOME = 'relative/ignored';
      expect(storeHome(root)).toBe(path.join(os.homedir(), '.local', 'share', 'replaybook'));

      process.env.REPLAYBOOK_HOME = path.join(root, 'explicit');
      expect(storeHome(nested)).toBe(path.join(root, 'explicit'));
    } finally {
      restore();
    }
  });

  it('keeps blobs in a content-addressed cache under the home', () => {
    const sha = 'ab'.padEnd(64, '0');
    expect(blobCachePath('/h', sha)).toBe(`/h/blobs/ab/${sha}`);
    expect(() => blobCachePath('/h', '../etc/passwd')).toThrow(/not a sha256/);
  });
});

describe('the embedded store', () => {
  let home: string;
  let store: ChdbStore;
  const warnings: StoreError[] = [];

  beforeAll(async () => {
    home = tempDir('rb-store-');
    store = await openStore(home, { onWarning: (w) => warnings.push(w) });
  });

  afterAll(async () => {
    await store.close();
  });

  it('keeps the bytes of data_in/data_out and 64-bit integers exactly', async () => {
    const rows = syntheticEvents('bytes', 1000, 7);
    // The fixture must really contain what a text path would break.
    const all = rows.flatMap((r) => [r.data_in, r.data_out]);
    expect(all.some((b) => b.length === 0)).toBe(true);
    expect(all.some((b) => b.includes(0))).toBe(true);
    expect(all.some((b) => !isValidUtf8(b))).toBe(true);

    const batches = [eventBatch(rows.slice(0, 1)), eventBatch(rows.slice(1, 600)), eventBatch(rows.slice(600))];
    const info = incidentInfo('bytes', { event_count: rows.length });
    expect(await store.putIncident(info, batches, new Map())).toBe('stored');

    const streamed: ReturnType<typeof rowsOf> = [];
    for await (const batch of store.events('bytes')) streamed.push(...rowsOf([batch]));
    expect(streamed).toEqual(rows);
    expect(streamed[999].enter_ns).toBe(BIG_NS + 999n * 1_001n);
    expect(streamed[3].args[1]).toBe(2n ** 64n - 1n);
    expect(streamed[0].ret).toBe(-110n);

    const table = await store.eventsTable('bytes');
    expect(table.numRows).toBe(1000);
    expect(rowsOf(table.batches)).toEqual(rows);
  });

  it('lists, finds and filters incidents, and streams their events in seq order', async () => {
    const t0 = 1_760_000_000_000_000_000n;
    const s = 1_000_000_000n;
    const infos = [
      incidentInfo('pay-timeout', { service: 'payment-client', exit_code: 1, started_at_ns: t0 }),
      incidentInfo('pay-ok', { service: 'payment-client', exit_code: 0, started_at_ns: t0 + 60n * s }),
      incidentInfo('cfg-killed', {
        service: 'config-reader',
        exit_code: null,
        exit_signal: 'SIGKILL',
        started_at_ns: t0 + 120n * s,
      }),
    ];
    for (const info of infos) {
      const rows = syntheticEvents(info.incident_id, 50, 3);
      // Out of order on purpose: the store, not the writer, owns the order.
      const shuffled = [...rows].reverse();
      const batches = [eventBatch(shuffled.slice(0, 20)), eventBatch(shuffled.slice(20))];
      expect(await store.putIncident({ ...info, event_count: rows.length }, batches, new Map())).toBe('stored');
    }

    const ids = async (filter?: Parameters<ChdbStore['incidents']>[0]) =>
      (await store.incidents(filter)).map((i) => i.incident_id).filter((id) => id !== 'bytes');
    expect(await ids()).toEqual(['cfg-killed', 'pay-ok', 'pay-timeout']);
    expect(await ids({ service: 'payment-client' })).toEqual(['pay-ok', 'pay-timeout']);
    expect(await ids({ failed: true })).toEqual(['cfg-killed', 'pay-timeout']);
    expect(await ids({ failed: false })).toEqual(['pay-ok']);
    const since = new Date(Number((t0 + 60n * s) / 1_000_000n));
    expect(await ids({ since })).toEqual(['cfg-killed', 'pay-ok']);
    expect(await ids({ service: 'payment-client', failed: true, since })).toEqual([]);

    const found = await store.incident('cfg-killed');
    expect(found).toEqual({ ...infos[2], event_count: 50, state: 'complete', state_reason: '' });
    expect(found?.started_at_ns).toBe(t0 + 120n * s);
    expect(await store.incident('no-such-incident')).toBeNull();
    expect(await store.incident("it's'; DROP TABLE incidents; --")).toBeNull();

    const seqs: bigint[] = [];
    for await (const batch of store.events('pay-ok')) {
      expect(batch.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(
        eventSchema.fields.map((f) => `${f.name}:${f.type}`),
      );
      for (let i = 0; i < batch.numRows; i++) seqs.push(batch.get(i)!.seq as bigint);
    }
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i)));

    const table = await store.eventsTable('pay-timeout');
    expect(table.numRows).toBe(50);
    expect(table.getChild('incident_id')!.get(0)).toBe('pay-timeout');

    await expect(collect(store.events('no-such-incident'))).rejects.toMatchObject({ code: 'not-found' });
  });

  it('refuses a second incident with the same id', async () => {
    const rows = syntheticEvents('dup', 5);
    expect(await store.putIncident(incidentInfo('dup'), [eventBatch(rows)], new Map())).toBe('stored');
    const again = store.putIncident(incidentInfo('dup'), [eventBatch(rows)], new Map());
    await expect(again).rejects.toBeInstanceOf(StoreError);
    await expect(again).rejects.toMatchObject({ code: 'exists' });
    expect((await store.eventsTable('dup')).numRows).toBe(5);
    expect(fs.readdirSync(spoolDir(home)).filter((n) => !n.startsWith('tmp-'))).toEqual([]);
  });

  it('answers parameterised SQL as an Arrow table with text as text and bytes as bytes', async () => {
    const table = await store.query(
      `SELECT name, count() AS n, any(data_in) AS data_in FROM events
       WHERE incident_id = {id:String} GROUP BY name ORDER BY name`,
      { id: 'pay-ok' },
    );
    expect(table.getChild('name')!.toArray()).toEqual(['read', 'write']);
    expect(table.getChild('n')!.toArray()).toEqual(new BigUint64Array([25n, 25n]));
    expect(table.getChild('data_in')!.get(0)).toBeInstanceOf(Uint8Array);

    const empty = await store.query(`SELECT incident_id FROM incidents WHERE incident_id = {id:String}`, { id: 'none' });
    expect(empty.numRows).toBe(0);
    expect(empty.schema.fields.map((f) => f.name)).toEqual(['incident_id']);

    await store.command(`ALTER TABLE runs DELETE WHERE incident_id = {id:String}`, { id: 'none' });
    await expect(store.query('SELECT nope FROM incidents')).rejects.toMatchObject({ code: 'query-failed' });
  });

  it('keeps replay runs with their events and output bytes', async () => {
    const runA = runInfo('pay-timeout', 'run-a', { started_at_ns: 1n, stdout: new Uint8Array([0, 1, 0xff, 0xc3]) });
    const runB = runInfo('pay-timeout', 'run-b', { started_at_ns: 2n, exit_code: null, exit_signal: 'SIGSEGV' });
    const eventsA = syntheticEvents('pay-timeout', 30, 11, 'run-a');
    expect(await store.putRun({ ...runA, event_count: 30 }, [eventBatch(eventsA)])).toBe('stored');
    expect(await store.putRun(runB, [])).toBe('stored');

    const runs = await store.runs('pay-timeout');
    expect(runs).toEqual([{ ...runA, event_count: 30 }, runB]);
    expect(await store.runs('no-such-incident')).toEqual([]);

    expect(rowsOf((await store.eventsTable('pay-timeout', 'run-a')).batches)).toEqual(eventsA);
    expect((await store.eventsTable('pay-timeout', 'run-b')).numRows).toBe(0);
    // The recording's own events are untouched by its runs.
    expect((await store.eventsTable('pay-timeout')).numRows).toBe(50);

    await expect(store.putRun(runInfo('pay-timeout', RECORDING_RUN), [])).rejects.toMatchObject({ code: 'invalid' });
    await expect(store.putRun(runA, [])).rejects.toMatchObject({ code: 'exists' });
    await expect(collect(store.events('pay-timeout', 'no-such-run'))).rejects.toMatchObject({ code: 'not-found' });
  });

  it('stores blobs once, by sha256, and gives back identical bytes', async () => {
    const dir = tempDir('rb-blobs-');
    const next = prng(99);
    const content = randomBytes(next, 300_000);
    content[0] = 0;
    const file = path.join(dir, 'libfake.so');
    fs.writeFileSync(file, content);
    const sha = sha256(content);
    const emptyFile = path.join(dir, 'empty');
    fs.writeFileSync(emptyFile, '');
    const emptySha = sha256(new Uint8Array(0));

    const blobs = new Map([
      [sha, file],
      [emptySha, emptyFile],
    ]);
    const info = incidentInfo('with-blobs', { files: { '/lib/libfake.so': sha, '/etc/empty': emptySha } });
    expect(await store.putIncident(info, [], blobs)).toBe('stored');
    expect(await store.putIncident(incidentInfo('with-blobs-2'), [], blobs)).toBe('stored');

    const count = await store.query('SELECT count() AS n FROM blobs WHERE sha256 = {sha:String}', { sha });
    expect(count.getChild('n')!.get(0)).toBe(1n);

    const out = path.join(dir, 'out.so');
    await store.readBlob(sha, out);
    expect(sha256(fs.readFileSync(out))).toBe(sha);
    expect(Buffer.compare(fs.readFileSync(out), Buffer.from(content))).toBe(0);
    await store.readBlob(emptySha, path.join(dir, 'out-empty'));
    expect(fs.readFileSync(path.join(dir, 'out-empty')).length).toBe(0);

    const cached = await store.blobFile(sha);
    expect(cached).toBe(blobCachePath(home, sha));
    expect(sha256(fs.readFileSync(cached))).toBe(sha);

    await expect(store.readBlob('0'.repeat(64), path.join(dir, 'x'))).rejects.toMatchObject({ code: 'blob-missing' });

    // A file that is not what its sha256 says is refused, and nothing is left behind.
    const lying = new Map([['1'.repeat(64), file]]);
    await expect(store.putIncident(incidentInfo('lying'), [], lying)).rejects.toMatchObject({ code: 'invalid' });
    expect(await store.incident('lying')).toBeNull();
    expect(fs.readdirSync(spoolDir(home))).toEqual([]);
  });

  it('refuses events that do not follow the event schema, before writing anything', async () => {
    const { Table, vectorFromArray, Utf8 } = await import('apache-arrow');
    const wrong = new Table({ seq: vectorFromArray(['not a number'], new Utf8()) }).batches;
    await expect(store.putIncident(incidentInfo('wrong'), wrong, new Map())).rejects.toMatchObject({ code: 'invalid' });
    expect(await store.incident('wrong')).toBeNull();
    expect(fs.readdirSync(spoolDir(home))).toEqual([]);
  });

  it('ingests a spooled recording exactly once, even after an ingestion was interrupted', async () => {
    // Interrupted mid-events: some rows of the recording are in, its incident row is not.
    const rows = syntheticEvents('interrupted', 40, 5);
    const entry = (await PendingEntry.create(home, [eventBatch(rows)])).commit('incident', incidentInfo('interrupted'), []);
    const staged = await withRawSession(home, (s) => {
      s.queryBind(`INSERT INTO events SELECT * FROM file({p:String}, 'ArrowStream') LIMIT 7`, {
        p: path.join(entry.dir, 'events.arrows'),
      });
      return s.query(`SELECT count() FROM events WHERE incident_id = 'interrupted'`).trim();
    });
    expect(staged).toBe('7');
    expect(await store.incident('interrupted')).not.toBeNull();
    expect(rowsOf((await store.eventsTable('interrupted')).batches)).toEqual(rows);

    // Interrupted after the commit, before the entry was removed: the same entry comes back.
    const rows2 = syntheticEvents('committed', 12, 6);
    const entry2 = (await PendingEntry.create(home, [eventBatch(rows2)])).commit('incident', incidentInfo('committed'), []);
    const copy = path.join(tempDir('rb-copy-'), 'entry');
    fs.cpSync(entry2.dir, copy, { recursive: true });
    expect((await store.eventsTable('committed')).numRows).toBe(12);
    fs.cpSync(copy, entry2.dir, { recursive: true });
    expect((await store.incidents()).filter((i) => i.incident_id === 'committed')).toHaveLength(1);
    expect((await store.eventsTable('committed')).numRows).toBe(12);
    expect(fs.readdirSync(spoolDir(home))).toEqual([]);
  });

  it('sets aside unreadable and conflicting spool entries without failing the reader', async () => {
    warnings.length = 0;
    const broken = path.join(spoolDir(home), '00000000000001-incident-1-broken');
    fs.mkdirSync(broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'info.json'), '{"format":1, truncated');

    // A spooled recording whose id was taken by the time it is ingested.
    const clash = (await PendingEntry.create(home, [eventBatch(syntheticEvents('dup', 3))])).commit(
      'incident',
      incidentInfo('dup', { service: 'other' }),
      [],
    );

    const all = await store.incidents();
    expect(all.filter((i) => i.incident_id === 'dup')).toHaveLength(1);
    expect((await store.incident('dup'))?.service).toBe('payment-client');
    expect((await store.eventsTable('dup')).numRows).toBe(5);

    expect(warnings.map((w) => w.code).sort()).toEqual(['corrupt-spool', 'exists']);
    expect(warnings.find((w) => w.code === 'corrupt-spool')!.message).toContain(broken);
    expect(fs.existsSync(path.join(spoolDir(home), 'corrupt', path.basename(broken), 'info.json'))).toBe(true);
    expect(fs.existsSync(path.join(spoolDir(home), 'conflicts', clash.id, 'events.arrows'))).toBe(true);
    expect(fs.readdirSync(spoolDir(home)).sort()).toEqual(['conflicts', 'corrupt']);
  });
});

describe('schema migration', () => {
  it('brings a store written with schema 1 (runs without labels) to the current schema, keeping its runs', async () => {
    const home = tempDir('rb-schema1-');
    // The store as replaybook's schema 1 wrote it: no runs.label, version row 1.
    const v1 = createStore().map((st) => st.replace("    label String DEFAULT '',\n", '').replace(`'schema_version', '${SCHEMA_VERSION}'`, "'schema_version', '1'"));
    expect(v1.join('\n')).not.toContain('label');
    await withRawSession(home, (s) => {
      for (const st of v1) s.query(st);
      s.query(`INSERT INTO runs (incident_id, run_id, started_at_ns, speed, seed, injections, exit_code, exit_signal,
        event_count, wall_ns, divergence, stdout, stderr, entry_id)
        VALUES ('old-inc', 'run-old', 1, '1', 0, '[]', 0, NULL, 3, 5, '', 'ok', '', 'e1')`);
    });
    const store = await openStore(home);
    try {
      const [old] = await store.runs('old-inc');
      expect(old).toMatchObject({ run_id: 'run-old', label: '', event_count: 3 });
      const labelled = runInfo('old-inc', 'run-new', { label: 'timeout 5 s' });
      await store.putRun(labelled, []);
      expect((await store.runs('old-inc')).map((r) => [r.run_id, r.label])).toEqual([
        ['run-old', ''],
        ['run-new', 'timeout 5 s'],
      ]);
      const version = await store.query(`SELECT toUInt32OrZero(max(value)) AS v FROM meta WHERE key = 'schema_version'`);
      expect(Number(version.get(0)?.v)).toBe(SCHEMA_VERSION);
    } finally {
      await store.close();
    }
  });
});

describe('schema migration to 4', () => {
  it('gives the incidents of a schema 3 store a state: complete', async () => {
    const home = tempDir('rb-schema3-');
    // The store as schema 3 wrote it: no incidents.state / state_reason, version row 3.
    const v3 = createStore().map((st) =>
      st
        .replace(",\n    state LowCardinality(String) DEFAULT 'complete',\n    state_reason String DEFAULT ''", '')
        .replace(`'schema_version', '${SCHEMA_VERSION}'`, "'schema_version', '3'"),
    );
    expect(v3.join('\n')).not.toContain('state');
    await withRawSession(home, (s) => {
      for (const st of v3) s.query(st);
      s.query(`INSERT INTO incidents (incident_id, service, argv, env, cwd, exe_path, exe_sha256, started_at_ns, exit_code,
        exit_signal, event_count, duration_ns, files, host, entry_id) VALUES ('old-inc', 'svc', [], [], '/', '/bin/true', '', 1, 0, NULL, 0, 0, map(), 'h', 'e1')`);
    });
    const store = await openStore(home);
    try {
      expect(await store.incident('old-inc')).toMatchObject({ incident_id: 'old-inc', state: 'complete', state_reason: '' });
      const version = await store.query(`SELECT toUInt32OrZero(max(value)) AS v FROM meta WHERE key = 'schema_version'`);
      expect(Number(version.get(0)?.v)).toBe(SCHEMA_VERSION);
    } finally {
      await store.close();
    }
  });
});

describe('store errors', () => {
  it('says which store is newer than this replaybook', async () => {
    const home = tempDir('rb-newer-');
    const store = await openStore(home);
    await store.incidents();
    await store.close();
    await withRawSession(home, (s) => s.query(`INSERT INTO meta VALUES ('schema_version', '999')`));
    // The schema check is cached per process once passed; a fresh directory path forces it again.
    const moved = tempDir('rb-newer-moved-');
    fs.renameSync(path.join(home, 'chdb'), path.join(moved, 'chdb'));
    const again = await openStore(moved);
    const err = await again.incidents().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('newer-schema');
    expect((err as StoreError).message).toContain(moved);
    await again.close();
  });

  it('keeps a recording when the store cannot be opened at all, and says why', async () => {
    const home = tempDir('rb-unreadable-');
    fs.writeFileSync(chdbDataDir(home), 'not a directory');
    const store = await openStore(home);

    const put = await store.putIncident(incidentInfo('kept'), [eventBatch(syntheticEvents('kept', 3))], new Map()).catch((e: unknown) => e);
    expect(put).toBeInstanceOf(StoreError);
    expect((put as StoreError).code).toBe('unreadable');
    expect((put as StoreError).message).toContain(chdbDataDir(home));
    expect(fs.readdirSync(spoolDir(home))).toHaveLength(1);

    await expect(store.incidents()).rejects.toMatchObject({ code: 'unreadable' });

    // Once the directory is usable again, the kept recording arrives.
    fs.rmSync(chdbDataDir(home));
    expect((await store.eventsTable('kept')).numRows).toBe(3);
    expect(fs.readdirSync(spoolDir(home))).toEqual([]);
  });

  it('refuses a closed store', async () => {
    const store = await openStore(tempDir('rb-closed-'));
    await store.close();
    await expect(store.incidents()).rejects.toMatchObject({ code: 'invalid' });
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A bare chDB session on the store's directory, for staging states the store API never makes. */
async function withRawSession<T>(home: string, fn: (s: Session) => T): Promise<T> {
  await drainPending();
  const session = new Session(chdbDataDir(home));
  try {
    return fn(session);
  } finally {
    session.close();
    await drainPending();
  }
}

function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
