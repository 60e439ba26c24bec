import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LinuxBackend } from "../../../src/os/backend.js";
import { LinuxHost } from "../../../src/os/linux-host.js";
import { parseProcStat } from "../../../src/os/parse/proc.js";
import { LiveExecutor } from "../../../src/engine/executor.js";
import type { KillBackend, KillNotice, TaskKillOutcome } from "../../../src/os/kill-port.js";
import { Engine } from "../../../src/engine/engine.js";
import { VictimRegistry } from "../../../src/engine/victims.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { OomkitError } from "../../../src/errors.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { hostIoError } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture } from "../../support/fixture.js";

function startTime(pid: number): number {
  return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8")).startTimeTicks;
}

function start(cmd: string): Promise<ChildProcess & { pid: number }> {
  const c = spawn("sh", ["-c", `${cmd}`], { stdio: ["ignore", "pipe", "ignore"] });
  return new Promise((resolve, reject) => {
    c.once("error", reject);
    c.stdout?.once("data", () => resolve(c as ChildProcess & { pid: number }));
  });
}

describe("LinuxBackend on this machine (processes we start)", () => {
  const backend = new LinuxBackend({ host: new LinuxHost(), cgroupMount: undefined });

  test("SIGKILL through a pidfd, then the victim is gone", async () => {
    const c = await start("echo up; exec sleep 60");
    const out = await backend.killTask({ pid: c.pid, startTimeTicks: startTime(c.pid), comm: "sleep" }, { graceMs: 0, waitMs: 5000 });
    assert.equal(out.kind, "exited");
    assert.ok(out.kind === "exited" && !out.escalated);
    assert.ok(out.kind === "exited" && ["released", "already-exited", "unsupported"].includes(out.mrelease), `mrelease: ${out.kind === "exited" && out.mrelease}`);
  });

  test("SIGTERM first; a victim that ignores it is killed after the grace period", async () => {
    const polite = await start("echo up; exec sleep 60");
    const p = await backend.killTask({ pid: polite.pid, startTimeTicks: startTime(polite.pid), comm: "sleep" }, { graceMs: 2000, waitMs: 5000 });
    assert.ok(p.kind === "exited" && !p.escalated, "SIGTERM was enough");
    const stubborn = await start(`trap "" TERM; echo up; exec sleep 60`);
    const s = await backend.killTask({ pid: stubborn.pid, startTimeTicks: startTime(stubborn.pid), comm: "sleep" }, { graceMs: 200, waitMs: 5000 });
    assert.ok(s.kind === "exited" && s.escalated, "SIGKILL after the grace");
  });

  test("a pid whose start time changed is not killed (pid reuse)", async () => {
    const c = await start("echo up; exec sleep 60");
    try {
      const out = await backend.killTask({ pid: c.pid, startTimeTicks: startTime(c.pid) + 1, comm: "sleep" }, { graceMs: 0, waitMs: 100 });
      assert.equal(out.kind, "pid-reused");
      assert.equal(c.exitCode, null);
      assert.ok(fs.existsSync(`/proc/${c.pid}`), "still alive");
    } finally {
      c.kill("SIGKILL");
    }
  });

  test("a process that already exited is 'vanished'", async () => {
    const c = await start("echo up; exec sleep 60");
    const st = startTime(c.pid);
    c.kill("SIGKILL");
    await new Promise((r) => c.once("exit", r));
    const out = await backend.killTask({ pid: c.pid, startTimeTicks: st, comm: "sleep" }, { graceMs: 0, waitMs: 100 });
    assert.equal(out.kind, "vanished");
  });

  test("removing a file reports the bytes it held", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-rm-"));
    fs.writeFileSync(path.join(dir, "f"), Buffer.alloc(4096));
    assert.equal(await backend.removeFile(path.join(dir, "f")), 4096);
    assert.equal(await backend.removeFile(path.join(dir, "f")), 0);
  });

  test("the pre-kill hook runs without oomkit's protections and is bounded by its timeout", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-hook-"));
    const out = path.join(dir, "out");
    const hooked = new LinuxBackend({ host: new LinuxHost(), cgroupMount: undefined, preKillHook: { command: ["sh", "-c", `cat /proc/self/oom_score_adj > ${out}; echo "$OOMKIT_ACTION $OOMKIT_PID" >> ${out}`], timeoutMs: 5000 } });
    const kill: KillNotice = { kind: "kill-task", description: "kill pid 4242 (x)", pid: 4242 };
    assert.equal(await hooked.preKillHook(kill), undefined);
    assert.deepEqual(fs.readFileSync(out, "utf8").split("\n").slice(0, 2), ["0", "kill-task 4242"]);
    const slow = new LinuxBackend({ host: new LinuxHost(), cgroupMount: undefined, preKillHook: { command: ["sleep", "30"], timeoutMs: 100 } });
    assert.equal(await slow.preKillHook(kill), "timed out after 100 ms");
  });
});

