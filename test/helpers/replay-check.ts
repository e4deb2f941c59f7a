// Records a program, replays it at full speed and reports what a faithful replay must keep equal:
// stdout, exit status and the syscall sequence (names, resources, return values, bytes in and
// out; never pointers). Shared by the per-syscall suite and the corpus of real programs.
import * as net from 'node:net';
import { Table, type RecordBatch } from 'apache-arrow';
import type { EventRow } from '../../src/events/schema';
import { record, type RecordResult } from '../../src/record/record';
import { replay, type RunResult } from '../../src/replay/replay';
import { ReplaySession } from '../../src/replay/session';
import type { EventStore } from '../../src/store/types';
import { syscallByName } from '../../src/inject/syscalls';

export async function rows(batches: RecordBatch[] | AsyncIterable<RecordBatch>): Promise<EventRow[]> {
  const all: RecordBatch[] = [];
  for await (const b of batches as AsyncIterable<RecordBatch>) all.push(b);
  return new Table(all).toArray().map((r) => r.toJSON() as unknown as EventRow);
}

/** data_in without the addresses the engine's table marks in it (clone3's pointers...). */
function inputBytes(e: EventRow): string {
  const b = Buffer.from(e.data_in);
  for (const [off, len] of syscallByName(e.name)?.addressFields ?? []) if (off < b.length) b.fill(0, off, Math.min(b.length, off + len));
  return b.toString('hex');
}

/** The ret of a call that never returned (the process ended while it was in it). */
const UNFINISHED = -(2n ** 63n);

/**
 * What "the same syscall sequence" means: names, fds, sizes, bytes; never pointers. A call that
 * never returned because its process ended with exit_group is a race of the exit (whether the
 * thread got that far before the kernel took it), not part of the program's path.
 */
export function sequence(events: EventRow[]): string[] {
  const exited = new Set(events.filter((e) => e.kind === 'syscall' && e.name === 'exit_group').map((e) => e.pid));
  return events
    .filter((e) => e.kind === 'syscall')
    .filter((e) => !(exited.has(e.pid) && BigInt(e.ret) === UNFINISHED))
    .map((e) => `${e.name} ${e.resource} ret=${e.ret} in=${inputBytes(e)} out=${Buffer.from(e.data_out).toString('hex')}`);
}

/** The first index where two sequences differ, with both lines (for a readable failure). */
export function firstDifference(a: string[], b: string[]): string | null {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `#${i}\n  recorded: ${a[i]?.slice(0, 400)}\n  replayed: ${b[i]?.slice(0, 400)}`;
  }
  return null;
}

export interface Checked {
  recorded: EventRow[];
  run: RunResult;
  /** null when the replay's syscall sequence equals the recording's. */
  sequenceDiff: string | null;
  /** Both sequences, as sequence() renders them. */
  recordedSequence: string[];
  replayedSequence: string[];
}

export interface RecordOpts {
  incident: string;
  command: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  store: EventStore;
  /** false: record with fixed addresses (record --no-aslr). */
  aslr?: boolean;
  /** record --fast / --schedule (docs/fast-path.md). */
  fast?: boolean;
  schedule?: 'serial' | 'parallel';
}

export async function recordOnly(o: RecordOpts): Promise<EventRow[]> {
  return (await recordWithWarnings(o)).events;
}

/** Records, and returns the recording's events with the warnings the recorder gave. */
export async function recordWithWarnings(o: RecordOpts): Promise<{ events: EventRow[]; warnings: string[]; fast?: RecordResult['fast'] }> {
  const r = await record({ incident: o.incident, command: o.command, env: o.env, cwd: o.cwd, store: o.store, aslr: o.aslr, fast: o.fast, schedule: o.schedule });
  return { events: await rows(o.store.events(o.incident)), warnings: r.warnings, fast: r.fast };
}

/** Replays a recorded incident at speed 'max' and compares it with its recording. */
export async function replayAndCompare(incident: string, store: EventStore, recorded: EventRow[]): Promise<Checked> {
  const run = await replay(incident, { store, speed: 'max', ephemeral: true });
  const recordedSequence = sequence(recorded);
  const replayedSequence = sequence(await rows(run.batches));
  return { recorded, run, sequenceDiff: firstDifference(recordedSequence, replayedSequence), recordedSequence, replayedSequence };
}

/** A listener on the recorded port that counts who connects while the replay runs. */
export async function watchPort(port: number): Promise<{ contacts: () => number; close(): Promise<void> }> {
  let n = 0;
  const trap = net.createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    trap.once('error', reject);
    trap.listen(port, '127.0.0.1', resolve);
  });
  return { contacts: () => n, close: () => new Promise<void>((resolve) => trap.close(() => resolve())) };
}

/**
 * What `look` sees in a fresh session of `incident` fast-forwarded to `target` (the reference a
 * jump through checkpoints must land in). `checkpoints: false` keeps the engine from taking any.
 */
export async function lookAfterFreshJump<T>(incident: string, store: EventStore, target: number, look: (s: ReplaySession) => Promise<T>, checkpoints = true): Promise<T> {
  const fresh = await ReplaySession.open(incident, { store, speed: 'max', ephemeral: true }, { paused: true, checkpoints });
  try {
    await fresh.jumpTo(target);
    return await look(fresh);
  } finally {
    await fresh.stop();
  }
}
