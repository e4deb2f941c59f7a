// The payment incident recorded straight into a ClickHouse server through the CLI, replayed from
// it, pulled into the embedded store and replayed there the same way, pushed back, removed.
// The server is the test endpoint (ClickHouse's HTTP interface over chDB's engine).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures, startProvider, type FixturePaths } from '../src/fixtures';
import { openServerStore, openStore, type EventStore } from '../src/store';
import { startEndpoint, type Endpoint } from './helpers/clickhouse-endpoint';
import { runProcess, type Ran } from './helpers/run';
import { rowsOf } from './helpers/store-fixtures';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const USER = 'recorder';
const PASSWORD = 'never-printed-0xC0FFEE';
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-srv-cli-'));
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-srv-cli-cache-'));
let bins: FixturePaths;
let endpoint: Endpoint;
let url: string;

async function cli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const ran = await runProcess(process.execPath, [CLI, ...args], {
    ...process.env,
    REPLAYBOOK_HOME: home,
    REPLAYBOOK_CLICKHOUSE_USER: USER,
    REPLAYBOOK_CLICKHOUSE_PASSWORD: PASSWORD,
    ...env,
  });
  expect(ran.stdout + ran.stderr).not.toContain(PASSWORD);
  return ran;
}

async function recordPayment(id: string, extra: string[]): Promise<Ran> {
  const provider = await startProvider({ delayMs: 2500 });
  try {
    return await cli(['record', ...extra, '--incident', id, '--service', 'payments', '--', bins.paymentClient], {
      PAYMENT_TIMEOUT_MS: '2000',
      PAYMENT_PROVIDER: `127.0.0.1:${provider.port}`,
    });
  } finally {
    await provider.stop();
  }
}

