// Errors a user can act on: a stable code for programs and a one-line message for people.
export class ReplaybookError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ReplaybookError';
  }
}
