// The pidfd kill path on the machine running the tests: no cgroups, no privileges beyond
// signalling our own child processes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { once } from "node:events";
import { test } from "node:test";
import { OomkitError } from "../../../src/errors.js";
import { closePidfd, killTask, pidfdOpen, pidfdSendSignal, processMrelease, waitPidfdReadable } from "../../../src/os/kill.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { LinuxHost } from "../../../src/os/linux-host.js";
import { parseProcStat } from "../../../src/os/parse/proc.js";
import { procPid } from "../../../src/os/paths.js";
import { POLLIN, defaultPoller } from "../../../src/os/poller.js";
import { PsiTrigger } from "../../../src/os/psi-trigger.js";
import { buildFixture } from "../../support/fixture.js";

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

const host = new LinuxHost();
const startTime = (pid: number) => parseProcStat(readFileSync(procPid(pid, "stat"), "utf8")).startTimeTicks;
const AT_ONCE = { graceMs: 0, waitMs: 5000 };

test("the kill sequence kills, releases and waits; a vanished or reused pid is an outcome, not an error", async () => {
  const a = sleeper();
  const st = startTime(a.pid);
  const r = await killTask(host, { pid: a.pid, startTimeTicks: st }, AT_ONCE);
  assert.equal(r.kind, "exited");
  if (r.kind !== "exited") return;
  assert.equal(r.escalated, false);
  assert.ok(r.mrelease === "released" || r.mrelease === "already-exited", `mrelease: ${r.mrelease}`);
  assert.ok(r.exitMs >= r.signalMs);
  assert.deepEqual(await a.exited, [null, "SIGKILL"]);
  assert.deepEqual(await killTask(host, { pid: a.pid, startTimeTicks: st }, AT_ONCE), { kind: "vanished" });

  const b = sleeper();
  assert.deepEqual(await killTask(host, { pid: b.pid, startTimeTicks: startTime(b.pid) + 1 }, AT_ONCE), { kind: "pid-reused" });
  assert.equal(b.child.exitCode, null, "a pid whose start time differs is left alone");
  b.child.kill("SIGKILL");
  await b.exited;
});

test("the kill sequence: a victim that leaves on SIGTERM within the grace gets no SIGKILL", async () => {
  const a = sleeper();
  const r = await killTask(host, { pid: a.pid, startTimeTicks: startTime(a.pid) }, { ...AT_ONCE, graceMs: 5000 });
  assert.deepEqual({ kind: r.kind, escalated: r.kind === "exited" && r.escalated, mrelease: r.kind === "exited" && r.mrelease }, { kind: "exited", escalated: false, mrelease: "skipped" });
  assert.deepEqual(await a.exited, [null, "SIGTERM"]);
});

test("the kill sequence signals its target alone, never a whole process group", async () => {
  const leader = spawn("sh", ["-c", "sleep 600 & echo $!; wait"], { stdio: ["ignore", "pipe", "ignore"], detached: true });
  assert.ok(leader.pid);
  const exited = once(leader, "exit");
  const [line] = (await once(leader.stdout, "data")) as [Buffer];
  const member = Number(line.toString().trim());
  const memberFd = pidfdOpen(member);
  try {
    const r = await killTask(host, { pid: leader.pid, startTimeTicks: startTime(leader.pid) }, AT_ONCE);
    assert.equal(r.kind, "exited");
    await exited;
    assert.notEqual(parseProcStat(readFileSync(procPid(member, "stat"), "utf8")).state, "Z", "the member the verifier never saw lives on");
  } finally {
    // Leave nothing of ours running.
    try {
      pidfdSendSignal(memberFd, "SIGKILL");
    } catch {
      /* already gone */
    }
    await waitPidfdReadable(memberFd, 5000);
    closePidfd(memberFd);
    leader.kill("SIGKILL");
  }
});

test("the kill sequence refuses a Host whose pids are not this machine's", async () => {
  const fixture = new FixtureHost(buildFixture({ tasks: [{ pid: process.pid, comm: "node" }] }));
  await assert.rejects(
    killTask(fixture, { pid: process.pid, startTimeTicks: startTime(process.pid) }, AT_ONCE),
    (err: unknown) => err instanceof OomkitError && err.code === "E_INTERNAL" && /not this machine's processes/.test(err.message),
  );
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
    aborter.abort();
    assert.deepEqual(await aborted, { kind: "timeout" });
    for (const k of kids) k.child.kill("SIGKILL");
    assert.deepEqual(await Promise.all(waits), ["exited", "exited", "exited"]);
    clearInterval(timer);
    // The 5 ms interval falls due before the 50 ms sleep ends, so it ran unless the waits blocked
    // the loop (counting more ticks than one would measure the machine's load, not the poller).
    assert.ok(ticks > 0, "the event loop kept running while the waits were pending");
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
