// The Jupyter widget message protocol, version 2.1.0 (ipywidgets 8), on the kernel side: each
// widget model is a comm of target 'jupyter.widget' whose state the kernel and the front end keep
// in step: comm_open carries the full state, `update` a change (either way), `echo_update` the
// kernel's confirmation of a front-end change, `request_state` asks for everything, `custom`
// carries events such as a button's click. Binary values travel as buffers named by
// buffer_paths. The 'jupyter.widget.control' target answers a reconnecting front end's
// `request_states` with every live model.
import { Comm, openComm, registerCommTarget, type CommData } from './comm';

export const PROTOCOL_VERSION = '2.1.0';
export const WIDGET_TARGET = 'jupyter.widget';
export const CONTROL_TARGET = 'jupyter.widget.control';
export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';

export type WidgetState = Record<string, unknown>;
export interface Change<T = unknown> {
  name: string;
  old: T;
  new: T;
}

const live = new Map<string, WidgetModel>();

/** Pulls Buffers/Uint8Arrays out of a state: the JSON part, the buffers and where they were. */
export function splitBuffers(state: WidgetState): { state: WidgetState; buffers: Buffer[]; paths: Array<Array<string | number>> } {
  const buffers: Buffer[] = [];
  const paths: Array<Array<string | number>> = [];
  const walk = (v: unknown, at: Array<string | number>): unknown => {
    if (v instanceof Uint8Array) {
      buffers.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      paths.push(at);
      return null;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, i]));
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x, [...at, k]);
      return o;
    }
    return v;
  };
  return { state: walk(state, []) as WidgetState, buffers, paths };
}

/** Puts received buffers back where buffer_paths say. */
export function joinBuffers(state: WidgetState, paths: unknown, buffers: Buffer[]): WidgetState {
  if (!Array.isArray(paths)) return state;
  paths.forEach((p, i) => {
    if (!Array.isArray(p) || p.length === 0 || i >= buffers.length) return;
    let o = state as Record<string | number, unknown>;
    for (const k of p.slice(0, -1)) o = o[k as string] as Record<string | number, unknown>;
    o[p[p.length - 1] as string] = buffers[i];
  });
  return state;
}

/**
 * One widget model: its state mirrored in the front end. `set()` sends the changed keys;
 * changes from the front end update the state and fire 'change' listeners; custom messages
 * (a button's click) fire 'msg:custom' listeners.
 */
export class WidgetModel {
  readonly comm: Comm;
  private readonly state: WidgetState;
  private readonly listeners = new Map<string, Array<(x: unknown) => void>>();

  constructor(state: WidgetState) {
    this.state = { ...state };
    const { state: json, buffers, paths } = splitBuffers(this.state);
    this.comm = openComm(WIDGET_TARGET, { state: json, buffer_paths: paths }, { version: PROTOCOL_VERSION }, buffers);
    live.set(this.comm.id, this);
    this.comm.onMsg((data, bufs) => this.onMessage(data, bufs));
    this.comm.onClose(() => live.delete(this.comm.id));
  }

  get id(): string {
    return this.comm.id;
  }

  get<T = unknown>(key: string): T {
    return this.state[key] as T;
  }

  /** The full state (what comm_open sent, with later changes). */
  fullState(): WidgetState {
    return { ...this.state };
  }

  /** Changes keys here and in the front end; returns the keys that changed. */
  set(patch: WidgetState): string[] {
    const changed: WidgetState = {};
    for (const [k, v] of Object.entries(patch)) {
      if (sameValue(this.state[k], v)) continue;
      changed[k] = v;
    }
    const keys = Object.keys(changed);
    if (keys.length === 0) return keys;
    const old: WidgetState = {};
    for (const k of keys) {
      old[k] = this.state[k];
      this.state[k] = changed[k];
    }
    const { state, buffers, paths } = splitBuffers(changed);
    this.comm.send({ method: 'update', state, buffer_paths: paths }, buffers);
    for (const k of keys) this.emit('change', { name: k, old: old[k], new: changed[k] });
    return keys;
  }

