/**
 * The one base class of errors a user can fix (bad flags, bad data, a
 * checkpoint that does not fit the run, a backend this machine lacks).
 *
 * Every script's shell (`lib/cli/shell.ts`) prints a `UserError` as its
 * message alone and exits with status 1; anything else is a bug and prints
 * its stack. Each module that raises user errors defines one subclass, so
 * callers can still tell them apart with `instanceof`.
 *
 * @example
 * ```ts
 * class ThingError extends UserError {}
 * try {
 *   throw new ThingError("things.csv, row 3: no thing");
 * } catch (e) {
 *   if (e instanceof UserError) console.error(e.message); // no stack trace
 * }
 * ```
 *
 * @module
 */

/** A problem the user can fix; its message is the whole story. */
export class UserError extends Error {
  /** Creates the error; `name` becomes the subclass's name. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
