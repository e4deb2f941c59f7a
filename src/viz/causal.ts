// The causal graph of an incident, the way an analyst finds the part to replay: who talked to
// whom, in what order, and what failed. Processes, threads and the outside world (endpoints,
// files, stdio) are the nodes; forks, connections, messages, waits and exits are the edges,
// numbered in the order they happened (by seq) with their time. Each transaction (as
// analysis/transactions.ts finds them: tx-1, tx-2...) is marked on the edges it covers, so the
// next cell can open a replay there: panel(incident, { at: 'tx-1' }), or session() in code.
//
// Drawn as a sequence diagram: one lane per node, one row per edge, top to bottom in order.
import type { ChartSpec } from './render';
import { CHART_CONFIG, VEGA_LITE_SCHEMA } from './style';
import type { Table } from 'apache-arrow';
import { transactions as findTransactions, type Transaction } from '../analysis/transactions';
import { formatRet } from './classes';
import { actsOnFd, failureIsAnswer, payloadOf, receivesData, sendsData, syscallByName, waitsForReady } from '../events/syscalls';
import { bytesPreview, eventColumns, formatMs, isFailure, round3, type EventColumns } from './columns';

export type NodeKind = 'process' | 'thread' | 'endpoint' | 'file' | 'files' | 'stdio' | 'pipe';

export interface CausalNode {
  id: string;
  kind: NodeKind;
  label: string;
  /** Column of the node in the chart (0 = leftmost). */
  lane: number;
  pid: number | null;
  tid: number | null;
  resource: string | null;
  /** A process that exited non-zero or was killed, an endpoint whose transaction failed. */
  failed: boolean;
  firstSeq: number;
}

export type EdgeKind =
  | 'fork'
  | 'exec'
  | 'connect'
  | 'accept'
  | 'send'
  | 'receive'
  | 'wait'
  | 'late'
  | 'close'
  | 'file'
  | 'output'
  | 'input'
  | 'signal'
  | 'error'
  | 'exit';

export interface CausalEdge {
  /** 1, 2, ... in the order the edges began. */
  order: number;
  kind: EdgeKind;
  from: string;
  to: string;
  /** seq of its first and last event. */
  seq: number;
  lastSeq: number;
  pid: number;
  tid: number;
  /** Start (ms since the first event) and how long its calls took in all. */
  start_ms: number;
  dur_ms: number;
  calls: number;
  bytes: number;
  label: string;
  failed: boolean;
  /** The transaction the edge belongs to (tx-N), or null. */
  tx: string | null;
}

export interface CausalGraph {
  incident: string;
  nodes: CausalNode[];
  edges: CausalEdge[];
  transactions: Transaction[];
  /** Edges left out to keep the graph readable (the failures and connections are always kept). */
  omitted: number;
  events: number;
}

export interface CausalOptions {
  /** At most this many edges (default 150). */
  maxEdges?: number;
  /** At most this many files get a node of their own (default 6); the others share one. */
  maxFileNodes?: number;
  /** Waits (poll, select, epoll) shorter than this are left out (default 1 ms or 1% of the run). */
  waitMinMs?: number;
}

function resourceKind(r: string): NodeKind | null {
  if (/^(tcp6?|udp6?|unix):/.test(r)) return 'endpoint';
  if (r === 'stdout' || r === 'stderr' || r === 'stdin' || r.startsWith('tty')) return 'stdio';
  if (r.startsWith('file:')) return 'file';
  if (r.startsWith('pipe:') || r.startsWith('fifo:')) return 'pipe';
  return null;
}

function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i >= 0 ? p.slice(i + 1) : p;
}

