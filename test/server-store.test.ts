// The ClickHouse server store through @clickhouse/client, against the test endpoint that speaks
// ClickHouse's HTTP interface and runs every statement in chDB's engine
// (helpers/clickhouse-http.js): the same data as the embedded store byte for byte, the errors a
// real server produces, half-finished inserts that never show, and push/pull between the two.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSchema } from '../src/events/schema';
import { ChdbStore, ServerStore, StoreError, openServerStore, openStore, serverTarget } from '../src/store';
import { copyIncident } from '../src/store/copy';
import { findException } from '../src/store/ipc-frames';
import * as sql from '../src/store/sql';
import type { EventStore } from '../src/store/types';
import { freePort, startEndpoint, type Endpoint } from './helpers/clickhouse-endpoint';
import { eventBatch, incidentInfo, rowsOf, runInfo, syntheticEvents } from './helpers/store-fixtures';

const USER = 'analyst';
const PASSWORD = 'p@ss:w/rd pa$$';

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

let endpoint: Endpoint;
let server: ServerStore;
let embedded: ChdbStore;
let cache: string;

function serverUrl(database = 'replaybook_test', user = USER, password = PASSWORD): string {
  return `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${endpoint.port}/${database}`;
}

beforeAll(async () => {
  endpoint = await startEndpoint({ user: USER, password: PASSWORD });
  cache = tempDir('rb-server-cache-');
  server = await openServerStore({ url: serverUrl(), blobCacheHome: cache });
  embedded = await openStore(tempDir('rb-server-embedded-'));
});

