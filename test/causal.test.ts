// The causal graph: nodes and ordered edges of the recorded payment incident, threads, forks,
// served connections and failures of a synthetic server, the limit on edges, and the chart.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transactions } from '../src/analysis/transactions';
import { recordPaymentIncident } from '../src/demo';
import type { EventRow } from '../src/events/schema';
import { openStore, type ChdbStore } from '../src/store';
import { causalGraph, causalGraphSpec, type CausalGraph } from '../src/viz/causal';
import { renderChart } from '../src/viz/render';
import { decodePng, nonBackgroundPixels } from './helpers/png';
import { eventBatch } from './helpers/store-fixtures';

type Ev = Partial<EventRow> & { name: string; pid: number };

function table(calls: Ev[]): Table {
  const rows: EventRow[] = calls.map((c, i) => ({
    incident_id: 'srv',
    run_id: 'recording',
    seq: BigInt(i),
    tid: c.pid,
    nr: 0,
    args: [0n, 0n, 0n, 0n, 0n, 0n],
    ret: 0n,
    enter_ns: BigInt(i) * 1_000_000n,
    dur_ns: 10_000n,
    resource: '',
    data_in: new Uint8Array(0),
    data_out: new Uint8Array(0),
    kind: 'syscall',
    ...c,
  }));
  return new Table([eventBatch(rows)]);
}

const fd = (n: number): bigint[] => [BigInt(n), 0n, 0n, 0n, 0n, 0n];
const edgeList = (g: CausalGraph): string[] => g.edges.map((e) => `${e.order} ${e.kind} ${e.from} -> ${e.to}${e.failed ? ' !' : ''}${e.tx ? ` ${e.tx}` : ''}`);

