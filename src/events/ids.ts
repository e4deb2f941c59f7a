// The one rule for incident and run ids, wherever they come from: `record --incident`, a pack, a
// spool entry, a server, a library call. An id is a file name, a CLI argument and a table key at
// once, so it is short, has no path or quoting characters, and never starts with '-' (a command
// would read it as an option: `replaybook rm --help2` could never name it).
import { ReplaybookError } from '../errors';

export const ID_MAX_LENGTH = 128;
const ID = /^[A-Za-z0-9._:][A-Za-z0-9._:-]{0,127}$/;
/** What a valid id looks like, for messages. */
export const ID_RULE = `1-${ID_MAX_LENGTH} letters, digits, '.', '_', ':' or '-', not starting with '-'`;

/** Why `id` is not a valid id, or null when it is. */
export function idProblem(id: unknown): string | null {
  if (typeof id !== 'string') return `it is ${id === null ? 'null' : typeof id}, not a string`;
  if (id.length === 0) return 'it is empty';
  if (id.length > ID_MAX_LENGTH) return `it has ${id.length} characters (at most ${ID_MAX_LENGTH})`;
  if (id.startsWith('-')) return "it starts with '-', which commands read as an option";
  if (!ID.test(id)) return "it has a character other than letters, digits, '.', '_', ':' and '-'";
  return null;
}

export function isValidId(id: unknown): id is string {
  return idProblem(id) === null;
}

/**
 * An id for a message: quoted, with anything unprintable escaped and a long one cut to its first
 * 40 characters plus its length, so a hostile id never floods a terminal.
 */
export function shownId(id: unknown): string {
  const s = typeof id === 'string' ? id : String(id);
  const cut = s.length > 48 ? `${s.slice(0, 40)}...' (${s.length} characters)` : `${s}'`;
  return `'${cut.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
}

/** Throws ReplaybookError('bad_incident_id') unless `id` follows the id rule. */
export function checkIncidentId(id: unknown, what: 'incident' | 'run' = 'incident'): asserts id is string {
  const problem = idProblem(id);
  if (problem !== null) {
    throw new ReplaybookError(`bad_${what}_id`, `${what} id ${shownId(id)} is not valid: ${problem}; use ${ID_RULE}`);
  }
}
