// The events of a replay run as they are served. A long replay serves millions of events, more than
// a process should hold: past a budget of bytes, what is in memory is written to a segment file
// (one Arrow IPC stream) in a private temporary directory, and read back one segment at a time
// when the events are iterated (to store the run, to read its output) or all at once when asked
// for as an array (RunResult.batches). The directory goes when the RunEvents is garbage-collected
// (its session and the run's result are gone) or the process exits.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RecordBatchReader, RecordBatchStreamWriter, type RecordBatch } from 'apache-arrow';
import { PRIVATE_DIR, PRIVATE_FILE } from '../store/private';

/** Bytes of a run's events (and of the recorded log kept for restarts) held in memory by default. */
export const DEFAULT_EVENT_MEMORY = 32 << 20;

interface Segment {
  file: string;
  /** Rows of the file that belong to the run, from its start (fewer after truncate()). */
  rows: number;
}

// Directories of live RunEvents: removed at exit, or when their owner is collected.
const liveDirs = new Set<string>();
let exitHook = false;
const collected = new FinalizationRegistry<string>((dir) => removeDir(dir));

function removeDir(dir: string): void {
  liveDirs.delete(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The size of a batch's buffers (a slice counts the buffers it shares). */
export function batchBytes(b: RecordBatch): number {
  return b.data.byteLength;
}

function readSegment(file: string): RecordBatch[] {
  return RecordBatchReader.from(fs.readFileSync(file)).readAll();
}

/** `batches` cut to their first `rows` rows. */
function* firstRows(batches: Iterable<RecordBatch>, rows: number): Generator<RecordBatch> {
  let left = rows;
  for (const b of batches) {
    if (left <= 0) return;
    const take = Math.min(b.numRows, left);
    yield take === b.numRows ? b : b.slice(0, take);
    left -= take;
  }
}

export class RunEvents {
  private segments: Segment[] = [];
  private mem: RecordBatch[] = [];
  private memRows = 0;
  private memBytes = 0;
  private dir: string | null = null;
  private written = 0;
  private all: RecordBatch[] | null = null;

  /** `budget`: bytes of batches kept in memory before they are written to disk. */
  constructor(private readonly budget = DEFAULT_EVENT_MEMORY) {}

  /** Rows (events) held. */
  get rows(): number {
    return this.segments.reduce((n, s) => n + s.rows, 0) + this.memRows;
  }

  /** Whether some events are on disk rather than in memory. */
  get spilled(): boolean {
    return this.segments.length > 0;
  }

  push(b: RecordBatch): void {
    this.mem.push(b);
    this.memRows += b.numRows;
    this.memBytes += batchBytes(b);
    this.all = null;
    if (this.memBytes > this.budget) this.spill();
  }

  /** Keeps the first `rows` events (a replay gone back to a checkpoint serves the rest anew). */
  truncate(rows: number): void {
    if (rows >= this.rows) return;
    this.all = null;
    let left = rows;
    const kept: Segment[] = [];
    for (const s of this.segments) {
      if (left <= 0) break;
      kept.push({ file: s.file, rows: Math.min(s.rows, left) });
      left -= Math.min(s.rows, left);
    }
    for (const s of this.segments.slice(kept.length)) fs.rmSync(s.file, { force: true });
    this.segments = kept;
    this.mem = [...firstRows(this.mem, left)];
    this.memRows = Math.max(0, left);
    this.memBytes = this.mem.reduce((n, b) => n + batchBytes(b), 0);
  }

  /**
   * The events from row `from` on, as held when called (events pushed meanwhile are not
   * included), reading one segment at a time.
   */
  async *batches(from = 0): AsyncGenerator<RecordBatch> {
    const parts: (() => Iterable<RecordBatch>)[] = [
      ...this.segments.map((s) => () => firstRows(readSegment(s.file), s.rows)),
      ...(this.mem.length ? [() => [...this.mem]] : []),
    ];
    let at = 0;
    for (const part of parts) {
      for (const b of part()) {
        const end = at + b.numRows;
        if (end > from) yield at >= from ? b : b.slice(from - at);
        at = end;
      }
    }
  }

  /** Every event in memory, read back from disk where it was written (kept once read). */
  toArray(): RecordBatch[] {
    this.all ??= [...this.segments.flatMap((s) => [...firstRows(readSegment(s.file), s.rows)]), ...this.mem];
    return this.all;
  }

  /** Removes the files now (the events on disk are gone). */
  dispose(): void {
    collected.unregister(this);
    if (this.dir) removeDir(this.dir);
    this.dir = null;
    this.segments = [];
  }

  private spill(): void {
    if (!this.dir) {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replaybook-run-'));
      fs.chmodSync(this.dir, PRIVATE_DIR);
      liveDirs.add(this.dir);
      collected.register(this, this.dir, this);
      if (!exitHook) {
        exitHook = true;
        process.once('exit', () => {
          for (const d of [...liveDirs]) removeDir(d);
        });
      }
    }
    const file = path.join(this.dir, `${this.written++}.arrows`);
    fs.writeFileSync(file, RecordBatchStreamWriter.writeAll(this.mem).toUint8Array(true), { mode: PRIVATE_FILE });
    this.segments.push({ file, rows: this.memRows });
    this.mem = [];
    this.memRows = 0;
    this.memBytes = 0;
  }
}
