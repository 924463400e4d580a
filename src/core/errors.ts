// SPDX-License-Identifier: Apache-2.0
// Errors that reach the user as one line. Anything else is a bug and is reported as such.

/** A problem the user can fix: printed as one line, exit status 1. */
export class MemscopeError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Bad command-line input: exit status 2, like other Unix tools. */
export class UsageError extends MemscopeError {
  constructor(message: string) {
    super(message, 2);
  }
}
