// Transactions: how an analyst finds the part of a long-running service's incident to replay.
// Each accepted connection (a request the service served) and each outgoing connection (a call
// it made) becomes one transaction with its timing, bytes and outcome, read from the event log.
import type { Table } from 'apache-arrow';
import { errnoLabel } from '../events/errno';
import { argWithRole, movedBytes, payloadOf, receivesData, sendsData, syscallByName } from '../events/syscalls';

export interface Transaction {
  /** 'tx-1', 'tx-2'... in order of their first event. */
  id: string;
  kind: 'outgoing' | 'accepted';
  /** The endpoint, as the log names it: tcp:10.0.0.5:443. */
  resource: string;
  pid: number;
  tid: number;
  fd: number;
  firstSeq: number;
  lastSeq: number;
  /** Recorded time of the first and last event, ns since the recording started. */
  startNs: bigint;
  endNs: bigint;
  /** Bytes the service sent and received on it. */
  bytesSent: number;
  bytesReceived: number;
  /** The first bytes sent and received (text preview). */
  request: string;
  response: string;
  /** 'ok' (an answer came), 'no answer', or the first error (e.g. 'connect: ECONNREFUSED'). */
  outcome: string;
  events: number;
}

function preview(bytes: Uint8Array, max = 80): string {
  const s = Buffer.from(bytes.subarray(0, max)).toString('latin1');
  return s.replace(/[^\x20-\x7e]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** The transactions in an incident's (or a run's) events, ordered by their first event. */
export function transactions(events: Table): Transaction[] {
  const col = (n: string) => {
    const c = events.getChild(n);
    if (!c) throw new Error(`event table has no column '${n}'`);
    return c;
  };
  const seqC = col('seq'), pidC = col('pid'), tidC = col('tid'), nameC = col('name'), argsC = col('args');
  const retC = col('ret'), enterC = col('enter_ns'), durC = col('dur_ns'), resC = col('resource');
  const inC = col('data_in'), outC = col('data_out'), kindC = col('kind');
  const open = new Map<string, Transaction>(); // pid:fd -> transaction
  const all: Transaction[] = [];
  const order = Array.from({ length: events.numRows }, (_, i) => i).sort((a, b) => Number((seqC.get(a) as bigint) - (seqC.get(b) as bigint)));
  for (const i of order) {
    if (kindC.get(i) !== 'syscall') continue;
    const name = nameC.get(i) as string;
    const resource = resC.get(i) as string;
    const pid = pidC.get(i) as number;
    const args = argsC.get(i) as { get(k: number): bigint } | null;
    const ret = retC.get(i) as bigint;
    const seq = Number(seqC.get(i) as bigint);
    const end = (enterC.get(i) as bigint) + (durC.get(i) as bigint);
    const row = syscallByName(name);
    const isNet = resource.startsWith('tcp:') || resource.startsWith('udp:') || resource.startsWith('unix:');
    // An in-kernel copy (sendfile...) sends what it moved to its destination fd.
    const moved = movedBytes(name, outC.get(i) as Uint8Array);
    let fd = args ? Number(args.get(moved ? argWithRole(name, 'dst') : 0)) : -1;
    let tx: Transaction | undefined;
    if (row?.handler === 'connect' && isNet) {
      tx = {
        id: '', kind: 'outgoing', resource, pid, tid: tidC.get(i) as number, fd, firstSeq: seq, lastSeq: seq,
        startNs: enterC.get(i) as bigint, endNs: end, bytesSent: 0, bytesReceived: 0, request: '', response: '',
        outcome: ret < 0n && ret !== -115n ? `connect: ${errnoLabel(Number(-ret)) ?? `errno ${-ret}`}` : 'no answer', events: 0,
      };
      open.set(`${pid}:${fd}`, tx);
      all.push(tx);
    } else if (row?.fdEffect === 'accepts' && ret >= 0n && isNet) {
      fd = Number(ret);
      tx = {
        id: '', kind: 'accepted', resource, pid, tid: tidC.get(i) as number, fd, firstSeq: seq, lastSeq: seq,
        startNs: enterC.get(i) as bigint, endNs: end, bytesSent: 0, bytesReceived: 0, request: '', response: '',
        outcome: 'no answer', events: 0,
      };
      open.set(`${pid}:${fd}`, tx);
      all.push(tx);
    } else {
      tx = open.get(`${pid}:${fd}`);
      if (!tx || tx.resource !== resource) continue;
    }
    tx.events++;
    tx.lastSeq = seq;
    tx.endNs = end;
    if ((sendsData(name) || moved) && ret > 0n) {
      // What the service sends is the request of a call it makes, the response of one it serves.
      if (!tx.bytesSent) {
        const sent = moved ?? payloadOf(name, inC.get(i) as Uint8Array, true, Number(ret));
        if (tx.kind === 'outgoing') tx.request = preview(sent);
        else tx.response = preview(sent);
      }
      tx.bytesSent += Number(ret);
    } else if (receivesData(name) && ret > 0n) {
      if (!tx.bytesReceived) {
        if (tx.kind === 'outgoing') tx.response = preview(payloadOf(name, outC.get(i) as Uint8Array, false, Number(ret)));
        else tx.request = preview(payloadOf(name, outC.get(i) as Uint8Array, false, Number(ret)));
      }
      tx.bytesReceived += Number(ret);
    } else if (ret < 0n && row?.handler !== 'connect' && tx.outcome === 'no answer') {
      tx.outcome = `${name}: ${errnoLabel(Number(-ret)) ?? `errno ${-ret}`}`;
    }
    if (row?.fdEffect === 'closes') open.delete(`${pid}:${fd}`);
  }
  // An outgoing call is answered when bytes come back; an accepted one when the service replies.
  for (const tx of all) {
    if (tx.outcome === 'no answer' && (tx.kind === 'outgoing' ? tx.bytesReceived : tx.bytesSent) > 0) tx.outcome = 'ok';
  }
  all.forEach((tx, k) => (tx.id = `tx-${k + 1}`));
  return all;
}