/** Builds the causal graph of an event table (a recording or a run). */
export function causalGraph(events: Table, opts: CausalOptions = {}): CausalGraph {
  const c: EventColumns = eventColumns(events);
  const order = Array.from({ length: c.n }, (_, i) => i).sort((a, b) => c.seq[a] - c.seq[b]);
  const incident = (() => {
    const v = events.getChild('incident_id')?.get(0) as unknown;
    return v instanceof Uint8Array ? new TextDecoder().decode(v) : v == null ? '' : String(v);
  })();
  let t0 = Infinity;
  let t1 = -Infinity;
  for (let i = 0; i < c.n; i++) {
    t0 = Math.min(t0, c.startMs[i]);
    t1 = Math.max(t1, c.startMs[i] + c.durMs[i]);
  }
  if (!Number.isFinite(t0)) t0 = t1 = 0;
  const waitMin = opts.waitMinMs ?? Math.max(1, (t1 - t0) * 0.01);
  const maxFiles = opts.maxFileNodes ?? 6;
  const maxEdges = Math.max(10, opts.maxEdges ?? 150);

  // Processes are the pids that made calls; any other id a clone returned is a thread.
  const pids = new Set<number>();
  for (let i = 0; i < c.n; i++) pids.add(c.pid[i]);

  // Files with a node of their own: the first maxFiles opened (by first use).
  const fileOrder: string[] = [];
  {
    const seen = new Set<string>();
    for (const i of order) {
      const r = c.resource[i];
      if (resourceKind(r) === 'file' && !seen.has(r)) {
        seen.add(r);
        fileOrder.push(r);
      }
    }
  }
  const ownFile = new Set(fileOrder.slice(0, maxFiles));
  const otherFiles = fileOrder.length - ownFile.size;

  const nodes = new Map<string, CausalNode>();
  const node = (id: string, kind: NodeKind, label: string, seq: number, extra: Partial<CausalNode> = {}): CausalNode => {
    let n = nodes.get(id);
    if (!n) {
      n = { id, kind, label, lane: -1, pid: null, tid: null, resource: null, failed: false, firstSeq: seq, ...extra };
      nodes.set(id, n);
    }
    return n;
  };
  const exeName = new Map<number, string>();
  const laneOf = (i: number): string => {
    const pid = c.pid[i];
    const tid = c.tid[i];
    const p = node(`p:${pid}`, 'process', `${exeName.get(pid) ?? 'process'} · pid ${pid}`, c.seq[i], { pid, tid: pid });
    if (tid === pid) return p.id;
    return node(`t:${tid}`, 'thread', `thread ${tid} (pid ${pid})`, c.seq[i], { pid, tid }).id;
  };
  const resourceNode = (r: string, seq: number): string | null => {
    const kind = resourceKind(r);
    if (!kind) return null;
    if (kind === 'file' && !ownFile.has(r)) return node('files', 'files', `${otherFiles} other files`, seq).id;
    const label = kind === 'file' ? basename(r.slice(5)) || r : r;
    return node(`r:${r}`, kind, label, seq, { resource: r }).id;
  };

  const edges: CausalEdge[] = [];
  const lastEdge = new Map<string, CausalEdge>(); // from\0to -> the latest edge between them
  const fileEdges = new Map<string, { edge: CausalEdge; names: string[] }>(); // lane\0file node -> its one aggregated edge
  const errorEdges = new Map<string, CausalEdge>();
  const fds = new Map<string, string>(); // pid:fd -> resource
  const closedAt = new Map<string, number>();
  let previous: CausalEdge | null = null;

  const add = (i: number, kind: EdgeKind, from: string, to: string, label: string, o: { bytes?: number; failed?: boolean; merge?: boolean } = {}): CausalEdge => {
    const key = `${from}\0${to}`;
    const prev = lastEdge.get(key);
    if (o.merge && prev && prev === previous && prev.kind === kind && !prev.failed && !o.failed) {
      prev.calls++;
      prev.bytes += o.bytes ?? 0;
      prev.lastSeq = c.seq[i];
      prev.dur_ms = round3(prev.dur_ms + c.durMs[i]);
      return prev;
    }
    const e: CausalEdge = {
      order: 0,
      kind,
      from,
      to,
      seq: c.seq[i],
      lastSeq: c.seq[i],
      pid: c.pid[i],
      tid: c.tid[i],
      start_ms: round3(c.startMs[i] - t0),
      dur_ms: round3(c.durMs[i]),
      calls: 1,
      bytes: o.bytes ?? 0,
      label,
      failed: o.failed ?? false,
      tx: null,
    };
    edges.push(e);
    lastEdge.set(key, e);
    previous = e;
    return e;
  };

  for (const i of order) {
    const name = c.name[i];
    const kind = c.kind[i];
    const r = c.resource[i];
    const ret = c.ret[i];
    const pid = c.pid[i];
    const failed = isFailure(kind, ret);
    if (kind === 'instruction') continue;
    if (kind === 'exit') {
      const lane = laneOf(i);
      const e = add(i, 'exit', lane, lane, `exit ${ret}`, { failed: ret !== 0n });
      if (ret !== 0n) {
        const n = nodes.get(lane);
        if (n) n.failed = true;
      }
      e.dur_ms = 0;
      continue;
    }
    if (kind === 'signal') {
      const lane = laneOf(i);
      add(i, 'signal', lane, lane, name);
      continue;
    }
    if (kind === 'late_data') {
      if (name !== 'late_data' || ret <= 0n) continue;
      const to = resourceNode(r, c.seq[i]);
      if (!to) continue;
      const closed = closedAt.get(r);
      const data = c.dataOut(i);
      const after = closed !== undefined ? ` ${formatMs(c.startMs[i] - closed)} after close` : '';
      add(i, 'late', to, laneOf(i), `${formatBytes(Number(ret))} “${bytesPreview(data, 24)}” arrived${after}, never read`, { bytes: Number(ret) });
      continue;
    }
    if (kind !== 'syscall') continue;
    const row = syscallByName(name);
    const fdEffect = row?.fdEffect ?? 'none';

    // The fd table: which resource each fd of a process designates.
    const fdKey = (fd: bigint | number): string => `${pid}:${fd}`;
    if ((fdEffect === 'creates' || fdEffect === 'accepts' || fdEffect === 'dups') && ret >= 0n && r) fds.set(fdKey(ret), r);
    else if (r && actsOnFd(name) && fdEffect !== 'closes') fds.set(fdKey(c.arg(i, 0)), r);

    if (row?.special === 'execve') {
      if (!failed && r.startsWith('file:')) exeName.set(pid, basename(r.slice(5)));
      const lane = laneOf(i);
      const n = nodes.get(lane);
      if (n && n.kind === 'process' && exeName.has(pid)) n.label = `${exeName.get(pid)} · pid ${pid}`;
      const file = resourceNode(r, c.seq[i]);
      if (file) add(i, 'exec', lane, file, failed ? `execve ${formatRet(ret)}` : `execve ${basename(r.slice(5))}`, { failed });
      continue;
    }
    if (row?.special === 'clone') {
      const lane = laneOf(i);
      if (failed) {
        add(i, 'fork', lane, lane, `${name} ${formatRet(ret)}`, { failed });
        continue;
      }
      if (ret <= 0n) continue;
      const child = Number(ret);
      const to = pids.has(child)
        ? node(`p:${child}`, 'process', `${exeName.get(pid) ?? 'process'} · pid ${child}`, c.seq[i], { pid: child, tid: child }).id
        : node(`t:${child}`, 'thread', `thread ${child} (pid ${pid})`, c.seq[i], { pid, tid: child }).id;
      add(i, 'fork', lane, to, pids.has(child) ? `${name} → process ${child}` : `${name} → thread ${child}`);
      continue;
    }

    const res = r || (actsOnFd(name) ? fds.get(fdKey(c.arg(i, 0))) ?? '' : '');
    const rk = resourceKind(res);
    if (row?.handler === 'connect' && rk === 'endpoint') {
      const lane = laneOf(i);
      const to = resourceNode(res, c.seq[i]) as string;
      const inProgress = ret === -115n;
      add(i, 'connect', lane, to, failed && !inProgress ? `connect ${formatRet(ret).replace(/^-\d+ /, '')}` : 'connect', { failed: failed && !inProgress });
      continue;
    }
    if (fdEffect === 'accepts' && rk === 'endpoint' && ret >= 0n) {
      add(i, 'accept', resourceNode(res, c.seq[i]) as string, laneOf(i), 'accept');
      continue;
    }
    if (waitsForReady(name)) {
      if (c.durMs[i] < waitMin && !failed) continue;
      // poll's data holds its pollfd array: 8 bytes per fd, the fd first.
      let target = r;
      if (!target && (row?.handler === 'poll' || row?.handler === 'ppoll')) {
        const d = c.dataIn(i);
        for (let k = 0; k + 8 <= d.length && !target; k += 8) {
          const fd = Buffer.from(d.buffer, d.byteOffset + k, 4).readInt32LE(0);
          target = fds.get(fdKey(fd)) ?? '';
        }
      }
      const lane = laneOf(i);
      const from = (target && resourceNode(target, c.seq[i])) || lane;
      const timedOut = ret === 0n;
      const what = failed ? formatRet(ret) : timedOut ? 'timed out' : 'ready';
      add(i, 'wait', from, lane, `${name} waited ${formatMs(c.durMs[i])} → ${what}`, { failed: failed || timedOut });
      continue;
    }
    if (fdEffect === 'closes' || row?.handler === 'shutdown') {
      if (fdEffect === 'closes') fds.delete(fdKey(c.arg(i, 0)));
      if (rk === 'endpoint') {
        add(i, 'close', laneOf(i), resourceNode(res, c.seq[i]) as string, name);
        closedAt.set(res, c.startMs[i] + c.durMs[i]);
      }
      // A file's close counts among its calls (below); other closes are not worth an edge.
      if (rk !== 'file') continue;
    }
    if ((rk === 'endpoint' || rk === 'pipe' || rk === 'stdio') && (sendsData(name) || receivesData(name))) {
      const lane = laneOf(i);
      const target = resourceNode(res, c.seq[i]) as string;
      const sending = sendsData(name);
      const n = ret > 0n ? Number(ret) : 0;
      const data = payloadOf(name, sending ? c.dataIn(i) : c.dataOut(i), sending);
      const preview = n > 0 ? ` “${bytesPreview(data.subarray(0, n), 28)}”` : '';
      const kindOf: EdgeKind = rk === 'stdio' ? (sending ? 'output' : 'input') : sending ? 'send' : 'receive';
      const text = failed ? `${name} ${formatRet(ret)}` : `${formatBytes(n)}${preview}`;
      const e = sending ? add(i, kindOf, lane, target, text, { bytes: n, failed, merge: true }) : add(i, kindOf, target, lane, text, { bytes: n, failed, merge: true });
      if (e.calls > 1) e.label = `${e.calls} ${sending ? 'writes' : 'reads'}, ${formatBytes(e.bytes)}`;
      continue;
    }
    // A failed call that names a path and has no resource: an open, or an access check.
    const namesFile = row !== undefined && row.pathArg >= 0 && (fdEffect === 'creates' || (row.traits.includes('probe') && row.nOut === 0));
    if (rk === 'file' || (rk === null && failed && namesFile)) {
      const lane = laneOf(i);
      const target = resourceNode(res, c.seq[i]);
      if (!target) continue;
      const key = `${lane}\0${target}`;
      const f = fileEdges.get(key);
      const n = ret > 0n && (sendsData(name) || receivesData(name)) ? Number(ret) : 0;
      if (!f) {
        const created = add(i, 'file', lane, target, failed ? `${name} ${formatRet(ret).replace(/^-\d+ /, '')}` : name, { bytes: n, failed });
        fileEdges.set(key, { edge: created, names: [name] });
        previous = null;
      } else {
        const e = f.edge;
        e.calls++;
        e.bytes += n;
        e.lastSeq = c.seq[i];
        e.dur_ms = round3(e.dur_ms + c.durMs[i]);
        e.failed ||= failed;
        if (!f.names.includes(name)) f.names.push(name);
        const names = f.names.length > 3 ? `${f.names.slice(0, 3).join(', ')}…` : f.names.join(', ');
        e.label = `${names}: ${e.calls} calls${e.bytes ? `, ${formatBytes(e.bytes)}` : ''}${e.failed ? ' (one failed)' : ''}`;
      }
      continue;
    }
    if (failed && !failureIsAnswer(name)) {
      const lane = laneOf(i);
      const key = `${lane}\0${name}\0${ret}`;
      const e = errorEdges.get(key);
      if (e) {
        e.calls++;
        e.lastSeq = c.seq[i];
        e.label = `${name} ${formatRet(ret)} ×${e.calls}`;
      } else {
        const target = (res && resourceNode(res, c.seq[i])) || lane;
        errorEdges.set(key, add(i, 'error', lane, target, `${name} ${formatRet(ret)}`, { failed: true }));
      }
    }
  }

  // Transactions: each edge on a transaction's endpoint within its events (late data: after it).
  const txs = findTransactions(events);
  for (const e of edges) {
    const r = nodes.get(e.kind === 'receive' || e.kind === 'accept' || e.kind === 'late' || e.kind === 'wait' ? e.from : e.to)?.resource;
    if (!r) continue;
    let best: Transaction | null = null;
    for (const tx of txs) {
      if (tx.resource !== r || tx.pid !== e.pid) continue;
      if (e.seq >= tx.firstSeq && e.seq <= tx.lastSeq) {
        best = tx;
        break;
      }
      if (e.kind === 'late' && e.seq > tx.lastSeq && (!best || tx.firstSeq > best.firstSeq)) best = tx;
    }
    if (best) e.tx = best.id;
  }
  for (const tx of txs) {
    if (tx.outcome === 'ok') continue;
    const n = nodes.get(`r:${tx.resource}`);
    if (n) n.failed = true;
  }

  // Too many edges: keep what explains the incident (failures, connections, forks, exits, late
  // data, transactions' first edges), then the earliest of the rest.
  let kept = edges;
  let omitted = 0;
  if (edges.length > maxEdges) {
    const important = (e: CausalEdge): boolean =>
      e.failed || e.kind === 'connect' || e.kind === 'accept' || e.kind === 'fork' || e.kind === 'exit' || e.kind === 'late' || e.kind === 'exec';
    const keep = new Set<CausalEdge>();
    for (const e of edges) if (important(e) && keep.size < maxEdges) keep.add(e);
    for (const e of edges) if (keep.size < maxEdges) keep.add(e);
    kept = edges.filter((e) => keep.has(e));
    omitted = edges.length - kept.length;
  }
  kept.sort((a, b) => a.seq - b.seq);
  kept.forEach((e, k) => (e.order = k + 1));

  // Lanes: processes and threads in order of appearance, then endpoints, pipes, stdio, files.
  const used = new Set<string>();
  for (const e of kept) {
    used.add(e.from);
    used.add(e.to);
  }
  const rank: Record<NodeKind, number> = { process: 0, thread: 0, endpoint: 1, pipe: 2, stdio: 3, file: 4, files: 5 };
  const laid = [...nodes.values()].filter((n) => used.has(n.id) || n.kind === 'process').sort((a, b) => rank[a.kind] - rank[b.kind] || a.firstSeq - b.firstSeq);
  laid.forEach((n, k) => (n.lane = k));
  return { incident, nodes: laid, edges: kept, transactions: txs, omitted, events: c.n };
}

