// Store failures a person can act on. Every message says what happened and what to do; callers
// (CLI, notebook) print `message` as is, so it must read well without a stack trace.

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
  /** ClickHouse rejected a query or statement. */
  | 'query-failed';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** The store directory (or URL) the error is about. */
  readonly location: string;

  constructor(code: StoreErrorCode, message: string, location: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
    this.location = location;
  }
}

/** The message of whatever was thrown, for wrapping engine errors into StoreError text. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
