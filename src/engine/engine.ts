// Runs the native engine process for one recording or replay. The engine owns ptrace; this module
// owns the pipe protocol (config, replay input, batches and messages back) and interruption.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { fromRecordBatch } from './columns';
import { ReplaybookError } from '../errors';
import { percentEncode } from '../inject/serialize';
import type { EventColumns, NativeAddon } from './native';

const FRAME_EXITED = 0;
const FRAME_CONFIG = 1;
const FRAME_EVENTS = 2;
const FRAME_MESSAGE = 3;
const FRAME_END = 4;
const FRAME_CONTROL = 5;

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
const BUILD_DIR = path.join(PACKAGE_ROOT, 'native', 'build', 'Release');
export const ENGINE_PATH = path.join(BUILD_DIR, 'replaybook-engine');

let addon: NativeAddon | undefined;

/** The native addon, loaded on first use with a message that says how to build it. */
export function nativeAddon(): NativeAddon {
  if (!addon) {
    const file = path.join(BUILD_DIR, 'replaybook.node');
    if (!fs.existsSync(file) || !fs.existsSync(ENGINE_PATH)) {
      throw new EngineError(
        'not_built',
        `the native engine is not built (${file} is missing): run \`npm install\` (or \`npm run build\`) in ${PACKAGE_ROOT}`,
      );
    }
    addon = require(file) as NativeAddon;
  }
  return addon;
}

/** The engine could not run (not built, crashed, interrupted). */
export class EngineError extends ReplaybookError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'EngineError';
  }
}

/** A JSON message from the engine: started, file, exit, divergence, error. */
export interface EngineMessage {
  type: string;
  [key: string]: unknown;
}

export interface EngineRunOptions {
  mode: 'record' | 'replay';
  exe: string;
  argv: string[];
  env: string[];
  cwd: string;
  pin: boolean;
  /** Record: turn ASLR off for the service (opt-in; replays always run with fixed addresses). */
  fixedAddresses?: boolean;
  /** Replay speed factor; 'max' serves without waiting. */
  speed?: number | 'max';
  /** Replay: recorded path -> local file holding its recorded bytes. */
  files?: Map<string, string>;
  /** Replay: run in a network namespace of its own (default false). */
  isolateNetwork?: boolean;
  /** Replay: pause before serving the event with this seq (fast-forward target). */
  pauseAt?: bigint;
  /** Replay: pause before the first event. */
  startPaused?: boolean;
  /**
   * Record: read on sockets the service closed and log what still arrives as late_data events
   * (native/late_data.h). Omitted: the engine's defaults (on; 5000 ms, 1 MiB, 64 sockets).
   */
  lateData?: { enabled: boolean; ms?: number; bytes?: number; sockets?: number };
  /**
   * Record: the directory where the engine copies each file the service maps, when it maps it
   * (message `file` with `copy`, or `error` when it could not). The caller stores and removes it.
   */
  captureDir?: string;
  /** Replay: further config lines (injections, policy; native/inject.h, engine_main.cc). */
  config?: string[];
  /** Replay: the recorded events. */
  input?: AsyncIterable<RecordBatch> | Iterable<RecordBatch>;
  onEvents(columns: EventColumns): void;
  onMessage?(message: EngineMessage): void;
  /** Aborting kills the engine, which takes the traced program with it. */
  signal?: AbortSignal;
}

export interface EngineExit {
  code: number | null;
  signal: number | null;
  messages: EngineMessage[];
}

// Config values are one word: the engine decodes %XX back to the byte (UTF-8 bytes, so any text
// survives).
const escape = percentEncode;

function configText(o: EngineRunOptions): string {
  const lines = [`mode ${o.mode}`, `exe ${escape(o.exe)}`, `cwd ${escape(o.cwd)}`, `pin ${o.pin ? 1 : 0}`];
  for (const a of o.argv) lines.push(`arg ${escape(a)}`);
  for (const e of o.env) lines.push(`env ${escape(e)}`);
  if (o.isolateNetwork) lines.push('isolate_network 1');
  if (o.fixedAddresses) lines.push('fixed_addresses 1');
  if (o.pauseAt !== undefined) lines.push(`pause_at ${o.pauseAt}`);
  if (o.startPaused) lines.push('start_paused 1');
  if (o.lateData) {
    lines.push(`late_data ${o.lateData.enabled ? 1 : 0}`);
    if (o.lateData.ms !== undefined) lines.push(`late_data_ms ${o.lateData.ms}`);
    if (o.lateData.bytes !== undefined) lines.push(`late_data_bytes ${o.lateData.bytes}`);
    if (o.lateData.sockets !== undefined) lines.push(`late_data_sockets ${o.lateData.sockets}`);
  }
  if (o.captureDir) lines.push(`capture_dir ${escape(o.captureDir)}`);
  if (o.speed !== undefined) lines.push(`speed ${o.speed === 'max' ? 'max' : String(o.speed)}`);
  for (const [recorded, local] of o.files ?? []) lines.push(`file ${escape(recorded)} ${escape(local)}`);
  lines.push(...(o.config ?? []));
  return lines.join('\n') + '\n';
}