  /** A custom message to the front-end view (`model.on('msg:custom')` there). */
  sendCustom(content: CommData, buffers: Buffer[] = []): void {
    this.comm.send({ method: 'custom', content }, buffers);
  }

  on(event: 'change', fn: (c: Change) => void): this;
  on(event: 'custom', fn: (content: CommData) => void): this;
  on(event: string, fn: (x: never) => void): this {
    const list = this.listeners.get(event) ?? [];
    list.push(fn as (x: unknown) => void);
    this.listeners.set(event, list);
    return this;
  }

  close(): void {
    this.comm.close();
  }

  private emit(event: string, x: unknown): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        const r = fn(x) as unknown;
        if (r instanceof Promise) r.catch((e: unknown) => report(event, e));
      } catch (e) {
        report(event, e);
      }
    }
  }

  private onMessage(data: CommData, buffers: Buffer[]): void {
    const method = data.method;
    if (method === 'update') {
      const incoming = joinBuffers((data.state ?? {}) as WidgetState, data.buffer_paths, buffers);
      // Echo first (protocol 2.1): the front end learns the kernel's view of what it sent.
      const { state, buffers: out, paths } = splitBuffers(incoming);
      this.comm.send({ method: 'echo_update', state, buffer_paths: paths }, out);
      const changes: Change[] = [];
      for (const [k, v] of Object.entries(incoming)) {
        if (sameValue(this.state[k], v)) continue;
        changes.push({ name: k, old: this.state[k], new: v });
        this.state[k] = v;
      }
      for (const c of changes) this.emit('change', c);
    } else if (method === 'request_state') {
      const { state, buffers: out, paths } = splitBuffers(this.state);
      this.comm.send({ method: 'update', state, buffer_paths: paths }, out);
    } else if (method === 'custom') {
      this.emit('custom', (data.content ?? {}) as CommData);
    }
  }
}

function report(event: string, e: unknown): void {
  process.stderr.write(`replaybook widget: a '${event}' listener failed: ${e instanceof Error ? e.message : String(e)}\n`);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) return false;
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

/** Every widget model the kernel holds open. */
export function liveModels(): WidgetModel[] {
  return [...live.values()];
}

let controlRegistered = false;
const managerHooks: Array<() => void> = [];

/** Runs `fn` each time a front end's widget manager connects (opens the control comm). */
export function onWidgetManager(fn: () => void): void {
  managerHooks.push(fn);
}

/** Answers a front end that reconnects and asks for every model's state (ipywidgets 8). */
export function registerWidgetTargets(): void {
  if (controlRegistered) return;
  controlRegistered = true;
  registerCommTarget(CONTROL_TARGET, (comm) => {
    for (const h of managerHooks) h();
    comm.onMsg((data) => {
      if (data.method !== 'request_states') return;
      const states: Record<string, unknown> = {};
      const buffers: Buffer[] = [];
      const paths: Array<Array<string | number>> = [];
      for (const m of live.values()) {
        const full = m.fullState();
        const split = splitBuffers(full);
        states[m.id] = { model_name: full._model_name, model_module: full._model_module, model_module_version: full._model_module_version, state: split.state };
        split.paths.forEach((p, i) => {
          paths.push([m.id, 'state', ...p]);
          buffers.push(split.buffers[i]);
        });
      }
      comm.send({ method: 'update_states', states, buffer_paths: paths }, buffers);
    });
  });
  // The front end may open models itself (ipywidgets' own front-end-created widgets); the
  // kernel keeps them as plain models so their comms are answered.
  registerCommTarget(WIDGET_TARGET, (comm, data) => {
    comm.onMsg((d) => {
      if (d.method === 'request_state') comm.send({ method: 'update', state: (data.state ?? {}) as CommData, buffer_paths: [] });
    });
  });
}
