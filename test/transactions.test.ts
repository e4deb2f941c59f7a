// Transactions: a server's accepted requests and a client's outgoing call found in recorded logs,
// and a replay session opened at one.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Table, type RecordBatch } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactions } from '../src/analysis/transactions';
import { buildFixtures, type FixturePaths } from '../src/fixtures';
import { recordPaymentIncident } from '../src/demo';
import { record } from '../src/record/record';
import { ReplaySession } from '../src/replay/session';
import { openStore, type ChdbStore } from '../src/store';
import { freePort } from './helpers/net';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-tx-'));
let store: ChdbStore;
let bins: FixturePaths;

async function table(id: string): Promise<Table> {
  const all: RecordBatch[] = [];
  for await (const b of store.events(id)) all.push(b);
  return new Table(all);
}


function ask(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c: net.Socket = net.connect(port, '127.0.0.1', () => c.write(line));
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
}

beforeAll(async () => {
  bins = await buildFixtures();
  store = await openStore(home);
});

afterAll(async () => {
  await store.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('transactions', () => {
  it("lists a server's accepted requests with their requests, responses and outcomes", async () => {
    const name = `txsrv${process.pid}`.slice(0, 15);
    const exe = path.join(home, name);
    fs.copyFileSync(bins.provider, exe);
    const port = await freePort();
    const recording = record({ incident: 'server', command: [exe, String(port), '20', 'OK served'], store, env: { PATH: '/usr/bin:/bin' } });
    // Wait for it to listen, then send two requests and stop it.
    let answers: string[] = [];
    for (let i = 0; i < 100 && answers.length === 0; i++) {
      try {
        answers = [await ask(port, 'GET one\n'), await ask(port, 'GET two\n')];
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(answers).toEqual(['OK served\n', 'OK served\n']);
    execFileSync('pkill', ['-TERM', '-x', name]);
    await recording;
    const txs = transactions(await table('server'));
    expect(txs.map((t) => [t.id, t.kind, t.outcome])).toEqual([
      ['tx-1', 'accepted', 'ok'],
      ['tx-2', 'accepted', 'ok'],
    ]);
    expect(txs[0].request).toBe('GET one\\n');
    expect(txs[1].request).toBe('GET two\\n');
    expect(txs[0].response).toBe('OK served\\n');
    expect(txs[0].resource).toMatch(/^tcp:127\.0\.0\.1:\d+$/);
    expect(txs[1].firstSeq).toBeGreaterThan(txs[0].lastSeq);
  });

  it("finds the client's unanswered call and opens a replay session at it", async () => {
    const { providerPort } = await recordPaymentIncident(store, 'client');
    const [tx] = transactions(await table('client'));
    expect(tx).toMatchObject({ id: 'tx-1', kind: 'outgoing', resource: `tcp:127.0.0.1:${providerPort}`, outcome: 'no answer', bytesReceived: 0 });
    expect(tx.request).toMatch(/^CHARGE order=42/);
    const s = await ReplaySession.open('client', { store, speed: 'max', ephemeral: true }, { paused: true });
    const st = await s.jumpTo(tx.firstSeq);
    expect(st.seq).toBe(tx.firstSeq);
    expect(st.next?.name).toBe('connect');
    await s.stop();
  });
});
