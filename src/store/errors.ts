// Store failures a person can act on. Every message says what happened and what to do; callers
// (CLI, notebook) print `message` as is, so it must read well without a stack trace.
import { ReplaybookError } from '../errors';

export type StoreErrorCode =
  /** Another process holds the chDB directory and did not release it in time. */
  | 'locked'
  /** The directory exists but chDB cannot open it (permissions, damage, another data directory). */
  | 'unreadable'
  /** The store was written by a newer replaybook. */
  | 'newer-schema'
  /** No incident / run with this id. */
  | 'not-found'
  /** An incident / run with this id already exists. */
  | 'exists'
  /** The caller passed something the store cannot keep (bad id, schema mismatch, missing blob file). */
  | 'invalid'
  /** The store has no blob with this sha256. */
  | 'blob-missing'
  /** A spool entry cannot be read; it was set aside, not deleted. */
  | 'corrupt-spool'
  /** A spooled recording could not be ingested (it stays in the spool and is retried). */
  | 'ingest-failed'
  /** The disk holding the store (or its spool) is full; the message names it and the space needed. */
  | 'disk-full'
  /** ClickHouse rejected a query or statement. */
  | 'query-failed'
  /** The ClickHouse server cannot be reached (refused, unknown host). */
  | 'unreachable'
  /** The ClickHouse server refused the user or password. */
  | 'auth-failed'
  /** The ClickHouse server did not answer in time. */
  | 'timeout'
  /** The ClickHouse server lacks what the store needs (version, formats, query parameters). */
  | 'too-old'
  /** A transfer was cut short (connection dropped, answer or insert incomplete). */
  | 'interrupted';

/** A ReplaybookError, so the CLI and the notebook show its message, not a stack trace. */
export class StoreError extends ReplaybookError {
  declare readonly code: StoreErrorCode;
  /** The store directory (or URL) the error is about. */
  readonly location: string;

  constructor(code: StoreErrorCode, message: string, location: string, options?: { cause?: unknown }) {
    super(code, message);
    this.name = 'StoreError';
    this.location = location;
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/** The message of whatever was thrown, for wrapping engine errors into StoreError text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
