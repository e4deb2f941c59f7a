// Runs the native engine process for one recording or replay. The engine owns ptrace; this module
// owns the process (spawn, input, interruption). What crosses the pipes is protocol.ts's.
import * as fs from 'node:fs';
import type { RecordBatch } from 'apache-arrow';
import { fromRecordBatch } from './columns';
import { ENGINE_PATH, EngineError, nativeAddon } from '../addon';
import {
  FRAME_CONFIG,
  FRAME_CONTROL,
  FRAME_END,
  FRAME_EVENTS,
  FRAME_EXITED,
  FRAME_MESSAGE,
  decodeMessage,
  encodeConfig,
  encodeControl,
  type ControlVerb,
  type EngineConfig,
  type EngineMessage,
} from './protocol';
import type { EventColumns, NativeAddon } from './native';

export { ENGINE_PATH, EngineError, PACKAGE_ROOT, nativeAddon } from '../addon';
export type { EngineMessage } from './protocol';

/** What a run does with the engine's output, and its replay input. */
export interface EngineHooks {
  /** Replay: the recorded events. */
  input?: AsyncIterable<RecordBatch> | Iterable<RecordBatch>;
  onEvents(columns: EventColumns): void;
  onMessage?(message: EngineMessage): void;
  /** Aborting kills the engine, which takes the traced program with it. */
  signal?: AbortSignal;
}

export type EngineRunOptions = EngineConfig & EngineHooks;

export interface EngineExit {
  code: number | null;
  signal: number | null;
  messages: EngineMessage[];
}

/** A running engine: its outcome, and for a replay a channel for control commands. */
export interface EngineRun {
  readonly done: Promise<EngineExit>;
  /** The engine's process id. */
  readonly pid: number;
  /** Sends a control verb to a running replay. */
  control(verb: ControlVerb): void;
  /** Asks the engine to stop: it kills and reaps its tracee, then exits. */
  stop(): void;
}

let ownGroups = false;

/**
 * Engines started from now on lead process groups of their own. The notebook kernel sets this:
 * Jupyter's interrupt signals the kernel's whole process group, and the kernel itself decides
 * which runs an interrupt stops (those of the interrupted cell). In a terminal the engines stay
 * in the command's group, so a traced program can still read the terminal.
 */
export function setEngineProcessGroups(own: boolean): void {
  ownGroups = own;
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
  let pid = 0;
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
          const msg = decodeMessage(Buffer.from(data).toString('utf8'));
          messages.push(msg);
          o.onMessage?.(msg);
        }
      } catch (e) {
        failure ??= e as Error;
        kill();
      }
    }, ownGroups);
    input = handle.input;
    pid = handle.pid;
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
    pid,
    control(verb: ControlVerb): void {
      const command = encodeControl(verb);
      if (inputSent) writeControl(command);
      else queued.push(command);
    },
    stop: () => kill(),
  };
}

// The input stays open until the engine exits (a replay takes control commands on it);
// startEngine closes it then.
async function sendInput(native: NativeAddon, fd: number, o: EngineRunOptions): Promise<void> {
  native.writeFrame(fd, FRAME_CONFIG, Buffer.from(encodeConfig(o), 'utf8'));
  if (o.input) {
    for await (const batch of o.input) {
      if (batch.numRows > 0) native.writeFrame(fd, FRAME_EVENTS, native.encodeEvents(fromRecordBatch(batch)));
    }
  }
  native.writeFrame(fd, FRAME_END, new Uint8Array(0));
}