async function withStore<T>(open: Promise<EventStore>, fn: (s: EventStore) => Promise<T>): Promise<T> {
  const store = await open;
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const server = () => openServerStore({ url, user: USER, password: PASSWORD, blobCacheHome: cache });

async function digest(events: AsyncIterable<RecordBatch>): Promise<string> {
  const batches: RecordBatch[] = [];
  for await (const b of events) batches.push(b);
  const hash = createHash('sha256');
  for (const row of rowsOf(batches)) {
    hash.update(`${row.seq} ${row.tid} ${row.name} ${row.resource} ${row.ret} ${row.enter_ns} ${row.dur_ns} ${row.args.join(',')}|`);
    hash.update(row.data_in).update(row.data_out);
  }
  return `${batches.reduce((n, b) => n + b.numRows, 0)}:${hash.digest('hex')}`;
}

beforeAll(async () => {
  bins = await buildFixtures();
  endpoint = await startEndpoint({ user: USER, password: PASSWORD });
  url = `http://127.0.0.1:${endpoint.port}/incidents`;
}, 120_000);

afterAll(async () => {
  await endpoint?.stop();
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(cache, { recursive: true, force: true });
});

describe('recording into a ClickHouse server', () => {
  let serverReplay: Record<string, unknown>;

  it('records straight into the server with --clickhouse, and replays from it reproducing the failure', async () => {
    const rec = await recordPayment('srv-pay', ['--clickhouse', url]);
    expect(rec.code).toBe(0);
    expect(rec.stdout).toBe('payment failed: timeout\n');
    expect(rec.stderr).toContain("recorded incident 'srv-pay'");
    expect(rec.stderr).not.toContain('spooled');

    const listed = JSON.parse((await cli(['incidents', '--json', '--clickhouse', url])).stdout) as { incident_id: string }[];
    expect(listed.map((i) => i.incident_id)).toEqual(['srv-pay']);
    // Nothing went to the embedded store.
    expect(JSON.parse((await cli(['incidents', '--json'])).stdout)).toEqual([]);

    const r = await cli(['replay', 'srv-pay', '--speed', 'max', '--json', '--clickhouse', url]);
    expect(r.code).toBe(0);
    serverReplay = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(serverReplay).toMatchObject({ incident: 'srv-pay', exitCode: 1, signal: null, stdout: 'payment failed: timeout\n', divergence: null, reproduced: true, stored: 'stored' });
    await withStore(server(), async (s) => {
      expect((await s.runs('srv-pay')).map((run) => run.run_id)).toEqual([serverReplay.runId]);
    });
  });

  it('pulls it into the embedded store byte for byte, where it replays the same way', async () => {
    const pull = await cli(['pull', 'srv-pay', '--from', url]);
    expect(pull.code).toBe(0);
    expect(pull.stdout).toMatch(/^copied incident 'srv-pay' \(\d+ events, \d+ blobs\), 1 replay run: http:\/\/127\.0\.0\.1:\d+\/incidents -> /);

    const fromServer = await withStore(server(), async (s) => ({ info: await s.incident('srv-pay'), events: await digest(s.events('srv-pay')) }));
    const fromEmbedded = await withStore(openStore(home), async (s) => ({ info: await s.incident('srv-pay'), events: await digest(s.events('srv-pay')) }));
    expect(fromEmbedded).toEqual(fromServer);
    expect(Number(fromServer.events.split(':')[0])).toBeGreaterThan(20);

    const r = await cli(['replay', 'srv-pay', '--speed', 'max', '--json']);
    expect(r.code).toBe(0);
    const local = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of ['exitCode', 'signal', 'stdout', 'stderr', 'events', 'divergence', 'reproduced']) {
      expect(local[key]).toEqual(serverReplay[key]);
    }
  });

  it('pushes an incident recorded into the embedded store, and finds it through REPLAYBOOK_CLICKHOUSE_URL', async () => {
    const rec = await recordPayment('emb-pay', []);
    expect(rec.code).toBe(0);
    const push = await cli(['push', 'emb-pay', '--to', url]);
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/^copied incident 'emb-pay'/);
    const fromEmbedded = await withStore(openStore(home), (s) => digest(s.events('emb-pay')));
    expect(await withStore(server(), (s) => digest(s.events('emb-pay')))).toBe(fromEmbedded);

    const listed = JSON.parse((await cli(['incidents', '--json'], { REPLAYBOOK_CLICKHOUSE_URL: url })).stdout) as { incident_id: string }[];
    expect(listed.map((i) => i.incident_id).sort()).toEqual(['emb-pay', 'srv-pay']);
    const again = await cli(['push', 'emb-pay', '--to', url]);
    expect(again.stdout).toMatch(/^incident 'emb-pay' was already in/);
  });

  it('removes incidents and then their blobs, on the server and in the embedded store', async () => {
    for (const id of ['srv-pay', 'emb-pay']) {
      const rm = await cli(['rm', id, '--clickhouse', url]);
      expect(rm.code).toBe(0);
      expect(rm.stdout).toMatch(new RegExp(`^deleted incident '${id}': \\d+ events, \\d+ replay runs? \\(http://127\\.0\\.0\\.1:\\d+/incidents\\)`));
    }
    expect(JSON.parse((await cli(['incidents', '--json', '--clickhouse', url])).stdout)).toEqual([]);
    const gc = await cli(['gc', '--clickhouse', url]);
    expect(gc.code).toBe(0);
    const blobs = Number(/^deleted (\d+) unreferenced blobs?/.exec(gc.stdout)?.[1]);
    expect(blobs).toBeGreaterThanOrEqual(3); // the executable, the ELF interpreter, libc
    expect((await cli(['gc', '--clickhouse', url])).stdout).toMatch(/^deleted 0 unreferenced blobs/);

    const missing = await cli(['rm', 'srv-pay', '--clickhouse', url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/has no incident 'srv-pay'/);

    expect((await cli(['rm', 'emb-pay'])).code).toBe(0);
    expect((await cli(['rm', 'srv-pay'])).code).toBe(0);
    expect((await cli(['gc'])).stdout).toMatch(/^deleted [1-9]\d* unreferenced blobs? \(\d+ bytes\) from /);
  });

  it('says what is wrong with a server, without a stack trace or a password', async () => {
    const wrong = await cli(['incidents', '--clickhouse', url], { REPLAYBOOK_CLICKHOUSE_PASSWORD: 'not-it' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(new RegExp(`^replaybook: The ClickHouse server at http://127\\.0\\.0\\.1:\\d+/incidents refused user '${USER}'`));
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    const withSecret = await cli(['incidents', '--clickhouse', `http://${USER}:${PASSWORD}@127.0.0.1:1/x`]);
    expect(withSecret.code).toBe(1);
    expect(withSecret.stderr).toContain('Cannot reach the ClickHouse server at http://127.0.0.1:1/x');
  });
});
