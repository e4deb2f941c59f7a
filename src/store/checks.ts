// Checks every store makes before it writes or reads, with the same messages whichever store it is.
import { RECORDING_RUN, type IncidentInfo, type RunInfo } from '../events/schema';
import { idProblem, shownId } from '../events/ids';
import { StoreError, messageOf } from './errors';
import { isSha256 } from './location';
import { checkInfo } from './spool';
import { SCHEMA_VERSION } from './sql';

export function checkId(what: string, id: unknown, location: string): void {
  if (typeof id !== 'string' || id.length === 0) {
    throw new StoreError('invalid', `The ${what} id must be a non-empty string (got ${typeof id === 'string' ? 'an empty one' : typeof id}).`, location);
  }
}

/** A new incident or run id: the id rule of events/ids.ts, else StoreError('invalid'). */
export function checkNewId(what: 'incident' | 'run', id: unknown, location: string): void {
  const problem = idProblem(id);
  if (problem !== null) throw new StoreError('invalid', `The ${what} id ${shownId(id)} cannot be stored: ${problem}.`, location);
}

/** An IncidentInfo / RunInfo that can be stored (ids, types), else StoreError('invalid'). */
export function checkRecord(kind: 'incident' | 'run', info: IncidentInfo | RunInfo, location: string): void {
  checkNewId('incident', info.incident_id, location);
  if (kind === 'run') {
    const run = info as RunInfo;
    checkNewId('run', run.run_id, location);
    if (run.run_id === RECORDING_RUN) {
      throw new StoreError('invalid', `'${RECORDING_RUN}' is the run id of the recording itself; give the replay run another id.`, location);
    }
  }
  try {
    checkInfo(kind, info);
  } catch (err) {
    throw new StoreError('invalid', `The ${kind} info cannot be stored: ${messageOf(err)}.`, location, { cause: err });
  }
}

export function checkSha(sha256: string, location: string): void {
  if (!isSha256(sha256)) {
    throw new StoreError('invalid', `${JSON.stringify(sha256)} is not a sha256 (64 lowercase hex digits).`, location);
  }
}

/** `incident 'X'` or `run 'R' of incident 'X'`, for messages. */
export function describeRecord(kind: 'incident' | 'run', info: { incident_id: string; run_id?: string }): string {
  return kind === 'incident' ? `incident ${shownId(info.incident_id)}` : `run ${shownId(info.run_id)} of incident ${shownId(info.incident_id)}`;
}

/**
 * A store's schema version against this replaybook's: a newer store cannot be read, an older one
 * (none was ever released) is damaged. `elsewhere` says how to use another store instead.
 */
export function checkSchemaVersion(version: number, location: string, elsewhere: string): void {
  if (version > SCHEMA_VERSION) {
    throw new StoreError(
      'newer-schema',
      `The store at ${location} was written by a newer replaybook (schema ${version}; ` +
        `this one reads up to ${SCHEMA_VERSION}). Upgrade replaybook, or ${elsewhere}.`,
      location,
    );
  }
  if (version < 1) {
    throw new StoreError(
      'unreadable',
      `The store at ${location} has no valid schema version (found ${version}). It is ` +
        `damaged; move it away and let replaybook create a new one, or ${elsewhere}.`,
      location,
    );
  }
}