afterAll(async () => {
  await server?.close();
  await embedded?.close();
  await endpoint?.stop();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function collect(events: AsyncIterable<import('apache-arrow').RecordBatch>) {
  const batches = [];
  for await (const b of events) batches.push(b);
  return batches;
}

async function rejection(p: Promise<unknown>): Promise<StoreError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

/** A digest of every cell of every event, in order: equal digests mean equal bytes. */
function digest(batches: import('apache-arrow').RecordBatch[]): string {
  const hash = createHash('sha256');
  for (const row of rowsOf(batches)) {
    hash.update(JSON.stringify({ ...row, data_in: undefined, data_out: undefined }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    hash.update(row.data_in).update(row.data_out);
  }
  return hash.digest('hex');
}

describe('connecting to a server', () => {
  it('checks the server, creates the store once, and names it without credentials', async () => {
    expect(server.location).toBe(`http://127.0.0.1:${endpoint.port}/replaybook_test`);
    // A second store on the same database finds the schema there and creates nothing again.
    const again = await openServerStore({ url: serverUrl(), blobCacheHome: cache });
    const meta = await again.query(`SELECT key, value FROM meta ORDER BY key`);
    expect(meta.toArray().map((r) => [r.key, r.value])).toEqual([['schema_version', String(sql.SCHEMA_VERSION)]]);
    const tables = await again.query(`SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name`, { db: 'replaybook_test' });
    expect(tables.toArray().map((r) => r.name)).toEqual(['blobs', 'events', 'incidents', 'meta', 'runs']);
    await again.close();
  });

  it('takes credentials from the URL or the environment, and never prints them', () => {
    const fromUrl = serverTarget({ url: 'http://u%40x:s%3Acret@db.example:8123/prod?ttl_days=30', env: {} });
    expect(fromUrl).toMatchObject({ user: 'u@x', password: 's:cret', database: 'prod', location: 'http://db.example:8123/prod', layout: { ttlDays: 30 } });
    const fromEnv = serverTarget({
      url: 'http://db.example:8123',
      env: { REPLAYBOOK_CLICKHOUSE_USER: 'svc', REPLAYBOOK_CLICKHOUSE_PASSWORD: 'hunter2' },
    });
    expect(fromEnv).toMatchObject({ user: 'svc', password: 'hunter2', database: 'replaybook', location: 'http://db.example:8123/replaybook' });
    const bad = (() => {
      try {
        serverTarget({ url: 'http://u:topsecret@db.example:8123/prod?shards=3' });
      } catch (e) {
        return e as StoreError;
      }
      return null;
    })();
    expect(bad?.message).toContain("Unknown option 'shards'");
    expect(bad?.message).not.toContain('topsecret');
  });

  it('names the error of a statement the server rejects before answering', async () => {
    const err = await rejection(server.query(`SELECT no_such_column FROM events`));
    expect(err.code).toBe('query-failed');
    expect(err.message).toMatch(/rejected a query: .*no_such_column.*UNKNOWN_IDENTIFIER/);
  });

  it('says clearly when the credentials are wrong, the server is not there, or the database name is bad', async () => {
    const auth = await rejection(openServerStore({ url: serverUrl('replaybook_test', USER, 'wrong-secret'), blobCacheHome: cache }));
    expect(auth.code).toBe('auth-failed');
    expect(auth.message).toContain(`refused user '${USER}'`);
    expect(auth.message).not.toContain('wrong-secret');

    const port = await freePort();
    const refused = await rejection(openServerStore({ url: `http://127.0.0.1:${port}/x`, blobCacheHome: cache }));
    expect(refused.code).toBe('unreachable');
    expect(refused.message).toContain(`Cannot reach the ClickHouse server at http://127.0.0.1:${port}/x (connection refused)`);

    const name = await rejection(openServerStore({ url: `http://127.0.0.1:${endpoint.port}/bad%60name`, blobCacheHome: cache }));
    expect(name.code).toBe('invalid');
  });
});

describe('the server store holds what the embedded store holds', () => {
  const rows = syntheticEvents('same-bytes', 3000, 11);
  const batches = [eventBatch(rows.slice(0, 1)), eventBatch(rows.slice(1, 1700)), eventBatch(rows.slice(1700))];
  const info = incidentInfo('same-bytes', { event_count: rows.length, exe_sha256: '', files: {} });

  beforeAll(async () => {
    expect(await server.putIncident(info, batches, new Map())).toBe('stored');
    expect(await embedded.putIncident(info, batches, new Map())).toBe('stored');
  });

  it('streams the events back byte for byte, as the embedded store does', async () => {
    const fromServer = await collect(server.events('same-bytes'));
    const fromEmbedded = await collect(embedded.events('same-bytes'));
    expect(fromServer.every((b) => b.schema.fields.every((f, i) => f.name === eventSchema.fields[i].name && String(f.type) === String(eventSchema.fields[i].type)))).toBe(true);
    expect(rowsOf(fromServer)).toEqual(rows);
    expect(digest(fromServer)).toBe(digest(fromEmbedded));
    const table = await server.eventsTable('same-bytes');
    expect(table.numRows).toBe(3000);
    expect(digest(table.batches)).toBe(digest(fromEmbedded));
  });

  it('finds and filters incidents the same way', async () => {
    const t0 = 1_770_000_000_000_000_000n;
    for (const store of [server, embedded] as EventStore[]) {
      await store.putIncident(incidentInfo('f-ok', { service: 'svc-f', exit_code: 0, started_at_ns: t0, exe_sha256: '', files: {} }), [], new Map());
      await store.putIncident(incidentInfo('f-bad', { service: 'svc-f', exit_code: 2, started_at_ns: t0 + 5n, exe_sha256: '', files: {} }), [], new Map());
    }
    for (const filter of [{ service: 'svc-f' }, { service: 'svc-f', failed: true }, { since: new Date(Number(t0 / 1_000_000n)) }]) {
      expect(await server.incidents(filter)).toEqual(await embedded.incidents(filter));
    }
    expect((await server.incidents({ service: 'svc-f' })).map((i) => i.incident_id)).toEqual(['f-bad', 'f-ok']);
    expect(await server.incident('same-bytes')).toEqual(await embedded.incident('same-bytes'));
    expect(await server.incident('nope')).toBeNull();
    const missing = await rejection(collect(server.events('nope')));
    expect(missing.code).toBe('not-found');
  });

  it('keeps replay runs with their events and output bytes', async () => {
    const runRows = syntheticEvents('same-bytes', 40, 5, 'run-1');
    const run = runInfo('same-bytes', 'run-1', { event_count: 40 });
    for (const store of [server, embedded] as EventStore[]) expect(await store.putRun(run, [eventBatch(runRows)])).not.toBe('spooled');
    expect(await server.runs('same-bytes')).toEqual(await embedded.runs('same-bytes'));
    expect((await server.runs('same-bytes'))[0].stdout).toEqual(new Uint8Array([0x6f, 0x6b, 0x00, 0xff, 0x0a]));
    expect(rowsOf(await collect(server.events('same-bytes', 'run-1')))).toEqual(runRows);
    const again = await rejection(server.putRun(run, []));
    expect(again.code).toBe('exists');
  });

  it('stores blobs once, fetches them to a local file with identical bytes', async () => {
    const dir = tempDir('rb-server-blobs-');
    const files = { bin: crypto(4 << 20, 3), empty: new Uint8Array(0), text: Buffer.from('key=value\n\0\xff') };
    const blobs = new Map<string, string>();
    for (const [name, bytes] of Object.entries(files)) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, bytes);
      blobs.set(sha(bytes), file);
    }
    const shas = [...blobs.keys()];
    await server.putIncident(incidentInfo('with-blobs', { exe_sha256: shas[0], files: { '/bin/x': shas[0], '/etc/e': shas[1], '/etc/t': shas[2] } }), [], blobs);
    for (const [name, bytes] of Object.entries(files)) {
      const local = await server.blobFile(sha(bytes));
      expect(local.startsWith(cache)).toBe(true);
      expect(fs.readFileSync(local).equals(Buffer.from(bytes))).toBe(true);
      const dest = path.join(dir, `${name}.copy`);
      await server.readBlob(sha(bytes), dest);
      expect(sha(fs.readFileSync(dest))).toBe(sha(bytes));
    }
    const count = await server.query(`SELECT count() AS n FROM blobs WHERE has(splitByChar(',', {shas:String}), sha256)`, { shas: shas.join(',') });
    expect(Number(count.getChild('n')!.get(0))).toBe(3);
    const missing = await rejection(server.blobFile('0'.repeat(64)));
    expect(missing.code).toBe('blob-missing');
    const changed = path.join(dir, 'changed');
    fs.writeFileSync(changed, 'not what was hashed');
    const wrong = await rejection(server.putIncident(incidentInfo('bad-blob', { exe_sha256: '1'.repeat(64), files: {} }), [], new Map([['1'.repeat(64), changed]])));
    expect(wrong.message).toContain('changed after it was hashed');
  });

  it('answers parameterised SQL as Arrow, bytes as Binary and text as Utf8', async () => {
    const t = await server.query(
      `SELECT name, count() AS n, any(data_in) AS data_in FROM events WHERE incident_id = {id:String} AND run_id = 'recording' AND seq < {below:UInt64} GROUP BY name ORDER BY name`,
      { id: 'same-bytes', below: 100n },
    );
    expect(t.toArray().map((r) => [r.name, Number(r.n)])).toEqual([['read', 50], ['write', 50]]);
    expect(t.schema.fields.find((f) => f.name === 'data_in')!.type.toString()).toBe('Binary');
    expect(t.schema.fields.find((f) => f.name === 'name')!.type.toString()).toBe('Utf8');
  });
});

describe('errors a server really produces', () => {
  const rows = syntheticEvents('big', 200_000, 2);
  beforeAll(async () => {
    const batches = [];
    for (let i = 0; i < rows.length; i += 50_000) batches.push(eventBatch(rows.slice(i, i + 50_000)));
    await server.putIncident(incidentInfo('big', { event_count: rows.length, exe_sha256: '', files: {} }), batches, new Map());
  });

  for (const format of ['plain', 'block', 'tagged'] as const) {
    it(`turns an exception written into a 200 body (${format}) into an error, never fewer rows`, async () => {
      await endpoint.exceptionFormat(format);
      try {
        await endpoint.fault({ match: 'FROM events', kind: 'exception', afterBytes: 300_000, message: 'Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)' });
        let seen = 0;
        const err = await rejection(
          (async () => {
            for await (const b of server.events('big')) seen += b.numRows;
          })(),
        );
        expect(err.code).toBe('query-failed');
        expect(err.message).toContain('after it had started answering: Code: 241. DB::Exception: Memory limit (total) exceeded');
        expect(seen).toBeLessThan(rows.length);
      } finally {
        await endpoint.exceptionFormat('tagged');
      }
    });
  }

  it('reports an exception raised by the engine after the first blocks were sent', async () => {
    // One thread, small blocks: the failing block comes after the first ones were sent.
    const err = await rejection(server.query(`SELECT number, throwIf(number = 150000) AS x FROM numbers(300000) SETTINGS max_threads = 1, max_block_size = 10000`));
    expect(err.code).toBe('query-failed');
    expect(err.message).toContain('FUNCTION_THROW_IF_VALUE_IS_NON_ZERO');
    expect(err.message).toContain('after it had started answering');
  });

  it('recognises the three forms of exception text on their own', () => {
    const text = 'Code: 395. DB::Exception: boom. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 25.3.1.1)';
    const tagged = Buffer.from(`\u0000\u0001arrow\r\n__exception__\r\nabcdEFGH12345678\r\n${text}\n${text.length + 1} abcdEFGH12345678\r\n__exception__\r\n`);
    expect(findException(tagged, 'abcdEFGH12345678')).toMatchObject({ form: 'tagged', serverCode: 395, serverMessage: text });
    expect(findException(Buffer.from(`xx\n__exception__\n${text}\n`))).toMatchObject({ form: 'block', serverCode: 395, serverMessage: text });
    expect(findException(Buffer.from(`${text}\n`))).toMatchObject({ form: 'plain', serverCode: 395 });
    expect(findException(Buffer.from('just bytes'))).toBeNull();
  });

  it('reports a connection dropped in the middle of the events', async () => {
    await endpoint.fault({ match: 'FROM events', kind: 'drop', afterBytes: 500_000 });
    const err = await rejection(collect(server.events('big')));
    expect(err.code).toBe('interrupted');
    expect(err.message).toContain('was cut short');
  });

  it('gives up on a server that stops answering, with a timeout error', async () => {
    const impatient = await openServerStore({ url: serverUrl(), blobCacheHome: cache, requestTimeoutMs: 1500 });
    try {
      await endpoint.fault({ match: 'FROM incidents', kind: 'stall', afterBytes: 0 });
      const err = await rejection(impatient.incidents());
      expect(err.code).toBe('timeout');
      expect(err.message).toContain('did not answer listing incidents within 1.5 s');
    } finally {
      await impatient.close();
    }
  });

  it('never leaves a half-inserted incident visible: it removes what landed, and a retry stores it whole', async () => {
    const some = syntheticEvents('half', 30_000, 9);
    const batches = [eventBatch(some.slice(0, 10_000)), eventBatch(some.slice(10_000, 20_000)), eventBatch(some.slice(20_000))];
    const info = incidentInfo('half', { event_count: some.length, exe_sha256: '', files: {} });
    await endpoint.fault({ match: 'INSERT INTO events', kind: 'partial-insert', afterBatches: 1 });
    const err = await rejection(server.putIncident(info, batches, new Map()));
    expect(err.code).toBe('interrupted');
    expect(err.message).toContain("incident 'half' was not stored. The events already sent were removed");
    expect(await server.incident('half')).toBeNull();
    expect(Number((await server.query(`SELECT count() AS n FROM events WHERE incident_id = 'half'`)).getChild('n')!.get(0))).toBe(0);

    expect(await server.putIncident(info, batches, new Map())).toBe('stored');
    expect(rowsOf(await collect(server.events('half')))).toEqual(some);
  });

  it('replaces events an interrupted writer could not clean up when the incident is stored again', async () => {
    const some = syntheticEvents('orphan', 500, 4);
    // What a writer that died between its events and its incident row leaves behind.
    await server.command(
      `INSERT INTO events SELECT * REPLACE ('orphan' AS incident_id) FROM (SELECT * FROM events WHERE incident_id = 'same-bytes' AND run_id = 'recording' LIMIT 500)`,
    );
    expect(await server.incident('orphan')).toBeNull();
    const report = await server.collectGarbage();
    expect(report.uncommitted).toContainEqual({ incident_id: 'orphan', run_id: 'recording', events: 500 });
    expect(report.uncommittedRemoved).toBe(false);

    await server.putIncident(incidentInfo('orphan', { event_count: 500, exe_sha256: '', files: {} }), [eventBatch(some)], new Map());
    expect(rowsOf(await collect(server.events('orphan')))).toEqual(some);
  });
});

describe.each([
  ['server', () => server as EventStore],
  ['embedded', () => embedded as EventStore],
])('rm and gc on the %s store', (_name, store) => {
  it('removes an incident with its runs and events, then its blobs once nothing refers to them', async () => {
    const s = store();
    const id = `gone-${_name}`;
    const dir = tempDir('rb-rm-');
    const only = Buffer.from(`only used by ${id}\0`);
    const shared = Buffer.from('shared by two incidents');
    fs.writeFileSync(path.join(dir, 'only'), only);
    fs.writeFileSync(path.join(dir, 'shared'), shared);
    const blobs = new Map([
      [sha(only), path.join(dir, 'only')],
      [sha(shared), path.join(dir, 'shared')],
    ]);
    await s.putIncident(incidentInfo(id, { event_count: 20, exe_sha256: sha(only), files: { '/x': sha(only), '/lib': sha(shared) } }), [eventBatch(syntheticEvents(id, 20, 1))], blobs);
    await s.putIncident(incidentInfo(`${id}-keeper`, { exe_sha256: sha(shared), files: {} }), [], new Map([[sha(shared), path.join(dir, 'shared')]]));
    await s.putRun(runInfo(id, 'r1', { event_count: 3 }), [eventBatch(syntheticEvents(id, 3, 2, 'r1'))]);

    expect(await s.remove(id)).toEqual({ incident: true, runs: 1, events: 23 });
    expect(await s.incident(id)).toBeNull();
    expect(await s.runs(id)).toEqual([]);
    expect(await s.remove(id)).toBeNull();

    const report = await s.collectGarbage();
    expect(report.blobs).toContain(sha(only));
    expect(report.blobs).not.toContain(sha(shared));
    expect(report.bytes).toBeGreaterThanOrEqual(only.length);
    expect((await rejection(s.blobFile(sha(only)).then((f) => fs.readFileSync(f)))).code).toBe('blob-missing');
    expect(fs.readFileSync(await s.blobFile(sha(shared))).equals(shared)).toBe(true);
  });
});

describe('push and pull between the embedded store and a server', () => {
  it('copies an incident with its runs and blobs there and back, bytes identical', async () => {
    const dir = tempDir('rb-push-');
    const exe = crypto(300_000, 8);
    fs.writeFileSync(path.join(dir, 'exe'), exe);
    const rows = syntheticEvents('travel', 2500, 21);
    const runRows = syntheticEvents('travel', 30, 22, 'run-a');
    const source = await openStore(tempDir('rb-push-src-'));
    try {
      await source.putIncident(incidentInfo('travel', { event_count: 2500, exe_sha256: sha(exe), files: { '/srv/exe': sha(exe) } }), [eventBatch(rows)], new Map([[sha(exe), path.join(dir, 'exe')]]));
      await source.putRun(runInfo('travel', 'run-a', { event_count: 30 }), [eventBatch(runRows)]);

      expect(await copyIncident(source, server, 'travel')).toEqual({ incident: 'copied', events: 2500, runs: 1, blobs: 1 });
      // Again: nothing to do.
      expect(await copyIncident(source, server, 'travel')).toEqual({ incident: 'present', events: 2500, runs: 0, blobs: 1 });
      expect(rowsOf(await collect(server.events('travel')))).toEqual(rows);
      expect(rowsOf(await collect(server.events('travel', 'run-a')))).toEqual(runRows);
    } finally {
      await source.close();
    }

    const back = await openStore(tempDir('rb-pull-dst-'));
    try {
      fs.rmSync(cache, { recursive: true, force: true }); // the blob must come from the server
      expect(await copyIncident(server, back, 'travel')).toEqual({ incident: 'copied', events: 2500, runs: 1, blobs: 1 });
      expect(await back.incident('travel')).toEqual(await server.incident('travel'));
      expect(digest(await collect(back.events('travel')))).toBe(digest(await collect(server.events('travel'))));
      expect(rowsOf(await collect(back.events('travel', 'run-a')))).toEqual(runRows);
      expect(fs.readFileSync(await back.blobFile(sha(exe))).equals(Buffer.from(exe))).toBe(true);
    } finally {
      await back.close();
    }
  });
});

describe('the server layout options', () => {
  it('writes ON CLUSTER, Distributed and TTL DDL, and a store with retention works', async () => {
    const ddl = sql.createStore({ cluster: 'logs', distributed: true, replicated: true, ttlDays: 30 }).join('\n');
    expect(ddl).toContain('CREATE TABLE IF NOT EXISTS events_local ON CLUSTER `logs`');
    expect(ddl).toContain("ENGINE = Distributed(`logs`, currentDatabase(), events_local, cityHash64(incident_id))");
    expect(ddl).toContain("ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/events_local', '{replica}')");
    expect(ddl).toContain('TTL stored_at + INTERVAL 30 DAY');
    expect(sql.deleteIncident({ cluster: 'logs', distributed: true })[2]).toContain('DELETE FROM events_local ON CLUSTER `logs`');
    expect(() => sql.createStore({ distributed: true })).toThrow(/needs a cluster/);

    const kept = await openServerStore({ url: `${serverUrl('replaybook_ttl')}?ttl_days=7`, blobCacheHome: cache });
    try {
      await kept.putIncident(incidentInfo('ttl-1', { event_count: 10, exe_sha256: '', files: {} }), [eventBatch(syntheticEvents('ttl-1', 10, 1))], new Map());
      expect(rowsOf(await collect(kept.events('ttl-1')))).toHaveLength(10);
      const create = await kept.query(`SELECT create_table_query AS q FROM system.tables WHERE database = 'replaybook_ttl' AND name = 'events'`);
      expect(String(create.getChild('q')!.get(0))).toContain('TTL stored_at + toIntervalDay(7)');
    } finally {
      await kept.close();
    }
  });
});

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function crypto(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}
