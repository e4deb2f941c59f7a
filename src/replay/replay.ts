// Replaying an incident: the recorded binary runs under the engine's replayer with every
// emulated syscall served from the log; the run is stored with its own events.
import { Table } from 'apache-arrow';
import { ReplaySession } from './session';
import type { ReplayOptions, RunResult } from './run';

export type { ReplayOptions, RunResult, Speed, Divergence, DivergentCall, InjectionReport, Unrecorded } from './run';

/** Replays an incident to its end (a ReplaySession run straight through). */
export async function replay(incidentId: string, o: ReplayOptions): Promise<RunResult> {
  // Nothing pauses it: simple calls are answered in-process at speed max unless told otherwise.
  const session = await ReplaySession.open(incidentId, { ...o, inProcess: o.inProcess ?? true }, { checkpoints: false });
  return session.done;
}

/** The run's events as one Arrow table. */
export function runTable(run: RunResult): Table {
  return new Table(run.batches);
}
