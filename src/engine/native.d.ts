// Everything the native addon (native/addon.cc) exports. The rest of replaybook is TypeScript.

/** A variable-width column laid out as Arrow lays out Binary/Utf8: offsets (n + 1) and bytes. */
export interface VarColumn {
  offsets: Int32Array;
  data: Uint8Array;
}

/** One event batch as typed-array views over the engine's buffer (no copies). */
export interface EventColumns {
  n: number;
  seq: BigUint64Array;
  pid: Int32Array;
  tid: Int32Array;
  nr: Int32Array;
  /** Six per event. */
  args: BigUint64Array;
  ret: BigInt64Array;
  enter_ns: BigInt64Array;
  dur_ns: BigInt64Array;
  /** Index into EVENT_KINDS. */
  kind: Uint8Array;
  name: VarColumn;
  resource: VarColumn;
  data_in: VarColumn;
  data_out: VarColumn;
}

export interface EngineHandle {
  pid: number;
  /** Write end of the engine's input pipe. */
  input: number;
}

/** One row of the engine's syscall table (native/syscalls.cc). */
/** A row of the engine's syscall table, in the table's own words (src/events/syscall-types.ts).
 * Read only by scripts/gen-syscall-table.js; TypeScript reads the generated view. */
export type SyscallRow = import('../events/syscall-types').SyscallInfo;

export interface NativeAddon {
  /**
   * Starts the engine executable. `onFrame` receives each frame it sends, then one call with
   * type 0 and its exit code or signal number once it has exited and been reaped.
   */
  spawnEngine(
    enginePath: string,
    onFrame: (type: number, data: ArrayBuffer | null, code?: number | null, signal?: number | null) => void,
    /** Start the engine in a process group of its own (signals to ours do not reach it). */
    ownGroup?: boolean,
  ): EngineHandle;
  decodeEvents(data: ArrayBuffer): EventColumns;
  encodeEvents(columns: EventColumns): Buffer;
  /** Writes one frame to a pipe (blocking) and, with `close`, closes it afterwards. */
  writeFrame(fd: number, type: number, data: Uint8Array, close?: boolean): void;
  /** Every syscall the engine knows, in table order. */
  syscallTable(): SyscallRow[];
}
