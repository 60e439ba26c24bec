/**
 * One error class for everything oomkit raises on purpose. `code` is a stable string that
 * callers and tests match on; `cause` keeps the underlying error (an errno from the OS, a zod
 * issue list, ...). User errors (a bad flag, a missing folder, a malformed config) are kept
 * apart from bugs by `isUserError`: the CLI prints the former as one line with a documented exit
 * code and the latter with a stack.
 */
export type ErrorCode =
  /** A command-line flag or argument is wrong. */
  | "E_USAGE"
  /** A path given by the user does not exist or is not what was expected. */
  | "E_NO_SUCH_PATH"
  /** A configuration file or policy is invalid. */
  | "E_CONFIG"
  /** Text read from the kernel (or a fixture) could not be parsed. */
  | "E_PARSE"
  /** A file or folder could not be read or written for a reason other than it vanishing. */
  | "E_HOST_IO"
  /** The pid or cgroup vanished while being read: a normal race with the kernel. */
  | "E_VANISHED"
  /** This kernel or machine lacks what the operation needs. */
  | "E_UNSUPPORTED"
  /** The operation needs a privilege this process does not have. */
  | "E_PERMISSION"
  /** A system call failed. */
  | "E_SYSCALL"
  /** An operation did not finish in time. */
  | "E_TIMEOUT"
  /** Work that can wait (deciding ahead) stopped so that an event could be handled first. */
  | "E_PREEMPTED"
  /** An invariant of oomkit itself was broken: a bug. */
  | "E_INTERNAL";

const USER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "E_USAGE",
  "E_NO_SUCH_PATH",
  "E_CONFIG",
  "E_PERMISSION",
  "E_UNSUPPORTED",
]);

export class OomkitError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OomkitError";
    this.code = code;
  }
}

/** True when the error is the user's to fix (bad flag, path, config) rather than a bug. */
export function isUserError(err: unknown): err is OomkitError {
  return err instanceof OomkitError && USER_CODES.has(err.code);
}

/** The errno code (`ENOENT`, `ESRCH`, ...) of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  if (err instanceof OomkitError && err.cause !== undefined) return errnoCode(err.cause);
  return undefined;
}

/**
 * Errno codes that mean "the thing went away" (a pid exited, a cgroup was removed) or "this
 * kernel has no such file". Both are normal and never a reason to fail a whole snapshot.
 */
export function isVanished(err: unknown): boolean {
  if (err instanceof OomkitError && err.code === "E_VANISHED") return true;
  const code = errnoCode(err);
  return code === "ENOENT" || code === "ESRCH" || code === "ENODEV" || code === "ENOTDIR";
}