/** A running engine: its outcome, and for a replay a channel for control commands. */
export interface EngineRun {
  readonly done: Promise<EngineExit>;
  /** Sends a control command to a running replay (see native/replayer.cc). */
  control(command: string): void;
  /** Asks the engine to stop: it kills and reaps its tracee, then exits. */
  stop(): void;
}

/** Runs the engine to completion. Resolves when the engine has exited and been reaped. */
export function runEngine(o: EngineRunOptions): Promise<EngineExit> {
  return startEngine(o).done;
}

export function startEngine(o: EngineRunOptions): EngineRun {
  const native = nativeAddon();
  const messages: EngineMessage[] = [];
  let input = -1;
  let exited = false;
  // Control commands wait until the recorded events are all sent (they share the pipe).
  let inputSent = false;
  const queued: string[] = [];
  let kill = (): void => undefined;
  const done = new Promise<EngineExit>((resolve, reject) => {
    let failure: Error | undefined;
    const handle = native.spawnEngine(ENGINE_PATH, (type, data, code, signal) => {
      try {
        if (type === FRAME_EXITED) {
          exited = true;
          clearTimeout(killTimer);
          o.signal?.removeEventListener('abort', onAbort);
          closeInput();
          if (failure) reject(failure);
          else resolve({ code: code ?? null, signal: signal ?? null, messages });
        } else if (type === FRAME_EVENTS && data) {
          o.onEvents(native.decodeEvents(data));
        } else if (type === FRAME_MESSAGE && data) {
          const msg = JSON.parse(Buffer.from(data).toString('utf8')) as EngineMessage;
          messages.push(msg);
          o.onMessage?.(msg);
        }
      } catch (e) {
        failure ??= e as Error;
        kill();
      }
    });
    input = handle.input;
    let killTimer: NodeJS.Timeout | undefined;
    // SIGTERM lets the engine kill and reap its tracee; SIGKILL if it does not exit soon.
    kill = (): void => {
      if (exited) return;
      try {
        process.kill(handle.pid, 'SIGTERM');
      } catch {
        return; // already gone
      }
      killTimer ??= setTimeout(() => {
        try {
          process.kill(handle.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }, 3000);
    };
    function onAbort(): void {
      failure ??= new EngineError('interrupted', 'interrupted: the run was stopped and its program killed');
      kill();
    }
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    sendInput(native, handle.input, o).then(
      () => {
        inputSent = true;
        for (const c of queued.splice(0)) writeControl(c);
      },
      (e: Error) => {
        failure ??= e;
        kill();
      },
    );
  });
  function closeInput(): void {
    if (input < 0) return;
    try {
      fs.closeSync(input);
    } catch {
      // already closed
    }
    input = -1;
  }
  function writeControl(command: string): void {
    if (exited || input < 0) return;
    try {
      native.writeFrame(input, FRAME_CONTROL, Buffer.from(command, 'utf8'));
    } catch {
      // the engine is exiting: its outcome arrives through `done`
    }
  }
  return {
    done,
    control(command: string): void {
      if (inputSent) writeControl(command);
      else queued.push(command);
    },
    stop: () => kill(),
  };
}

// The input stays open until the engine exits (a replay takes control commands on it);
// startEngine closes it then.
async function sendInput(native: NativeAddon, fd: number, o: EngineRunOptions): Promise<void> {
  native.writeFrame(fd, FRAME_CONFIG, Buffer.from(configText(o), 'utf8'));
  if (o.input) {
    for await (const batch of o.input) {
      if (batch.numRows > 0) native.writeFrame(fd, FRAME_EVENTS, native.encodeEvents(fromRecordBatch(batch)));
    }
  }
  native.writeFrame(fd, FRAME_END, new Uint8Array(0));
}
