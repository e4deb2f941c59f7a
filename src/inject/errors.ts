// Errors of injections: a malformed spec (rejected before a replay starts, with where and why),
// and an injection that cannot be applied to the recorded command or file.
import { ReplaybookError } from '../errors';

/**
 * A malformed injection. For a parsed spec the message is
 * `<flag> <spec>: <reason> (column N)[; did you mean X?]`, N counting from 1 at the first
 * character of the spec (after the flag); for a builder call (`fail('read', 'EIOX')`) the column
 * is null and the message `<call>: <reason>`.
 */
export class InjectionSpecError extends ReplaybookError {
  constructor(
    /** `--inject`, `--latency`, `--timeout`, `--fault`, or the builder call (`fail(...)`). */
    readonly flag: string,
    /** The spec as given (for a builder: its arguments, rendered). */
    readonly spec: string,
    /** 1-based column in spec, or null for a builder. */
    readonly column: number | null,
    readonly reason: string,
    /** A likely intended value for a misspelt one (EIO for EIOX). */
    readonly hint: string | null = null,
  ) {
    super(
      'inject_spec',
      (column === null ? `${flag}: ${reason}` : `${flag} ${spec}: ${reason} (column ${column})`) + (hint ? `; did you mean ${hint}?` : ''),
    );
    this.name = 'InjectionSpecError';
  }
}

/** An injection that does not fit the recorded run: a flag that is absent, a key not in a file. */
export class InjectionApplyError extends ReplaybookError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'InjectionApplyError';
  }
}

/**
 * A problem with one field, at `at` characters into it; the parser turns it into an
 * InjectionSpecError with the field's column, a builder into one naming the call.
 */
export class FieldError extends Error {
  constructor(
    readonly reason: string,
    readonly at = 0,
    readonly hint: string | null = null,
  ) {
    super(reason);
  }
}
