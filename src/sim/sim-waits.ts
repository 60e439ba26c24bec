/**
 * The Host's waits (src/os/host.ts HostWaits) over the simulated machine, in virtual time: a PSI
 * trigger is the model's own (./psi.ts fires it by the kernel's stall/window rule as the machine
 * steps), and an exit wait looks at the model every few virtual ms through the scheduler.
 * Like the kernel's trigger poll, an event that fired while nobody waited is kept (one, not a
 * count) and handed to the next wait.
 */
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import type { HostWaits, PsiTriggerHandle, PsiTriggerSpec, PsiWaitOutcome } from "../os/host.js";
import { CGROUP_FS, procPressure } from "../os/paths.js";
import { type Scheduler, sleep } from "../os/scheduler.js";
import { errno } from "./files.js";
import type { SimMachine } from "./machine.js";

/** How often an exit wait looks again, in virtual ms (the kill backend polls cgroup.events as often). */
const EXIT_POLL_MS = 5;

/** The cgroup whose pressure `file` is ("/" for /proc/pressure/memory), or undefined. */
function pressureCgroup(file: string): string | undefined {
  const p = path.posix.normalize(file);
  if (p === procPressure("memory")) return "/";
  if (p.startsWith(`${CGROUP_FS}/`) && p.endsWith("/memory.pressure")) return p.slice(CGROUP_FS.length, -"/memory.pressure".length) || "/";
  return undefined;
}

export function simWaits(machine: SimMachine, scheduler: Scheduler, sync: () => void): HostWaits {
  return {
    psiTrigger(file: string, spec: PsiTriggerSpec): PsiTriggerHandle {
      sync();
      const cg = pressureCgroup(file);
      if (cg === undefined || !machine.cgroup(cg)) {
        throw new OomkitError("E_UNSUPPORTED", `PSI trigger on ${file}: no such pressure file on this machine`, { cause: errno("ENOENT") });
      }
      const t = machine.psiTrigger(cg, spec.kind, spec.stallUsec, spec.windowUsec);
      let pending = false;
      let waiter: ((o: PsiWaitOutcome) => void) | undefined;
      t.onFire = () => {
        if (waiter) {
          const w = waiter;
          waiter = undefined;
          w("fired");
        } else pending = true;
      };
      return {
        file,
        spec,
        wait(timeoutMs, signal) {
          if (!machine.cgroup(cg)) return Promise.reject(new OomkitError("E_VANISHED", `${file} went away: its cgroup was removed`));
          if (pending) {
            pending = false;
            return Promise.resolve("fired");
          }
          if (signal?.aborted) return Promise.resolve("timeout");
          return new Promise<PsiWaitOutcome>((resolve) => {
            const done = (o: PsiWaitOutcome) => {
              timer?.cancel();
              signal?.removeEventListener("abort", onAbort);
              waiter = undefined;
              resolve(o);
            };
            const onAbort = () => done("timeout");
            const timer = timeoutMs >= 0 ? scheduler.after(timeoutMs, () => done("timeout")) : undefined;
            signal?.addEventListener("abort", onAbort, { once: true });
            waiter = done;
          });
        },
        close: () => t.close(),
      };
    },

    async waitExit(pid, timeoutMs, signal) {
      const t0 = scheduler.clock.monotonicMs();
      for (;;) {
        sync();
        if (!machine.task(pid)) return "exited";
        const waited = scheduler.clock.monotonicMs() - t0;
        if (signal?.aborted || (timeoutMs >= 0 && waited >= timeoutMs)) return "timeout";
        await sleep(scheduler, timeoutMs >= 0 ? Math.min(EXIT_POLL_MS, timeoutMs - waited) : EXIT_POLL_MS, signal);
      }
    },
  };
}
