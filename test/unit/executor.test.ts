import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LinuxBackend } from "../../src/os/backend.js";
import { LinuxHost } from "../../src/os/linux-host.js";
import { parseProcStat } from "../../src/os/parse/proc.js";
import { LiveExecutor, type KillBackend, type TaskKillOutcome } from "../../src/engine/executor.js";
import { Engine } from "../../src/engine/engine.js";
import { VictimRegistry } from "../../src/engine/victims.js";
import { takeSnapshot } from "../../src/engine/snapshot.js";
import { FixtureHost } from "../../src/os/fixture-host.js";
import { kernelPolicy } from "../../src/policy/kernel.js";
import { buildFixture } from "../support/fixture.js";

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
    const out = await backend.killTask({ pid: c.pid, startTimeTicks: startTime(c.pid), comm: "sleep" }, { graceMs: 0, processGroup: false, waitMs: 5000 });
    assert.equal(out.kind, "exited");
    assert.ok(out.kind === "exited" && !out.escalated);
    assert.ok(out.kind === "exited" && ["released", "already-exited", "unsupported"].includes(out.mrelease), `mrelease: ${out.kind === "exited" && out.mrelease}`);
  });

  test("SIGTERM first; a victim that ignores it is killed after the grace period", async () => {
    const polite = await start("echo up; exec sleep 60");
    const p = await backend.killTask({ pid: polite.pid, startTimeTicks: startTime(polite.pid), comm: "sleep" }, { graceMs: 2000, processGroup: false, waitMs: 5000 });
    assert.ok(p.kind === "exited" && !p.escalated, "SIGTERM was enough");
    const stubborn = await start(`trap "" TERM; echo up; exec sleep 60`);
    const s = await backend.killTask({ pid: stubborn.pid, startTimeTicks: startTime(stubborn.pid), comm: "sleep" }, { graceMs: 200, processGroup: false, waitMs: 5000 });
    assert.ok(s.kind === "exited" && s.escalated, "SIGKILL after the grace");
  });

  test("a pid whose start time changed is not killed (pid reuse)", async () => {
    const c = await start("echo up; exec sleep 60");
    try {
      const out = await backend.killTask({ pid: c.pid, startTimeTicks: startTime(c.pid) + 1, comm: "sleep" }, { graceMs: 0, processGroup: false, waitMs: 100 });
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
    const out = await backend.killTask({ pid: c.pid, startTimeTicks: st, comm: "sleep" }, { graceMs: 0, processGroup: false, waitMs: 100 });
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
    const action = { ok: true as const, action: { kind: "kill-task" as const, pid: 4242, startTimeTicks: 1, comm: "x", cgroup: null, reason: "t" }, execution: { method: "signal-task" as const, task: { pid: 4242, startTimeTicks: 1, comm: "x" } } };
    assert.equal(await hooked.preKillHook(action), undefined);
    assert.deepEqual(fs.readFileSync(out, "utf8").split("\n").slice(0, 2), ["0", "kill-task 4242"]);
    const slow = new LinuxBackend({ host: new LinuxHost(), cgroupMount: undefined, preKillHook: { command: ["sleep", "30"], timeoutMs: 100 } });
    assert.equal(await slow.preKillHook(action), "timed out after 100 ms");
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

  test("a victim still exiting stays pending, so the next OOM does not pick it again", async () => {
    const victims = new VictimRegistry();
    const be = new FakeBackend({ kind: "still-exiting", signalMs: 1, escalated: false, mrelease: "released" });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, victims });
    const r = await engine.handleOom({ snapshot: snapshot(), scope: "/a", cause, mode: "live", executor: new LiveExecutor(be, victims, { sigtermGraceMs: 0, killProcessGroup: false, victimTimeoutMs: 10_000 }) });
    assert.equal(r.handled, false, "nothing was freed yet");
    assert.deepEqual(r.chain.map((c) => c.outcome), ["not-freed"]);
    assert.equal(victims.pending.length, 1);
    const again = await engine.handleOom({ snapshot: snapshot(), scope: "/a", cause, mode: "live", executor: new LiveExecutor(be, victims) });
    assert.deepEqual(be.calls, ["kill 7"], "no second kill of the same victim");
    assert.equal(again.chain[0]?.outcome, "no-victim");
  });
});
