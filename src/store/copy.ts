// Copying an incident with its runs and blobs from one store to another: the embedded store on an
// analyst's machine and a team's ClickHouse server, in either direction. Events stream from one
// store into the other; nothing holds a whole incident in memory.
import { storedFileShas, type IncidentInfo } from '../events/schema';
import { StoreError } from './errors';
import type { EventStore } from './types';
import { shownId } from '../events/ids';

export interface Copied {
  /** 'copied', or 'present' when the target already had the incident (only missing runs were copied). */
  incident: 'copied' | 'present';
  events: number;
  /** Replay runs copied (those the target lacked). */
  runs: number;
  /** Blobs the incident refers to (the target stores those it lacks). */
  blobs: number;
}

/** Every blob an incident refers to: its executable and each mapped file. */
export function blobsOf(info: IncidentInfo): string[] {
  return [...new Set([info.exe_sha256, ...storedFileShas(info)])];
}

/**
 * Copies incident `id` from `from` to `to`: blobs, events and incident row, then each replay run
 * the target lacks. Running it again after an interruption finishes the copy.
 */
export async function copyIncident(from: EventStore, to: EventStore, id: string): Promise<Copied> {
  const info = await from.incident(id);
  if (!info) throw new StoreError('not-found', `The store at ${from.location} has no incident ${shownId(id)}.`, from.location);
  const blobs = new Map<string, string>();
  for (const sha of blobsOf(info)) blobs.set(sha, await from.blobFile(sha));

  let incident: Copied['incident'] = 'present';
  if (!(await to.incident(id))) {
    await to.putIncident(info, from.events(id), blobs);
    incident = 'copied';
  }
  const present = new Set((await to.runs(id)).map((r) => r.run_id));
  let runs = 0;
  for (const run of await from.runs(id)) {
    if (present.has(run.run_id)) continue;
    await to.putRun(run, from.events(id, run.run_id));
    runs++;
  }
  return { incident, events: info.event_count, runs, blobs: blobs.size };
}
