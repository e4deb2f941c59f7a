// Jupyter comms on the kernel side: the registry of open comms and targets, fed by the kernel
// (kernel/launcher.js hands it comm_open / comm_msg / comm_close from the shell socket and gives
// it a transport that sends on iopub). Outside the kernel there is no transport: widgets can be
// built and inspected but send nothing.
import { randomBytes } from 'node:crypto';

export type CommMsgType = 'comm_open' | 'comm_msg' | 'comm_close';

/** How comm messages leave the kernel (iopub), with binary buffers as extra frames. */
export interface CommTransport {
  send(msgType: CommMsgType, content: Record<string, unknown>, buffers?: Buffer[], metadata?: Record<string, unknown>): void;
}

export type CommData = Record<string, unknown>;
type MsgHandler = (data: CommData, buffers: Buffer[]) => void;

let transport: CommTransport | null = null;
const comms = new Map<string, Comm>();
const targets = new Map<string, (comm: Comm, data: CommData, buffers: Buffer[]) => void>();

let cell: number | null = null;

/** The kernel names the cell it starts (its execution count): panels remember who opened them. */
export function setCurrentCell(n: number | null): void {
  cell = n;
}

export function currentCell(): number | null {
  return cell;
}

/** Called once by the kernel launcher. */
export function setCommTransport(t: CommTransport | null): void {
  transport = t;
}

export function hasCommTransport(): boolean {
  return transport !== null;
}

export class Comm {
  private handlers: MsgHandler[] = [];
  private closeHandlers: Array<() => void> = [];
  closed = false;

  constructor(
    readonly id: string,
    readonly target: string,
  ) {
    comms.set(id, this);
  }

  /** Messages from the front end. */
  onMsg(h: MsgHandler): void {
    this.handlers.push(h);
  }

  onClose(h: () => void): void {
    this.closeHandlers.push(h);
  }

  send(data: CommData, buffers: Buffer[] = [], metadata: Record<string, unknown> = {}): void {
    if (this.closed) return;
    transport?.send('comm_msg', { comm_id: this.id, data }, buffers, metadata);
  }

  /** Closes the comm on both sides. */
  close(data: CommData = {}): void {
    if (this.closed) return;
    transport?.send('comm_close', { comm_id: this.id, data });
    this.closedHere();
  }

  /** @internal */
  dispatch(data: CommData, buffers: Buffer[]): void {
    for (const h of this.handlers) {
      try {
        h(data, buffers);
      } catch (e) {
        process.stderr.write(`replaybook: comm ${this.target} message handler failed: ${(e as Error).stack ?? e}\n`);
      }
    }
  }

  /** @internal */
  closedHere(): void {
    if (this.closed) return;
    this.closed = true;
    comms.delete(this.id);
    for (const h of this.closeHandlers) h();
  }
}

/** Opens a comm from the kernel (comm_open on iopub). */
export function openComm(target: string, data: CommData, metadata: Record<string, unknown> = {}, buffers: Buffer[] = [], id = randomBytes(16).toString('hex')): Comm {
  const comm = new Comm(id, target);
  transport?.send('comm_open', { comm_id: id, target_name: target, data }, buffers, metadata);
  return comm;
}

/** Lets the front end open comms of this target (comm_open on the shell socket). */
export function registerCommTarget(name: string, open: (comm: Comm, data: CommData, buffers: Buffer[]) => void): void {
  targets.set(name, open);
}

/** The kernel's answer to comm_info_request: open comms, of one target or all. */
export function commInfo(targetName?: string): Record<string, { target_name: string }> {
  const out: Record<string, { target_name: string }> = {};
  for (const c of comms.values()) if (!targetName || c.target === targetName) out[c.id] = { target_name: c.target };
  return out;
}

/** A comm message from the front end, as the kernel received it on the shell socket. */
export function handleCommMessage(msgType: string, content: Record<string, unknown>, buffers: Buffer[]): void {
  const id = String(content.comm_id ?? '');
  const data = (content.data ?? {}) as CommData;
  if (msgType === 'comm_open') {
    const target = String(content.target_name ?? '');
    const open = targets.get(target);
    if (!open) {
      // No such target: close it, as ipykernel does, so the front end does not wait.
      transport?.send('comm_close', { comm_id: id, data: {} });
      return;
    }
    open(new Comm(id, target), data, buffers);
  } else if (msgType === 'comm_msg') {
    comms.get(id)?.dispatch(data, buffers);
  } else if (msgType === 'comm_close') {
    comms.get(id)?.closedHere();
  }
}