describe("LinuxBackend: cgroup work goes through the Host", () => {
  /** Writes like a fixture; memory.reclaim answers EAGAIN (reclaimed less than asked) above 1 MiB. */
  class ReclaimingHost extends FixtureHost {
    readonly asyncWrites: string[] = [];
    override async writeFileAsync(p: string, data: string): Promise<void> {
      this.asyncWrites.push(p);
      await super.writeFileAsync(p, data);
      if (p.endsWith("/memory.reclaim") && Number(data) > 1024 * 1024) throw hostIoError("write", p, Object.assign(new Error("EAGAIN"), { code: "EAGAIN" }));
    }
  }
  const machine = () => {
    const dir = buildFixture({ cgroups: { "/a": { current: 1000 }, "/done": { populated: false } } });
    fs.writeFileSync(path.join(dir, "sys/fs/cgroup/a/memory.reclaim"), "");
    return new ReclaimingHost(dir);
  };
  const a = cgroupPath("/a");

  test("memory.reclaim is written with the Host's off-thread write; a short reclaim is no error", async () => {
    const host = machine();
    const be = new LinuxBackend({ host, cgroupMount: "/sys/fs/cgroup" });
    await be.reclaim(a, 4096);
    await be.reclaim(a, 64 * 1024 * 1024);
    assert.deepEqual(host.asyncWrites, ["/sys/fs/cgroup/a/memory.reclaim", "/sys/fs/cgroup/a/memory.reclaim"]);
    assert.deepEqual(host.writes.map((w) => w.data), ["4096", String(64 * 1024 * 1024)]);
    assert.equal(be.currentBytes(a), 1000);
  });

  test("a cgroup without memory.reclaim is unsupported, a removed one vanished, and no v2 mount means no cgroup actions", async () => {
    const be = new LinuxBackend({ host: machine(), cgroupMount: "/sys/fs/cgroup" });
    await assert.rejects(be.reclaim(cgroupPath("/done"), 4096), (e: unknown) => e instanceof OomkitError && e.code === "E_UNSUPPORTED" && /no memory\.reclaim/.test(e.message));
    await assert.rejects(be.reclaim(cgroupPath("/gone"), 4096), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    const systemLevel = new LinuxBackend({ host: machine(), cgroupMount: undefined });
    await assert.rejects(systemLevel.reclaim(a, 4096), (e: unknown) => e instanceof OomkitError && e.code === "E_UNSUPPORTED");
    assert.equal(systemLevel.currentBytes(a), undefined);
  });

  test("cgroup.kill is written through the Host, then cgroup.events tells whether the cgroup emptied", async () => {
    const host = machine();
    const be = new LinuxBackend({ host, cgroupMount: "/sys/fs/cgroup" });
    assert.equal((await be.killCgroup(cgroupPath("/done"), 1000)).emptied, true);
    assert.deepEqual(await be.killCgroup(a, 0), { emptied: false }, "still populated when the wait ends");
    assert.deepEqual(host.writes, [
      { path: "/sys/fs/cgroup/done/cgroup.kill", data: "1" },
      { path: "/sys/fs/cgroup/a/cgroup.kill", data: "1" },
    ]);
  });

  test("the pids of a Host that has no live processes are never signalled, not even by the pre-5.14 cgroup kill", async () => {
    const c = await start("echo up; exec sleep 60");
    try {
      // Our own child stands at the fixture's pid, so a wrong signal would show.
      const host = new ReclaimingHost(buildFixture({ cgroups: { "/old": { omit: ["cgroup.kill"] } }, tasks: [{ pid: c.pid, comm: "sleep", cgroup: "/old" }] }));
      const be = new LinuxBackend({ host, cgroupMount: "/sys/fs/cgroup" });
      const refused = (e: unknown) => e instanceof OomkitError && e.code === "E_INTERNAL" && /not this machine's processes/.test(e.message);
      await assert.rejects(be.killTask({ pid: c.pid, startTimeTicks: startTime(c.pid), comm: "sleep" }, { graceMs: 0, waitMs: 0 }), refused);
      await assert.rejects(be.killCgroup(cgroupPath("/old"), 1000), refused);
      assert.equal(c.exitCode, null);
      assert.equal(c.signalCode, null, "the child at that pid lives");
    } finally {
      c.kill("SIGKILL");
    }
  });
});

describe("LiveExecutor", () => {
  class FakeBackend implements KillBackend {
    calls: string[] = [];
    constructor(private readonly outcome: TaskKillOutcome) {}
    async killTask(t: { pid: number }) {
      this.calls.push(`kill ${t.pid}`);
      return this.outcome;
    }
    async killCgroup(cg: string) {
      this.calls.push(`cgroup.kill ${cg}`);
      return { emptied: true, emptyMs: 3 };
    }
    async reclaim(cg: string, bytes: number) {
      this.calls.push(`reclaim ${cg} ${bytes}`);
    }
    currentBytes() {
      return this.calls.some((c) => c.startsWith("reclaim")) ? 600 : 1000;
    }
    async removeFile() {
      return 10;
    }
  }
  const snapshot = () =>
    takeSnapshot(new FixtureHost(buildFixture({ cgroups: { "/a": { current: 1000 } }, tasks: [{ pid: 7, comm: "hog", cgroup: "/a", rssAnonKb: 1000, swapKb: 24 }] })));
  const cause = { kind: "cgroup" as const, trigger: "t", message: "t", figures: {} };

  test("a victim that exits frees its memory and leaves the registry", async () => {
    const victims = new VictimRegistry();
    const be = new FakeBackend({ kind: "exited", signalMs: 1, exitMs: 5, escalated: false, mrelease: "released" });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, victims });
    const r = await engine.handleOom({ snapshot: snapshot(), scope: "/a", cause, mode: "live", executor: new LiveExecutor(be, victims) });
    assert.equal(r.handled, true);
    assert.deepEqual(be.calls, ["kill 7"]);
    assert.equal(r.actions[0]?.freed, true);
    assert.equal(r.actions[0]?.freedBytes, (1000 + 48 + 24) * 1024, "anon + page tables + swap");
    assert.equal(victims.pending.length, 0);
  });

  test("the pre-kill hook is told of the kill in the kill port's terms; its failure is reported and the kill still happens", async () => {
    const victims = new VictimRegistry();
    const notices: KillNotice[] = [];
    class Hooked extends FakeBackend {
      async preKillHook(k: KillNotice) {
        notices.push(k);
        return "exited with 3";
      }
    }
    const be = new Hooked({ kind: "exited", signalMs: 1, exitMs: 5, escalated: false, mrelease: "released" });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, victims });
    const r = await engine.handleOom({ snapshot: snapshot(), scope: "/a", cause, mode: "live", executor: new LiveExecutor(be, victims) });
    assert.deepEqual(notices, [{ kind: "kill-task", description: "kill pid 7 (hog)", pid: 7, cgroup: "/a" }]);
    assert.equal(r.actions[0]?.error, "pre-kill hook: exited with 3");
    assert.deepEqual(be.calls, ["kill 7"]);
  });

  test("a victim is pending for the whole kill sequence, SIGTERM grace included (a restart then finds it saved)", async () => {
    const victims = new VictimRegistry();
    const seen: number[] = [];
    class Watching extends FakeBackend {
      override async killTask(t: { pid: number }) {
        seen.push(...victims.pending.map((v) => v.deadlineMonoMs));
        return super.killTask(t);
      }
    }
    const be = new Watching({ kind: "still-exiting", signalMs: 60_000, escalated: true, mrelease: "released" });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, victims });
    await engine.handleOom({ snapshot: snapshot(), scope: "/a", cause, mode: "live", executor: new LiveExecutor(be, victims, { sigtermGraceMs: 60_000, victimTimeoutMs: 10_000 }, () => 1000) });
    assert.deepEqual(seen, [1000 + 60_000 + 10_000], "the grace, then the wait after SIGKILL");
  });

  test("a victim still exiting stays pending, so the next OOM does not pick it again", async () => {
    const victims = new VictimRegistry();
    const be = new FakeBackend({ kind: "still-exiting", signalMs: 1, escalated: false, mrelease: "released" });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, victims });
    const r = await engine.handleOom({ snapshot: snapshot(), scope: "/a", cause, mode: "live", executor: new LiveExecutor(be, victims, { sigtermGraceMs: 0, victimTimeoutMs: 10_000 }) });
    assert.equal(r.handled, false, "nothing was freed yet");
    assert.deepEqual(r.chain.map((c) => c.outcome), ["not-freed"]);
    assert.equal(victims.pending.length, 1);
    const again = await engine.handleOom({ snapshot: snapshot(), scope: "/a", cause, mode: "live", executor: new LiveExecutor(be, victims) });
    assert.deepEqual(be.calls, ["kill 7"], "no second kill of the same victim");
    assert.equal(again.chain[0]?.outcome, "no-victim");
  });
});