describe('causal graph of the recorded payment incident', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-causal-'));
  let store: ChdbStore;
  let events: Table;
  let g: CausalGraph;
  let endpoint: string;

  beforeAll(async () => {
    store = await openStore(dir);
    const rec = await recordPaymentIncident(store, 'pay');
    endpoint = `tcp:127.0.0.1:${rec.providerPort}`;
    events = await store.eventsTable('pay');
    g = causalGraph(events);
  }, 60_000);
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has the process, the provider, stdout and the files as nodes, in lanes', () => {
    const pid = Number(events.get(0)?.pid);
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    expect(g.nodes[0]).toMatchObject({ id: `p:${pid}`, kind: 'process', label: `payment-client · pid ${pid}`, lane: 0, failed: true });
    expect(g.nodes[1]).toMatchObject({ id: `r:${endpoint}`, kind: 'endpoint', label: endpoint, lane: 1, failed: true });
    expect(g.nodes[2]).toMatchObject({ id: 'r:stdout', kind: 'stdio', lane: 2, failed: false });
    expect(g.nodes.slice(3).every((n) => n.kind === 'file')).toBe(true);
    expect(byId.get('r:file:/etc/ld.so.cache')?.label).toBe('ld.so.cache');
    expect(g.nodes.map((n) => n.lane)).toEqual(g.nodes.map((_, i) => i));
  });

  it('has the story as ordered edges: the request, the poll that timed out, the exit, the answer that came late', () => {
    const pid = Number(events.get(0)?.pid);
    const p = `p:${pid}`;
    const e = `r:${endpoint}`;
    const story = g.edges.filter((x) => x.kind !== 'file' && x.kind !== 'exec');
    expect(story.map((x) => [x.kind, x.from, x.to, x.failed, x.tx])).toEqual([
      ['connect', p, e, false, 'tx-1'],
      ['send', p, e, false, 'tx-1'],
      ['wait', e, p, true, 'tx-1'],
      ['close', p, e, false, 'tx-1'],
      ['output', p, 'r:stdout', false, null],
      ['exit', p, p, true, null],
      ['late', e, p, false, 'tx-1'],
    ]);
    const [connect, send, wait, , output, exit, late] = story;
    expect(send).toMatchObject({ bytes: 49 });
    expect(send.label).toMatch(/^49 B “CHARGE order=42 amount=19\.99/);
    expect(wait.label).toMatch(/^poll waited 2\.0\d s → timed out$/);
    expect(wait.dur_ms).toBeGreaterThan(1990);
    expect(output.label).toBe('24 B “payment failed: timeout\\n”');
    expect(exit.label).toBe('exit 1');
    expect(late.label).toMatch(/^25 B “OK txn=7781 amount=19\.99…” arrived \d+ ms after close, never read$/);
    // In order of seq, numbered 1..n, with times since the recording started.
    expect(g.edges.map((x) => x.order)).toEqual(g.edges.map((_, i) => i + 1));
    for (let i = 1; i < g.edges.length; i++) expect(g.edges[i].seq).toBeGreaterThan(g.edges[i - 1].seq);
    expect(late.start_ms - connect.start_ms).toBeGreaterThan(2400);
    // The loader's probe of /etc/ld.so.preload failed (ENOENT): marked, as every failure is.
    expect(g.edges.find((x) => x.to === 'r:file:/etc/ld.so.preload')).toMatchObject({ kind: 'file', failed: true, label: 'access ENOENT' });
    expect(g.edges[0]).toMatchObject({ kind: 'exec', from: p, label: 'execve payment-client' });
  });

  it('names its transactions as transactions() does, so a session can open one', () => {
    expect(g.transactions.map((t) => t.id)).toEqual(transactions(events).map((t) => t.id));
    expect(g.transactions).toHaveLength(1);
    expect(g.transactions[0]).toMatchObject({ id: 'tx-1', kind: 'outgoing', resource: endpoint, outcome: 'no answer' });
  });

  it('draws a sequence diagram with lanes, numbered arrows and the transaction', async () => {
    const spec = causalGraphSpec(g);
    expect(spec.usermeta.replaybook).toMatchObject({ chart: 'causal-graph', nodes: g.nodes.length, edges: g.edges.length, failures: 3, transactions: ['tx-1'], omitted: 0 });
    expect(spec.data.values).toHaveLength(g.edges.length);
    const marks = (spec.layer as Array<{ mark: { type: string } }>).map((l) => l.mark.type);
    expect(marks).toEqual(['rect', 'text', 'rule', 'rect', 'text', 'rule', 'point', 'text', 'text', 'text']);
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
    const { svg, png } = await renderChart(spec);
    for (const s of ['tx-1', 'payment-client · pid', 'poll waited 2.0', 'timed out', 'never read', 'exit 1']) expect(svg).toContain(s);
    const img = decodePng(png);
    expect(img.width).toBeGreaterThan(800);
    expect(nonBackgroundPixels(img)).toBeGreaterThan(10_000);
  });
});

