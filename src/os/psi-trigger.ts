/**
 * PSI triggers: the kernel wakes a poller with POLLPRI when tasks stalled on a resource for more
 * than `stallUsec` within any `windowUsec` (Documentation/accounting/psi.rst). A trigger lives as
 * long as its fd; closing the fd removes it. Waiting goes through an FdPoller, never blocking
 * the event loop.
 *
 * What the kernel accepts: a window of 500 ms to 10 s and a stall no longer than the window.
 * Without CAP_SYS_RESOURCE, kernels from 6.5 accept only windows that are multiples of 2 s, and
 * earlier ones refuse to open a pressure file for writing at all.
 */
import { closeSync, openSync, writeSync, constants as fsConstants } from "node:fs";
import { OomkitError, errnoCode } from "../errors.js";
import type { PsiTriggerHandle, PsiTriggerSpec, PsiWaitOutcome } from "./host.js";
import { POLLERR, POLLNVAL, POLLPRI, defaultPoller, type FdPoller } from "./poller.js";

export type { PsiKind, PsiTriggerSpec, PsiWaitOutcome } from "./host.js";

/** The kernel's limits (kernel/sched/psi.c: WINDOW_MIN_US, WINDOW_MAX_US). */
export const PSI_WINDOW_MIN_USEC = 500_000;
export const PSI_WINDOW_MAX_USEC = 10_000_000;
/** Unprivileged triggers (6.5+) need windows that are multiples of the 2 s averaging period. */
export const PSI_UNPRIVILEGED_WINDOW_USEC = 2_000_000;

export function formatTrigger(spec: PsiTriggerSpec): string {
  return `${spec.kind} ${spec.stallUsec} ${spec.windowUsec}`;
}


export class PsiTrigger implements PsiTriggerHandle {
  private fd: number | undefined;

  private constructor(
    /** The pressure file (`/proc/pressure/memory`, `<cgroup>/memory.pressure`, ...). */
    readonly file: string,
    readonly spec: PsiTriggerSpec,
    fd: number,
    private readonly poller: FdPoller,
  ) {
    this.fd = fd;
  }

  /** Registers the trigger. Throws OomkitError with what to do when the kernel refuses it. */
  static open(file: string, spec: PsiTriggerSpec, opts: { poller?: FdPoller } = {}): PsiTrigger {
    const text = formatTrigger(spec);
    let fd: number;
    try {
      fd = openSync(file, fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw refused(file, text, err, "open");
    }
    try {
      // /proc/pressure/* overwrites the last byte written with a NUL (psi_write), so the string
      // goes with its terminating NUL, as in the kernel's own example (strlen + 1).
      writeSync(fd, Buffer.from(`${text}\0`));
    } catch (err) {
      closeSync(fd);
      throw refused(file, text, err, "write");
    }
    return new PsiTrigger(file, spec, fd, opts.poller ?? defaultPoller());
  }

  /**
   * Resolves "fired" when the kernel signals the trigger (at most once per window), or "timeout".
   * Throws E_VANISHED when the cgroup was removed under the trigger.
   */
  async wait(timeoutMs: number, signal?: AbortSignal): Promise<PsiWaitOutcome> {
    if (this.fd === undefined) throw new OomkitError("E_INTERNAL", `PSI trigger on ${this.file} used after close`);
    const r = await this.poller.wait(this.fd, POLLPRI, timeoutMs, signal);
    if (r.kind === "timeout") return "timeout";
    if (r.revents & POLLNVAL) throw new OomkitError("E_INTERNAL", `PSI trigger fd on ${this.file} was closed while being waited on`);
    if (r.revents & POLLERR) throw new OomkitError("E_VANISHED", `${this.file} went away: its cgroup was removed`);
    return "fired";
  }

  /** Removes the trigger. Do not close while a wait is pending. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function refused(file: string, text: string, err: unknown, step: "open" | "write"): OomkitError {
  const code = errnoCode(err);
  const what = `PSI trigger "${text}" on ${file}`;
  switch (code) {
    case "ENOENT":
      return new OomkitError("E_UNSUPPORTED", `${what}: ${file} does not exist (no PSI on this kernel, or the cgroup is gone); boot with psi=1`, { cause: err });
    case "EOPNOTSUPP":
      return new OomkitError("E_UNSUPPORTED", `${what}: PSI is disabled on this kernel; boot with psi=1`, { cause: err });
    case "EINVAL":
      return new OomkitError(
        "E_CONFIG",
        `${what}: the kernel refused it (EINVAL): the window must be ${PSI_WINDOW_MIN_USEC / 1000} ms to ${PSI_WINDOW_MAX_USEC / 1000} ms ` +
          `and the stall no longer than the window; without CAP_SYS_RESOURCE, a multiple of ${PSI_UNPRIVILEGED_WINDOW_USEC / 1000} ms`,
        { cause: err },
      );
    case "EPERM":
    case "EACCES":
      return new OomkitError(
        "E_PERMISSION",
        `${what}: the kernel refused to ${step} it (${code}): triggers need CAP_SYS_RESOURCE, ` +
          `or on Linux 6.5+ a window that is a multiple of ${PSI_UNPRIVILEGED_WINDOW_USEC / 1000} ms`,
        { cause: err },
      );
    case "EBUSY":
      return new OomkitError("E_INTERNAL", `${what}: this fd already has a trigger`, { cause: err });
    default:
      return new OomkitError("E_SYSCALL", `${what}: ${step} failed (${code ?? String(err)})`, { cause: err });
  }
}
