// The canonical incident's fixture services, run for real: a payment client whose 2 s timeout
// is too short for a provider that answers in 2.5 s, and long enough for one that answers fast.
import { promises as fs } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, type Ran } from './helpers/run';
import { buildFixtures, startProvider, type FixturePaths, type RunningProvider } from '../src/fixtures';

function runClient(bin: string, env: Record<string, string>): Promise<Ran> {
  return runProcess(bin, [], { PATH: process.env.PATH ?? '', ...env });
}

describe('fixture services', () => {
  let bins: FixturePaths;
  const providers: RunningProvider[] = [];

  async function provider(delayMs: number, response?: string): Promise<RunningProvider> {
    const p = await startProvider({ delayMs, response });
    providers.push(p);
    return p;
  }

  beforeAll(async () => {
    bins = await buildFixtures();
  });

  afterAll(async () => {
    await Promise.all(providers.map((p) => p.stop()));
  });

  it('builds both binaries, and only rebuilds when a source changed', async () => {
    for (const bin of [bins.paymentClient, bins.provider]) {
      const st = await fs.stat(bin);
      expect(st.isFile()).toBe(true);
      expect(st.mode & 0o111).not.toBe(0);
    }
    const before = (await fs.stat(bins.provider)).mtimeMs;
    const again = await buildFixtures();
    expect(again).toEqual(bins);
    expect((await fs.stat(bins.provider)).mtimeMs).toBe(before);
  });

  it('times out against the slow provider with the production timeout (the incident)', async () => {
    const p = await provider(2500);
    const r = await runClient(bins.paymentClient, {
      PAYMENT_PROVIDER: `127.0.0.1:${p.port}`,
      PAYMENT_TIMEOUT_MS: '2000',
    });
    expect(r.stdout).toBe('payment failed: timeout\n');
    expect(r.code).toBe(1);
    expect(p.connections()).toBe(1);
  });

  it('succeeds against the slow provider with a 5 s timeout (the fix)', async () => {
    const p = await provider(2500);
    const r = await runClient(bins.paymentClient, {
      PAYMENT_PROVIDER: `127.0.0.1:${p.port}`,
      PAYMENT_TIMEOUT_MS: '5000',
    });
    expect(r.stdout).toBe('payment ok: OK txn=7781 amount=19.99\n');
    expect(r.code).toBe(0);
  });

  it('succeeds against a fast provider with the production timeout', async () => {
    const p = await provider(100, 'OK txn=1234 amount=19.99');
    const r = await runClient(bins.paymentClient, {
      PAYMENT_PROVIDER: `127.0.0.1:${p.port}`,
      PAYMENT_TIMEOUT_MS: '2000',
    });
    expect(r.stdout).toBe('payment ok: OK txn=1234 amount=19.99\n');
    expect(r.code).toBe(0);
  });

  it('answers concurrent clients without queueing them behind the delay', async () => {
    const p = await provider(1000);
    const env = { PAYMENT_PROVIDER: `127.0.0.1:${p.port}`, PAYMENT_TIMEOUT_MS: '1800' };
    const results = await Promise.all([1, 2, 3].map(() => runClient(bins.paymentClient, env)));
    for (const r of results) {
      expect(r.stdout).toBe('payment ok: OK txn=7781 amount=19.99\n');
      expect(r.code).toBe(0);
    }
    expect(p.connections()).toBe(3);
  });

  it('reports a refused connection with exit status 2', async () => {
    const p = await provider(0);
    const port = p.port;
    await p.stop();
    const r = await runClient(bins.paymentClient, { PAYMENT_PROVIDER: `127.0.0.1:${port}` });
    expect(r.stdout).toBe('payment failed: Connection refused\n');
    expect(r.code).toBe(2);
  });

  it('stops the provider cleanly', async () => {
    const p = await provider(100);
    await p.stop();
    await p.stop(); // idempotent
    const r = await runClient(bins.paymentClient, { PAYMENT_PROVIDER: `127.0.0.1:${p.port}` });
    expect(r.code).toBe(2);
  });
});