describe('causal graph of a server', () => {
  const PEER = 'tcp:10.0.0.9:5555';
  const DB = 'tcp:10.0.0.7:5432';
  const events = table([
    { pid: 200, name: 'execve', resource: 'file:/srv/server' },
    { pid: 200, name: 'openat', resource: 'file:/etc/app.conf', ret: 3n },
    { pid: 200, name: 'read', resource: 'file:/etc/app.conf', ret: 120n, args: fd(3) },
    { pid: 200, name: 'close', resource: 'file:/etc/app.conf', args: fd(3) },
    { pid: 200, name: 'clone3', ret: 201n },
    { pid: 200, name: 'clone', ret: 300n },
    { pid: 200, tid: 201, name: 'accept4', resource: PEER, ret: 5n, args: fd(4) },
    { pid: 200, tid: 201, name: 'read', resource: PEER, ret: 6n, args: fd(5), data_out: Buffer.from('GET /\n') },
    { pid: 200, tid: 201, name: 'write', resource: PEER, ret: 6n, args: fd(5), data_in: Buffer.from('200 OK') },
    { pid: 200, tid: 201, name: 'write', resource: PEER, ret: 4n, args: fd(5), data_in: Buffer.from('body') },
    { pid: 200, tid: 201, name: 'close', resource: PEER, args: fd(5) },
    { pid: 300, name: 'socket', resource: 'socket:tcp', ret: 3n },
    { pid: 300, name: 'connect', resource: DB, ret: -111n, args: fd(3) },
    { pid: 300, name: 'write', resource: 'stderr', ret: 8n, args: fd(2), data_in: Buffer.from('db down\n') },
    { pid: 300, name: 'exit_group', ret: 0n },
    { pid: 300, name: 'exit', kind: 'exit', ret: 2n },
    { pid: 200, name: 'futex', ret: -110n },
    { pid: 200, name: 'wait4', ret: 300n },
    { pid: 200, name: 'exit', kind: 'exit', ret: 0n },
  ]);
  const g = causalGraph(events);

  it('tells threads from processes, and lays them out before the outside world', () => {
    expect(g.nodes.map((n) => [n.id, n.kind, n.failed])).toEqual([
      ['p:200', 'process', false],
      ['t:201', 'thread', false],
      ['p:300', 'process', true],
      [`r:${PEER}`, 'endpoint', false],
      [`r:${DB}`, 'endpoint', true],
      ['r:stderr', 'stdio', false],
      ['r:file:/srv/server', 'file', false],
      ['r:file:/etc/app.conf', 'file', false],
    ]);
    expect(g.nodes.find((n) => n.id === 'p:300')?.label).toBe('server · pid 300');
  });

  it('has forks, the served request as one transaction, the failed call as another, merged writes', () => {
    expect(edgeList(g)).toEqual([
      '1 exec p:200 -> r:file:/srv/server',
      '2 file p:200 -> r:file:/etc/app.conf',
      '3 fork p:200 -> t:201',
      '4 fork p:200 -> p:300',
      `5 accept r:${PEER} -> t:201 tx-1`,
      `6 receive r:${PEER} -> t:201 tx-1`,
      `7 send t:201 -> r:${PEER} tx-1`,
      `8 close t:201 -> r:${PEER} tx-1`,
      `9 connect p:300 -> r:${DB} ! tx-2`,
      '10 output p:300 -> r:stderr',
      '11 exit p:300 -> p:300 !',
      '12 exit p:200 -> p:200',
    ]);
    const byOrder = (o: number) => g.edges[o - 1];
    expect(byOrder(2)).toMatchObject({ calls: 3, bytes: 120, label: 'openat, read, close: 3 calls, 120 B' });
    expect(byOrder(3).label).toBe('clone3 → thread 201');
    expect(byOrder(4).label).toBe('clone → process 300');
    expect(byOrder(6).label).toBe('6 B “GET /\\n”');
    expect(byOrder(7)).toMatchObject({ calls: 2, bytes: 10, label: '2 writes, 10 B' });
    expect(byOrder(9).label).toBe('connect ECONNREFUSED');
    expect(g.transactions.map((t) => [t.id, t.kind, t.outcome])).toEqual([
      ['tx-1', 'accepted', 'ok'],
      ['tx-2', 'outgoing', 'connect: ECONNREFUSED'],
    ]);
  });

  it('draws an empty log without failing', async () => {
    const empty = causalGraph(table([]));
    expect(empty).toMatchObject({ nodes: [], edges: [], transactions: [], omitted: 0, events: 0 });
    expect((await renderChart(causalGraphSpec(empty))).png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('keeps the failures and connections when there are too many edges', () => {
    const calls: Ev[] = [{ pid: 1, name: 'connect', resource: PEER, args: fd(3) }];
    for (let i = 0; i < 400; i++) {
      calls.push({ pid: 1, name: 'write', resource: PEER, ret: 10n, args: fd(3) });
      calls.push({ pid: 1, name: 'read', resource: PEER, ret: i === 350 ? -104n : 10n, args: fd(3) });
    }
    const big = causalGraph(table(calls), { maxEdges: 50 });
    expect(big.edges).toHaveLength(50);
    expect(big.omitted).toBe(801 - 50);
    expect(big.edges[0].kind).toBe('connect');
    expect(big.edges.some((e) => e.failed && e.label === 'read -104 ECONNRESET')).toBe(true);
    expect(big.edges.map((e) => e.order)).toEqual(big.edges.map((_, i) => i + 1));
    expect(causalGraphSpec(big).title).toMatchObject({ subtitle: expect.stringContaining('751 more edges not drawn') });
  });
});
