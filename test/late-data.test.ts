// Late data: after the service closes a TCP connection, the recorder reads on and logs what the
// peer still sends, with its arrival times, so a replay can ask what a longer timeout would have
// seen. Real processes throughout: the payment client and provider, a peer that never answers,
// and a client that closes its socket by dup, dup2, exit and exec.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaymentIncident } from '../src/demo';
import type { EventRow } from '../src/events/schema';
import { buildFixtures, startProvider } from '../src/fixtures';
import { record, type RecordOptions } from '../src/record/record';
import { replay } from '../src/replay/replay';
import { openStore, type ChdbStore } from '../src/store';
import { rows, sequence } from './helpers/replay-check';
import { runProcess } from './helpers/run';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-late-'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-late-bin-'));
const closer = path.join(dir, 'late-closer');
const UNFINISHED = -(2n ** 63n);
let store: ChdbStore;

beforeAll(async () => {
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', closer, path.join(__dirname, 'fixtures', 'late-closer.c')]);
  store = await openStore(home);
});

afterAll(async () => {
  await store?.close();
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

const late = (ev: EventRow[]) => ev.filter((e) => e.kind === 'late_data');
const text = (b: Uint8Array) => Buffer.from(b).toString();
const arg = (e: EventRow, i: number): bigint => Array.from(e.args as Iterable<bigint>)[i];

/** A provider on loopback answering `response` 300 ms after the request. */
async function withProvider<T>(response: string, fn: (endpoint: string) => Promise<T>): Promise<T> {
  const provider = await startProvider({ delayMs: 300, response });
  try {
    return await fn(`127.0.0.1:${provider.port}`);
  } finally {
    await provider.stop();
  }
}

async function recordCloser(incident: string, mode: string, endpoint: string, lateData?: RecordOptions['lateData']): Promise<EventRow[]> {
  await record({ incident, command: [closer, mode, endpoint], env: { PATH: '/usr/bin:/bin' }, store, lateData });
  return rows(store.events(incident));
}

describe('the payment incident with late data', () => {
  let ev: EventRow[] = [];
  let port = 0;

  beforeAll(async () => {
    port = (await recordPaymentIncident(store, 'late-pay', { timeoutMs: 2000, providerDelayMs: 2500 })).providerPort;
    ev = await rows(store.events('late-pay'));
  });

  it("logs the provider's whole answer, which came after the client gave up, as late data on its connection", () => {
    const resource = `tcp:127.0.0.1:${port}`;
    const connect = ev.find((e) => e.name === 'connect')!;
    expect(connect.resource).toBe(resource);
    const data = late(ev).filter((e) => e.name === 'late_data');
    expect(data.length).toBeGreaterThan(0);
    expect(Buffer.concat(data.map((e) => Buffer.from(e.data_out))).toString()).toBe('OK txn=7781 amount=19.99\n');
    for (const e of data) {
      expect(e.resource).toBe(resource);
      expect(e.ret).toBe(BigInt(e.data_out.length));
      expect(arg(e, 0)).toBe(arg(connect, 0)); // the fd the client had
      expect(e.pid).toBe(connect.pid);
      expect(e.tid).toBe(connect.tid);
    }
    // Then the provider closed: the socket's last event says EOF.
    const ends = late(ev).filter((e) => e.name === 'late_data_end');
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ resource, ret: 0n });
    expect(text(ends[0].data_in)).toBe('eof');
    expect(arg(ends[0], 1)).toBe(25n); // late bytes in all
    expect(ends[0].seq).toBe(ev[ev.length - 1].seq);
    // Seqs stay one counter: 0..n-1 in order.
    expect(ev.map((e) => Number(e.seq))).toEqual(ev.map((_, i) => i));
  });

  it('times arrivals on the recording clock, after the close and after the client had exited: it was not held', async () => {
    const connect = ev.find((e) => e.name === 'connect')!;
    const close = ev.find((e) => e.name === 'close' && arg(e, 0) === arg(connect, 0))!;
    const exit = ev.find((e) => e.kind === 'exit')!;
    expect(exit.ret).toBe(1n); // payment failed: timeout
    for (const e of late(ev)) {
      expect(e.enter_ns).toBeGreaterThan(close.enter_ns + close.dur_ns);
      expect(e.enter_ns).toBeGreaterThan(exit.enter_ns);
      expect(e.seq).toBeGreaterThan(exit.seq);
    }
    // The incident's duration is the service's, not the linger's.
    expect((await store.incident('late-pay'))?.duration_ns).toBe(exit.enter_ns);
  });

  it('replays strictly as before: the late data is not served to the program', async () => {
    const r = await replay('late-pay', { store, speed: 'max', ephemeral: true });
    expect(r.divergence).toBeNull();
    expect(r.reproduced).toBe(true);
    expect(r.stdout.toString()).toBe('payment failed: timeout\n');
    const run = await rows(r.batches);
    expect(late(run)).toEqual([]);
    expect(sequence(run)).toEqual(sequence(ev));
  });

  it('records none with lateData off', async () => {
    await recordPaymentIncident(store, 'late-off', { timeoutMs: 300, providerDelayMs: 600, lateData: false });
    const off = await rows(store.events('late-off'));
    expect(off.find((e) => e.name === 'poll')?.ret).toBe(0n); // it did time out
    expect(late(off)).toEqual([]);
    expect(off[off.length - 1]).toMatchObject({ kind: 'exit', ret: 1n });
  });
});