// ---------------------------------------------------------------------------------------------
// The chart

export const EDGE_COLORS: Record<EdgeKind, string> = {
  fork: '#b07aa1',
  exec: '#9c9c9c',
  connect: '#f28e2b',
  accept: '#f28e2b',
  send: '#4e79a7',
  receive: '#59a14f',
  wait: '#76b7b2',
  late: '#a0a0a0',
  close: '#9c9c9c',
  file: '#8cb0d9',
  output: '#555555',
  input: '#555555',
  signal: '#b07aa1',
  error: '#d62728',
  exit: '#333333',
};
const FAILURE = '#d62728';
const NODE_FILL: Record<NodeKind, string> = {
  process: '#efe6f0',
  thread: '#f5eff6',
  endpoint: '#fdebd3',
  file: '#e3ecf6',
  files: '#e3ecf6',
  stdio: '#eeeeee',
  pipe: '#eeeeee',
};

export interface CausalMeta {
  chart: 'causal-graph';
  nodes: number;
  edges: number;
  failures: number;
  transactions: string[];
  omitted: number;
}

export type CausalSpec = ChartSpec<Record<string, unknown>, CausalMeta>;

function clip(s: string, chars: number): string {
  if (chars < 4) return '';
  return s.length > chars ? s.slice(0, chars - 1) + '…' : s;
}

