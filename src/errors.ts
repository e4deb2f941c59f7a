// Errors a user can act on: a stable code for programs and a one-line message for people.
import { inspect } from 'node:util';

export class ReplaybookError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ReplaybookError';
  }

  /** A notebook cell that fails prints this line, not a stack trace of our internals. */
  [inspect.custom](): string {
    return `${this.name}: ${this.message}`;
  }
}