describe('bounds', () => {
  it('stops at the linger time on a socket whose peer never sends, after sending it a FIN', async () => {
    // A peer that accepts, reads, and never answers or closes.
    const seen: string[] = [];
    const held: net.Socket[] = [];
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      held.push(s);
      s.on('data', () => seen.push('data'));
      s.on('end', () => seen.push('fin'));
      s.on('error', (e: NodeJS.ErrnoException) => seen.push(`error ${e.code}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const { paymentClient } = await buildFixtures();
      await record({
        incident: 'late-silent',
        command: [paymentClient],
        env: { PATH: '/usr/bin:/bin', PAYMENT_TIMEOUT_MS: '200', PAYMENT_PROVIDER: `127.0.0.1:${port}` },
        store,
        lateData: { ms: 300 },
      });
      const ev = await rows(store.events('late-silent'));
      const close = ev.find((e) => e.name === 'close' && e.resource === `tcp:127.0.0.1:${port}`)!;
      expect(late(ev).map((e) => e.name)).toEqual(['late_data_end']);
      const end = late(ev)[0];
      expect(text(end.data_in)).toBe('linger');
      expect(end.ret).toBe(UNFINISHED); // what came later is unknown
      expect(arg(end, 1)).toBe(0n);
      expect(end.enter_ns).toBeGreaterThan(close.enter_ns);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toEqual(['data', 'fin']); // the request, then a FIN, and no reset
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('stops at the byte bound, and watches no more sockets than the socket bound', async () => {
    await withProvider('0123456789abcdef', async (ep) => {
      const ev = await recordCloser('late-bytes', 'exit', ep, { bytes: 10 });
      const data = late(ev).filter((e) => e.name === 'late_data');
      expect(Buffer.concat(data.map((e) => Buffer.from(e.data_out))).toString()).toBe('0123456789');
      const end = late(ev).find((e) => e.name === 'late_data_end')!;
      expect(text(end.data_in)).toBe('bytes');
      expect(end.ret).toBe(UNFINISHED);
      expect(arg(end, 1)).toBe(10n);
    });
    await withProvider('unwatched', async (ep) => {
      expect(late(await recordCloser('late-nosockets', 'exit', ep, { sockets: 0 }))).toEqual([]);
    });
  });
});

describe('how the service lets go of the socket', () => {
  const answer = 'OK txn=1 amount=1.00\n';

  for (const mode of ['exit', 'dup2', 'exec']) {
    it(`reads on after ${mode} closed it`, async () => {
      await withProvider(answer.trim(), async (ep) => {
        const ev = await recordCloser(`late-${mode}`, mode, ep);
        const data = late(ev).filter((e) => e.name === 'late_data');
        expect(Buffer.concat(data.map((e) => Buffer.from(e.data_out))).toString()).toBe(answer);
        expect(data.every((e) => e.resource === `tcp:${ep}`)).toBe(true);
        const end = late(ev).find((e) => e.name === 'late_data_end')!;
        expect(text(end.data_in)).toBe('eof');
        const connect = ev.find((e) => e.name === 'connect')!;
        expect(arg(end, 0)).toBe(arg(connect, 0));
      });
    });
  }

  it('leaves a socket alone while another fd of the service still uses it', async () => {
    await withProvider(answer.trim(), async (ep) => {
      const ev = await recordCloser('late-dup', 'dup', ep);
      // The service read its answer through the duplicate: nothing was shut down under it.
      const out = ev.find((e) => e.name === 'write' && e.resource === 'stdout');
      expect(text(out!.data_in)).toBe(answer);
      // Only the last close lingered, and found the provider gone.
      const dup = ev.find((e) => e.name === 'dup')!;
      const ends = late(ev);
      expect(ends.map((e) => e.name)).toEqual(['late_data_end']);
      expect(arg(ends[0], 0)).toBe(BigInt(dup.ret));
      expect(text(ends[0].data_in)).toBe('eof');
      expect(arg(ends[0], 1)).toBe(0n);
    });
  });
});

describe('replaybook record', () => {
  const CLI = path.join(__dirname, '..', 'bin', 'replaybook.js');
  const cli = (args: string[]) => runProcess(process.execPath, [CLI, ...args], { ...process.env, REPLAYBOOK_HOME: home });

  it('documents --no-late-data and --late-data-ms, and checks the value', async () => {
    const help = await cli(['record', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--no-late-data');
    expect(help.stdout).toContain('--late-data-ms N');
    const bad = await cli(['record', '--incident', 'x', '--late-data-ms', 'soon', '--', '/bin/true']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--late-data-ms needs a whole number of milliseconds, not 'soon'");
  });

  it('passes them to the recorder', async () => {
    // The CLI opens the store itself: this process lets go of it meanwhile.
    await store.close();
    try {
      await withProvider('late', async (ep) => {
        const off = await cli(['record', '--incident', 'cli-off', '--no-late-data', '--', closer, 'exit', ep]);
        expect(off.stderr).toContain("recorded incident 'cli-off'");
      });
      const provider = await startProvider({ delayMs: 5000 });
      try {
        const short = await cli(['record', '--incident', 'cli-short', '--late-data-ms', '100', '--', closer, 'exit', `127.0.0.1:${provider.port}`]);
        expect(short.stderr).toContain("recorded incident 'cli-short'");
      } finally {
        await provider.stop();
      }
    } finally {
      store = await openStore(home);
    }
    expect(late(await rows(store.events('cli-off')))).toEqual([]);
    const short = late(await rows(store.events('cli-short')));
    expect(short.map((e) => [e.name, text(e.data_in)])).toEqual([['late_data_end', 'linger']]);
  });
});