/** The causal graph as a sequence diagram (vega-lite 5): lanes for nodes, numbered rows for edges. */
export function causalGraphSpec(g: CausalGraph, opts: { title?: string; laneWidth?: number } = {}): CausalSpec {
  const longest = Math.max(0, ...g.nodes.map((n) => n.label.length));
  const laneW = opts.laneWidth ?? Math.min(230, Math.max(150, Math.ceil(longest * 6.4 + 18)));
  const lanes = g.nodes.length;
  const rowH = 24;
  const rows = g.edges.length;
  const gutter = 1.2; // lanes' worth of room on the left for the tx names and times
  const width = Math.round((lanes + gutter - 0.4) * laneW);
  const height = Math.round((rows + 2.2) * rowH);
  const laneOf = new Map(g.nodes.map((n) => [n.id, n.lane]));
  const txOutcome = new Map(g.transactions.map((t) => [t.id, t.outcome]));

  const edgeRows = g.edges.map((e) => {
    const a = laneOf.get(e.from) ?? 0;
    const b = laneOf.get(e.to) ?? 0;
    const self = a === b;
    const text = `${e.order}. ${e.label}`;
    // A label goes above its arrow when it fits there, else to the right of the arrow's end (each
    // row holds one edge, so that side is free up to the last lane).
    const inside = !self && text.length * 6 <= Math.abs(b - a) * laneW - 14;
    const outsideAt = Math.max(a, b);
    const room = inside ? Math.abs(b - a) * laneW - 14 : (lanes - 0.5 - outsideAt) * laneW - 12;
    return {
      order: e.order,
      kind: e.kind,
      x: a,
      x2: b,
      mid: inside ? (a + b) / 2 : outsideAt,
      inside,
      head: self ? 'square' : b > a ? 'triangle-right' : 'triangle-left',
      head_x: self ? a : b > a ? b - 0.04 : b + 0.04,
      self,
      failed: e.failed,
      label: clip(text, Math.floor(room / 6)),
      full: e.label,
      time: `${formatMs(e.start_ms)}`,
      start_ms: e.start_ms,
      dur_ms: e.dur_ms,
      seq: e.seq,
      last_seq: e.lastSeq,
      calls: e.calls,
      tx: e.tx ?? '',
      from: g.nodes.find((n) => n.id === e.from)?.label ?? e.from,
      to: g.nodes.find((n) => n.id === e.to)?.label ?? e.to,
    };
  });

  // Transactions: a band over the rows and lanes of their edges, named in the gutter.
  const bands: Array<Record<string, unknown>> = [];
  for (const tx of g.transactions) {
    const mine = edgeRows.filter((e) => e.tx === tx.id);
    if (mine.length === 0) continue;
    const lo = Math.min(...mine.map((e) => e.order));
    const hi = Math.max(...mine.map((e) => e.order));
    const l = Math.min(...mine.map((e) => Math.min(e.x, e.x2)));
    const r = Math.max(...mine.map((e) => Math.max(e.x, e.x2)));
    const outcome = txOutcome.get(tx.id) ?? '';
    bands.push({
      tx: tx.id,
      x: l - 0.42,
      x2: r + 0.42,
      y: lo - 0.5,
      y2: hi + 0.5,
      ok: outcome === 'ok',
      label: tx.id,
      gx: -gutter + 0.05,
      gy: lo,
      detail: `${tx.id} · ${tx.kind} ${tx.resource} · ${outcome} · seq ${tx.firstSeq}–${tx.lastSeq}`,
    });
  }
  const nodeRows = g.nodes.map((n) => ({
    lane: n.lane,
    label: clip(n.label, Math.floor((laneW - 12) / 6.2)),
    full: n.label,
    kind: n.kind,
    fill: NODE_FILL[n.kind],
    failed: n.failed,
    top: 0.4,
    bottom: rows + 0.7,
  }));

  const kinds = Object.keys(EDGE_COLORS).filter((k) => g.edges.some((e) => e.kind === k));
  const x = (field: string): object => ({ field, type: 'quantitative', scale: { domain: [-gutter, lanes - 0.5], nice: false, zero: false }, axis: null });
  const y = (field: string): object => ({ field, type: 'quantitative', scale: { domain: [-1.2, rows + 1], nice: false, zero: false, reverse: true }, axis: null });
  const failures = g.edges.filter((e) => e.failed).length;
  const tooltip = [
    { field: 'order', type: 'quantitative', title: '#' },
    { field: 'full', type: 'nominal', title: 'what' },
    { field: 'from', type: 'nominal', title: 'from' },
    { field: 'to', type: 'nominal', title: 'to' },
    { field: 'start_ms', type: 'quantitative', title: 'at (ms)', format: ',.3f' },
    { field: 'dur_ms', type: 'quantitative', title: 'took (ms)', format: ',.3f' },
    { field: 'calls', type: 'quantitative', title: 'calls' },
    { field: 'seq', type: 'quantitative', title: 'seq', format: 'd' },
    { field: 'tx', type: 'nominal', title: 'transaction' },
  ];
  const subtitle =
    `${g.nodes.length} nodes · ${g.edges.length} edges in order · ${failures} failed (red) · ` +
    `${g.transactions.length} transaction${g.transactions.length === 1 ? '' : 's'}` +
    (g.omitted ? ` · ${g.omitted} more edges not drawn` : '') +
    (g.transactions.length ? ` · open one in a replay panel: panel(incident, { at: '${g.transactions[0].id}' })` : '');

  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: opts.title ?? `Causal graph${g.incident ? ` · ${g.incident}` : ''}`, subtitle, anchor: 'start' },
    width,
    height,
    data: { values: edgeRows },
    usermeta: { replaybook: { chart: 'causal-graph', nodes: g.nodes.length, edges: g.edges.length, failures, transactions: g.transactions.map((t) => t.id), omitted: g.omitted } },
    layer: [
      // Transactions.
      ...(bands.length
        ? [
            {
              data: { values: bands },
              mark: { type: 'rect', cornerRadius: 4, strokeWidth: 1 },
              encoding: {
                x: x('x'),
                x2: { field: 'x2' },
                y: y('y'),
                y2: { field: 'y2' },
                fill: { condition: { test: 'datum.ok', value: '#eaf4ea' }, value: '#fbeaea' },
                stroke: { condition: { test: 'datum.ok', value: '#9fcf9f' }, value: '#e6a5a5' },
                tooltip: [{ field: 'detail', type: 'nominal', title: 'transaction' }],
              },
            },
            {
              data: { values: bands },
              mark: { type: 'text', align: 'left', baseline: 'middle', fontSize: 11, fontWeight: 'bold' },
              encoding: {
                x: x('gx'),
                y: y('gy'),
                text: { field: 'label', type: 'nominal' },
                color: { condition: { test: 'datum.ok', value: '#2c7a2c' }, value: FAILURE },
                tooltip: [{ field: 'detail', type: 'nominal', title: 'transaction' }],
              },
            },
          ]
        : []),
      // Lanes.
      {
        data: { values: nodeRows },
        mark: { type: 'rule', color: '#bbbbbb', strokeDash: [3, 3] },
        encoding: { x: x('lane'), y: y('top'), y2: { field: 'bottom' } },
      },
      {
        data: { values: nodeRows.map((n) => ({ ...n, l: n.lane - 0.45, r: n.lane + 0.45, t: -1.1, b: -0.1 })) },
        mark: { type: 'rect', cornerRadius: 3 },
        encoding: {
          x: x('l'),
          x2: { field: 'r' },
          y: y('t'),
          y2: { field: 'b' },
          fill: { field: 'fill', type: 'nominal', scale: null },
          stroke: { condition: { test: 'datum.failed', value: FAILURE }, value: '#999999' },
          strokeWidth: { condition: { test: 'datum.failed', value: 2 }, value: 1 },
          tooltip: [
            { field: 'full', type: 'nominal', title: 'node' },
            { field: 'kind', type: 'nominal', title: 'kind' },
          ],
        },
      },
      {
        data: { values: nodeRows.map((n) => ({ ...n, y: -0.6 })) },
        mark: { type: 'text', fontSize: 11, baseline: 'middle' },
        encoding: {
          x: x('lane'),
          y: y('y'),
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: 'datum.failed', value: FAILURE }, value: '#1b1b1b' },
        },
      },
      // Edges: a line from its source lane to its target lane, an arrowhead, the label above.
      {
        transform: [{ filter: '!datum.self' }],
        mark: { type: 'rule', strokeWidth: 1.6 },
        encoding: {
          x: x('x'),
          x2: { field: 'x2' },
          y: y('order'),
          color: {
            condition: { test: 'datum.failed', value: FAILURE },
            field: 'kind',
            type: 'nominal',
            title: 'edge',
            scale: { domain: kinds, range: kinds.map((k) => EDGE_COLORS[k as EdgeKind]) },
            legend: { orient: 'bottom', direction: 'horizontal', columns: 8 },
          },
          strokeDash: { condition: { test: "datum.kind === 'late' || datum.kind === 'wait'", value: [4, 3] }, value: [1, 0] },
          tooltip,
        },
      },
      {
        mark: { type: 'point', filled: true, size: 60, opacity: 1 },
        encoding: {
          x: x('head_x'),
          y: y('order'),
          shape: { field: 'head', type: 'nominal', scale: null },
          color: { condition: { test: 'datum.failed', value: FAILURE }, field: 'kind', type: 'nominal' },
          tooltip,
        },
      },
      ...(['center', 'left'] as const).map((align) => ({
        transform: [{ filter: align === 'left' ? '!datum.inside' : 'datum.inside' }],
        mark: { type: 'text', align, baseline: align === 'left' ? 'middle' : 'bottom', dx: align === 'left' ? 8 : 0, dy: align === 'left' ? 0 : -2, fontSize: 10 },
        encoding: {
          x: x('mid'),
          y: y('order'),
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: 'datum.failed', value: FAILURE }, value: '#1b1b1b' },
          tooltip,
        },
      })),
      // Time of each edge, in the gutter.
      {
        mark: { type: 'text', align: 'right', baseline: 'middle', fontSize: 10, color: '#666666' },
        encoding: { x: { datum: -0.52, type: 'quantitative', scale: { domain: [-gutter, lanes - 0.5] } }, y: y('order'), text: { field: 'time', type: 'nominal' } },
      },
    ],
    config: { ...CHART_CONFIG, view: { stroke: null } },
  };
}
