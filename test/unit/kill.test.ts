// The pidfd kill path on the machine running the tests: no cgroups, no privileges beyond
// signalling our own child processes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { test } from "node:test";
import { OomkitError } from "../../src/errors.js";
import { closePidfd, killTask, pidfdOpen, pidfdSendSignal, processMrelease, waitPidfdReadable } from "../../src/os/kill.js";
import { POLLIN, defaultPoller } from "../../src/os/poller.js";
import { PsiTrigger } from "../../src/os/psi-trigger.js";

function sleeper() {
  const child = spawn("sleep", ["600"], { stdio: "ignore" });
  assert.ok(child.pid);
  return { child, pid: child.pid, exited: once(child, "exit") };
}

test("pidfd SIGKILL, process_mrelease and waiting for the pidfd to turn readable", async () => {
  const { pid, exited } = sleeper();
  const pidfd = pidfdOpen(pid);
  try {
    assert.equal(await waitPidfdReadable(pidfd, 50), "timeout", "a live process's pidfd is not readable");
    await assert.rejects(processMrelease(pidfd), (err: unknown) => err instanceof OomkitError && err.code === "E_SYSCALL" && /not exiting/.test(err.message));
    pidfdSendSignal(pidfd, "SIGKILL");
    assert.match(await processMrelease(pidfd), /^(released|already-exited)$/);
    assert.equal(await waitPidfdReadable(pidfd, 5000), "exited");
    assert.deepEqual(await exited, [null, "SIGKILL"]);
    // The zombie is reaped by now: mrelease reports it as already gone, which is success.
    assert.equal(await processMrelease(pidfd), "already-exited");
    assert.throws(() => pidfdSendSignal(pidfd, "SIGKILL"), (err: unknown) => err instanceof OomkitError && err.code === "E_VANISHED");
  } finally {
    closePidfd(pidfd);
  }
});

test("killTask kills, releases and waits; a vanished or reused pid is an outcome, not an error", async () => {
  const a = sleeper();
  const r = await killTask(a.pid, { waitMs: 5000 });
  assert.equal(r.kind, "killed");
  if (r.kind !== "killed") return;
  assert.equal(r.exited, true);
  assert.ok(r.mrelease === "released" || r.mrelease === "already-exited", `mrelease: ${JSON.stringify(r.mrelease)}`);
  assert.ok(r.timings.exitMs !== undefined && r.timings.exitMs >= r.timings.signalMs);
  await a.exited;
  assert.deepEqual(await killTask(a.pid), { kind: "vanished", pid: a.pid });

  const b = sleeper();
  const reused = await killTask(b.pid, { expectedStartTimeTicks: 1 });
  assert.equal(reused.kind, "pid-reused");
  assert.equal(b.child.exitCode, null, "a pid whose start time differs is left alone");
  b.child.kill("SIGKILL");
  await b.exited;
});

test("opening a pidfd for a pid that does not exist is E_VANISHED", () => {
  assert.throws(() => pidfdOpen(2 ** 22 + 1), (err: unknown) => err instanceof OomkitError && err.code === "E_VANISHED");
});

test("one poller waits on many fds at once and honours aborts, without blocking the event loop", async () => {
  const kids = [sleeper(), sleeper(), sleeper()];
  const fds = kids.map((k) => pidfdOpen(k.pid));
  try {
    const waits = fds.map((fd) => waitPidfdReadable(fd, 10_000));
    const aborter = new AbortController();
    const aborted = defaultPoller().wait(fds[0]!, POLLIN, 10_000, aborter.signal);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await new Promise((r) => setTimeout(r, 50));
    // The 5 ms interval expires before the 50 ms timeout, so it has run at least once by now,
    // however loaded the machine: a blocked event loop would have run neither.
    const ticksWhileWaiting = ticks;
    aborter.abort();
    assert.deepEqual(await aborted, { kind: "timeout" });
    for (const k of kids) k.child.kill("SIGKILL");
    assert.deepEqual(await Promise.all(waits), ["exited", "exited", "exited"]);
    clearInterval(timer);
    assert.ok(ticksWhileWaiting >= 1, `the event loop kept running while four waits were pending (${ticksWhileWaiting} ticks)`);
  } finally {
    fds.forEach(closePidfd);
  }
});

test("a PSI trigger window the kernel refuses is a clear error", { skip: existsSync("/proc/pressure/memory") ? false : "no PSI on this kernel" }, () => {
  assert.throws(
    () => PsiTrigger.open("/proc/pressure/memory", { kind: "some", stallUsec: 150_000, windowUsec: 100 }),
    // EINVAL, or EPERM on kernels before 6.5 without CAP_SYS_RESOURCE.
    (err: unknown) => err instanceof OomkitError && (err.code === "E_CONFIG" || err.code === "E_PERMISSION") && /some 150000 100/.test(err.message),
  );
});
