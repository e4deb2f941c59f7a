// Moving an incident between stores (machines): pack it with its runs and files, unpack it into
// another store, replay it there.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import { parseInjection } from '../src/inject';
import { replay } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { runProcess } from './helpers/run';

const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-pack-'));
const homeA = path.join(work, 'a');
const homeB = path.join(work, 'b');
let store: ChdbStore;

const cli = (home: string, args: string[]) => runProcess(process.execPath, [CLI, ...args], { ...process.env, REPLAYBOOK_HOME: home });

beforeAll(async () => {
  store = await openStore(homeA);
  await recordPaymentIncident(store, 'pay');
  await replay('pay', { store, speed: 'max' }); // a stored run travels with the incident
  // ...and a labelled counterfactual one, which a colleague lists by its name after unpacking.
  await replay('pay', { store, speed: 'max', label: 'timeout 5 s', injections: parseInjection('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000') });
});

afterAll(async () => {
  await store.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('pack and unpack', () => {
  it('carries an incident with its runs and files to another store, where it replays', async () => {
    const file = path.join(work, 'pay.rbpack');
    const packed = await cli(homeA, ['pack', 'pay', '--out', file]);
    expect(packed.stderr).toBe('');
    expect(packed.code).toBe(0);
    expect(packed.stdout).toMatch(/^packed incident 'pay' \(\d+ events, 2 runs, [3-9] files\) into /);

    const unpacked = await cli(homeB, ['unpack', file]);
    expect(unpacked.stderr).toBe('');
    expect(unpacked.code).toBe(0);
    expect(unpacked.stdout).toContain("unpacked incident 'pay'");
    expect(unpacked.stdout).toContain('2 runs,');
    const other = await openStore(homeB);
    try {
      const runs = await other.runs('pay');
      expect(runs.map((x) => x.label)).toEqual(['', 'timeout 5 s']);
      expect(JSON.parse(runs[1].injections)).toEqual(parseInjection('--timeout', 'env:PAYMENT_TIMEOUT_MS=5000'));
      expect(Buffer.from(runs[1].stdout).toString()).toBe('payment ok: OK txn=7781 amount=19.99\n');
    } finally {
      await other.close();
    }

    const r = await cli(homeB, ['replay', 'pay', '--speed', 'max', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { reproduced: boolean; stdout: string };
    expect(out).toMatchObject({ reproduced: true, stdout: 'payment failed: timeout\n' });
  });

  it('refuses a damaged pack with a clear error and stores nothing', async () => {
    const file = path.join(work, 'pay.rbpack');
    const bad = path.join(work, 'bad.rbpack');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const homeC = path.join(work, 'c');
    const r = await cli(homeC, ['unpack', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^replaybook: .*bad\.rbpack is not a readable replaybook pack: /);
    const list = await cli(homeC, ['incidents', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});
