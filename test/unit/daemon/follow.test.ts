import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { compileConfig, parseConfig } from "../../../src/config/index.js";
import { defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { ControlServer, request } from "../../../src/daemon/control.js";
import { daemonOps } from "../../../src/daemon/control-ops.js";
import { Daemon } from "../../../src/daemon/daemon.js";
import { FOLLOW_FILE } from "../../../src/daemon/follow-store.js";
import { REDECIDE_MS } from "../../../src/daemon/standing.js";
import { OriginalAdjView, type RaisedTask } from "../../../src/daemon/follow-view.js";
import { definePolicy, type Policy } from "../../../src/engine/policy.js";
import { MemoryLogger } from "../../../src/log.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import type { KillBackend } from "../../../src/os/kill-port.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import { addTask, buildFixture, statusText, type FixtureSpec } from "../../support/fixture.js";

const MB = 1024 * 1024;

/** An important job, larger than a batch job: the kernel's badness would take the important one. */
const MACHINE: FixtureSpec = {
  memTotalKb: 1_000_000,
  memAvailableKb: 500_000,
  cgroups: {
    "/app": { current: 400 * MB, anon: 400 * MB },
    "/batch": { current: 200 * MB, anon: 200 * MB },
    "/jobs": { max: 300 * MB, current: 150 * MB },
    "/jobs/a": { current: 100 * MB, anon: 100 * MB },
    "/jobs/b": { current: 50 * MB, anon: 50 * MB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "important", cgroup: "/app", rssAnonKb: 400 * 1024 },
    { pid: 11, comm: "batch", cgroup: "/batch", rssAnonKb: 200 * 1024, oomScoreAdj: 200 },
    { pid: 20, comm: "a", cgroup: "/jobs/a", rssAnonKb: 100 * 1024 },
    { pid: 21, comm: "b", cgroup: "/jobs/b", rssAnonKb: 50 * 1024 },
  ],
};

/** priority at "/": batch goes first for the machine; in /jobs, b before a. */
const FOLLOW = `standing_decisions = true
kernel_fallback = "follow"
[[attach]]
cgroup = "/"
policy = "priority"
[attach.options.cgroups]
"/app" = 10
"/batch" = -10
"/jobs/b" = -5
`;

/** A live backend that never gets as far as killing (no trigger fires here). */
const NO_KILLS: KillBackend = {
  killTask: async () => ({ kind: "vanished" }),
  killCgroup: async () => ({ emptied: false }),
  reclaim: async () => {},
  currentBytes: () => undefined,
  removeFile: async () => 0,
};

function setup(toml: string, opts: { dir?: string; stateDir?: string; extra?: Policy[]; dryRun?: boolean; spec?: FixtureSpec } = {}) {
  const dir = opts.dir ?? buildFixture(opts.spec ?? MACHINE);
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-state-"));
  const clock = new ManualClock(10_000);
  const host = new FixtureHost(dir, { clock });
  const parsed = parseConfig(toml, "test.toml");
  const builtins = new Map(BUILTIN_POLICIES);
  for (const p of opts.extra ?? []) builtins.set(p.name, p);
  const config = compileConfig(parsed.config, { builtins, loadPolicyFile, enforceOwnership: false, source: parsed.source });
  const log = new MemoryLogger();
  const dryRun = opts.dryRun ?? false;
  const daemon = new Daemon({ host, mode: detectCgroupMode(host), config, log, autoTick: false, dryRun, backend: dryRun ? undefined : NO_KILLS, stateDir });
  const step = async (ms: number) => {
    clock.advance(ms);
    await daemon.tick();
    await daemon.settled();
  };
  const adj = (pid: number) => Number(fs.readFileSync(path.join(dir, `proc/${pid}/oom_score_adj`), "utf8").trim());
  const setAdj = (pid: number, v: number) => fs.writeFileSync(path.join(dir, `proc/${pid}/oom_score_adj`), `${v}\n`);
  const saved = () => JSON.parse(fs.readFileSync(path.join(stateDir, FOLLOW_FILE), "utf8")) as { tasks: { pid: number; original: number }[]; oomGroups: string[] };
  const view = (scope: string) => daemon.standingView().find((v) => v.scope === scope)?.follow;
  return { dir, stateDir, clock, host, daemon, log, step, adj, setAdj, saved, view };
}

describe("kernel_fallback = \"follow\" (fixture machine, manual clock)", () => {
  test("the standing victim gets oom_score_adj 1000, recorded in the state file first; the others keep theirs", async () => {
    const t = setup(FOLLOW);
    await t.daemon.start();
    assert.equal(t.daemon.status().kernelFallback, "follow");
    await t.step(100);
    assert.equal(t.adj(11), 1000, "batch, the machine's standing victim, is raised");
    assert.equal(t.adj(10), 0, "the important job keeps its value");
    assert.deepEqual(t.saved().tasks.map((x) => [x.pid, x.original]), [[11, 200]]);
    const f = t.view("/");
    assert.deepEqual(f?.victims, ["pid 11 (batch)"]);
    assert.deepEqual(f?.raised.map((r) => [r.pid, r.original]), [[11, 200]]);
    assert.ok(t.log.lines.some((l) => /pid 11 \(batch\) oom_score_adj 200 → 1000/.test(l)), t.log.lines.join("\n"));
    await t.daemon.stop();
  });

  test("a plan standing in for a policy that threw (or ran out of time) is not followed: nothing is raised until the policy's own plan stands", async () => {
    let calls = 0;
    const flaky = definePolicy({
      name: "flaky",
      handleOutOfMemory(oc) {
        if (calls++ === 0) throw new Error("a cold first call");
        const batch = oc.tasks().find((x) => x.pid === 11);
        return batch ? oc.killTask(batch, "the batch job") : oc.pass("no batch job");
      },
    });
    const t = setup(`standing_decisions = true\nkernel_fallback = "follow"\n[[attach]]\ncgroup = "/"\npolicy = "flaky"\n`, { extra: [flaky] });
    await t.daemon.start();
    await t.step(100);
    const first = t.daemon.standing().find((e) => e.scope === "/");
    assert.equal(first?.plan?.policy, "kernel", "the kernel's badness stands in: the important job");
    assert.equal(t.adj(10), 0, "the important job is not raised for the stand-in");
    assert.equal(t.adj(11), 200);
    assert.match(t.view("/")?.inexact.join("; ") ?? "", /standing in for flaky, which threw: not followed/);
    // The plan is made again by its age at the latest (nothing changes on this machine).
    for (let i = 0; i < 2 * (REDECIDE_MS / 500) && t.daemon.standing().find((e) => e.scope === "/")?.plan?.policy !== "flaky"; i++) await t.step(500);
    assert.equal(t.daemon.standing().find((e) => e.scope === "/")?.plan?.policy, "flaky");
    await t.step(100);
    assert.equal(t.adj(11), 1000, "the policy's own plan: the batch job raised");
    assert.equal(t.adj(10), 0);
    await t.daemon.stop();
  });

  test("off by default, and a dry run changes nothing", async () => {
    const off = setup(FOLLOW.replace('kernel_fallback = "follow"\n', ""));
    await off.daemon.start();
    await off.step(100);
    assert.equal(off.daemon.status().kernelFallback, "off");
    assert.equal(off.adj(11), 200);
    await off.daemon.stop();
    const dry = setup(FOLLOW, { dryRun: true });
    await dry.daemon.start();
    await dry.step(100);
    assert.match(dry.daemon.status().kernelFallback, /^refused: a dry run changes nothing/);
    assert.equal(dry.adj(11), 200);
    assert.equal(fs.existsSync(path.join(dry.stateDir, FOLLOW_FILE)), false);
    await dry.daemon.stop();
  });

  test("refused at start without CAP_SYS_RESOURCE, with that reason; nothing is raised", async () => {
    const dir = buildFixture(MACHINE);
    // Root without CAP_SYS_RESOURCE (bit 24), as on the machines CI runs on.
    const status = statusText({ pid: 999999, comm: "oomkit" }).replace(/CapEff:\t[0-9a-f]+/, "CapEff:\t000001fffeffffff");
    fs.writeFileSync(path.join(dir, "proc/self/status"), status);
    const t = setup(FOLLOW, { dir });
    await t.daemon.start();
    await t.step(100);
    await t.step(2000);
    assert.match(t.daemon.status().kernelFallback, /^refused: oomkit lacks CAP_SYS_RESOURCE, which putting oom_score_adj back down needs/);
    assert.ok(t.log.lines.some((l) => /^error: kernel_fallback = "follow" refused: oomkit lacks CAP_SYS_RESOURCE/.test(l)), t.log.lines.join("\n"));
    assert.equal(t.adj(11), 200);
    assert.equal(t.view("/"), undefined);
    await t.daemon.stop();
  });

  test("policies see the original values, not oomkit's: oom_score_adj and the kernel's oom_score", async () => {
    const seen: { adj: number; score: number | undefined }[] = [];
    const spy = definePolicy({
      name: "adj-spy",
      handleOutOfMemory(oc) {
        const b = oc.tasks().find((x) => x.pid === 11);
        if (b) seen.push({ adj: b.oomScoreAdj, score: b.kernelOomScore });
        return oc.pass("only looking");
      },
    });
    const t = setup(`${FOLLOW}[[attach]]\ncgroup = "/batch"\npolicy = "adj-spy"\n[[trigger]]\nname = "t"\ncgroup = "/batch"\nmemory_events = ["oom"]\n`, { extra: [spy] });
    await t.daemon.start();
    await t.step(100);
    assert.equal(t.adj(11), 1000, "raised for the machine's standing decision, made first");
    assert.equal(seen.length, 0, "the spy's scope is decided next");
    // What the kernel shows at 1000 for a task that had 800 at 200: 800 + (1000 − 200) × 2/3.
    fs.writeFileSync(path.join(t.dir, "proc/11/oom_score"), "1333\n");
    for (let i = 0; i < 3; i++) await t.step(100);
    await t.step(REDECIDE_MS + 1000); // every plan is made again
    // One scope's run at a time, and after a run of D ms (real time) the next waits D ms.
    for (let i = 0; i < 100 && seen.length < 2; i++) await t.step(100);
    assert.ok(seen.length >= 2, "the spy ran, and again after its plan aged");
    for (const s of seen) assert.deepEqual(s, { adj: 200, score: 800 });
    // The kernel's badness for the machine's chain ranks batch as before: the plan stays with priority's victim.
    assert.deepEqual(t.view("/")?.victims, ["pid 11 (batch)"]);
    await t.daemon.stop();
  });

  test("the kernel's badness ranks a raised task as before: the scores of the standing record do not move", async () => {
    const t = setup('standing_decisions = true\nkernel_fallback = "follow"\n');
    await t.daemon.start();
    await t.step(100);
    const score = () => t.daemon.standing().find((e) => e.scope === "/")?.record.candidates.find((c) => c.kind === "task" && c.pid === 10)?.score;
    const before = score();
    assert.equal(t.adj(10), 1000, "the largest task, the kernel policy's choice, is raised");
    await t.step(31_000); // the model reads every task again (30 s), and the plan is made again
    await t.step(100);
    assert.ok(before !== undefined && before > 0);
    assert.equal(score(), before);
    await t.daemon.stop();
  });

  test("children forked after the change inherit it: tracked, and put back with their parent", async () => {
    const t = setup(FOLLOW);
    await t.daemon.start();
    await t.step(100);
    assert.equal(t.adj(11), 1000);
    // A child of batch, forked after the raise: the kernel copied 1000 into it.
    addTask(t.dir, { pid: 30, comm: "batch-child", ppid: 11, cgroup: "/batch", rssAnonKb: 1024, oomScoreAdj: 1000 });
    for (let i = 0; i < 3; i++) await t.step(1000);
    const raised = t.view("/")?.raised ?? [];
    assert.deepEqual(
      raised.map((r) => [r.pid, r.original, r.inheritedFrom ?? null]),
      [
        [11, 200, null],
        [30, 200, 11],
      ],
      t.log.lines.join("\n"),
    );
    assert.deepEqual(t.saved().tasks.map((x) => x.pid).sort(), [11, 21, 30], "21: /jobs's standing victim (it has a memory.max)");
    // A larger batch task starts: the standing victim moves to it; batch and its child are put back.
    addTask(t.dir, { pid: 12, comm: "batch2", cgroup: "/batch", rssAnonKb: 300 * 1024 });
    for (let i = 0; i < 5 && t.adj(12) !== 1000; i++) await t.step(3000);
    assert.equal(t.adj(12), 1000, t.log.lines.join("\n"));
    assert.equal(t.adj(11), 200, "batch is put back");
    assert.equal(t.adj(30), 200, "and its child, to the value it would have had");
    assert.deepEqual(t.saved().tasks.map((x) => x.pid).sort(), [12, 21]);
    await t.daemon.stop();
    assert.equal(t.adj(12), 0, "stop puts back the last one");
    assert.deepEqual(t.saved().tasks, []);
  });

  test("a value someone changed since is left as it is, and not raised again", async () => {
    const t = setup(FOLLOW);
    await t.daemon.start();
    await t.step(100);
    assert.equal(t.adj(11), 1000);
    t.setAdj(11, 500); // kubelet, say
    for (let i = 0; i < 3; i++) await t.step(1000);
    assert.equal(t.adj(11), 500, "not raised again");
    await t.daemon.stop();
    assert.equal(t.adj(11), 500, "not put back either");
  });

  test("after a crash the next start puts back what is still oomkit's — whatever kernel_fallback says then", async () => {
    const t = setup(`${FOLLOW}[[attach]]\ncgroup = "/jobs"\npolicy = "largest-leaf"\n`);
    await t.daemon.start();
    // Upkeep's slices are timed on the work clock (real CPU time for a fixture): on a loaded
    // machine the model takes more slices to see a change, so the steps are bounded, not fixed.
    for (let i = 0; i < 4 || (i < 30 && (t.adj(11) !== 1000 || t.adj(20) !== 1000)); i++) await t.step(1000);
    assert.equal(t.adj(11), 1000);
    assert.equal(t.adj(20), 1000, "/jobs/a, largest-leaf's standing victim in /jobs");
    assert.equal(fs.readFileSync(path.join(t.dir, "sys/fs/cgroup/jobs/a/memory.oom.group"), "utf8").trim(), "1");
    assert.deepEqual(t.saved().oomGroups, ["/jobs/a"]);
    addTask(t.dir, { pid: 31, comm: "batch-child", ppid: 11, cgroup: "/batch", oomScoreAdj: 1000 });
    for (let i = 0; i < 3 || (i < 30 && !t.saved().tasks.some((x) => x.pid === 31)); i++) await t.step(1000);
    assert.deepEqual(t.saved().tasks.map((x) => x.pid).sort((a, b) => a - b), [11, 20, 31]);
    // The daemon is killed (never stopped); meanwhile kubelet sets the child's value.
    t.setAdj(31, -500);
    const again = setup("", { dir: t.dir, stateDir: t.stateDir });
    await again.daemon.start();
    assert.equal(again.adj(11), 200);
    assert.equal(again.adj(20), 0);
    assert.equal(again.adj(31), -500, "changed since: left as it is");
    assert.equal(fs.readFileSync(path.join(t.dir, "sys/fs/cgroup/jobs/a/memory.oom.group"), "utf8").trim(), "0");
    assert.ok(again.log.lines.some((l) => /restored oom_score_adj 1000 on pid 11 to 200 \(left by a previous run\)/.test(l)), again.log.lines.join("\n"));
    assert.deepEqual(again.saved(), { version: 1, tasks: [], oomGroups: [] });
    await again.daemon.stop();
  });

  test("a forged state file cannot make oomkit shield a task: an original of -1000 is refused, nothing from it applied", async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-state-"));
    const dir = buildFixture({ ...MACHINE, tasks: (MACHINE.tasks ?? []).map((x) => (x.pid === 10 ? { ...x, oomScoreAdj: 1000 } : x)) });
    fs.writeFileSync(path.join(stateDir, FOLLOW_FILE), JSON.stringify({ version: 1, tasks: [{ pid: 10, startTimeTicks: 1010, original: -1000 }], oomGroups: [] }), { mode: 0o600 });
    const t = setup("", { dir, stateDir });
    await t.daemon.start();
    assert.equal(t.adj(10), 1000);
    assert.ok(t.log.lines.some((l) => /state file .*kernel-fallback\.json does not hold valid state \(tasks\.0\.original: /.test(l)), t.log.lines.join("\n"));
    await t.daemon.stop();
  });

  test("a whole-cgroup victim: memory.oom.group 1, and a task that joins it later is raised too", async () => {
    const t = setup(`${FOLLOW}[[attach]]\ncgroup = "/jobs"\npolicy = "largest-leaf"\n`);
    await t.daemon.start();
    for (let i = 0; i < 4; i++) await t.step(1000);
    assert.deepEqual(t.view("/jobs")?.victims, ["cgroup /jobs/a"]);
    assert.deepEqual(t.view("/jobs")?.oomGroup, ["/jobs/a"]);
    addTask(t.dir, { pid: 40, comm: "joined", ppid: 1, cgroup: "/jobs/a", oomScoreAdj: -100 });
    addTask(t.dir, { pid: 41, comm: "shielded", ppid: 1, cgroup: "/jobs/a", oomScoreAdj: -1000 });
    await t.step(1000);
    assert.equal(t.adj(40), 1000, "joined the victim cgroup: raised");
    assert.equal(t.adj(41), -1000, "a task at -1000 is never raised");
    await t.daemon.stop();
    assert.equal(t.adj(40), -100);
    assert.equal(fs.readFileSync(path.join(t.dir, "sys/fs/cgroup/jobs/a/memory.oom.group"), "utf8").trim(), "0");
  });

  test("the limited cgroups are scopes; where the kernel's choice cannot be exact, the report says so", async () => {
    const spec: FixtureSpec = { ...MACHINE, tasks: [...(MACHINE.tasks ?? []), { pid: 50, comm: "besteffort", cgroup: "/app", rssAnonKb: 1024, oomScoreAdj: 1000 }] };
    const t = setup(FOLLOW, { spec });
    await t.daemon.start();
    for (let i = 0; i < 4; i++) await t.step(1000);
    assert.deepEqual(t.daemon.standing().map((e) => e.scope).sort(), ["/", "/jobs"], "/jobs has a memory.max: it gets a standing decision");
    assert.deepEqual(t.view("/jobs")?.victims, ["pid 21 (b)"]);
    assert.equal(t.adj(21), 1000);
    const root = t.view("/")?.inexact ?? [];
    assert.ok(root.some((l) => /pid 21 \(b\) at 1000 too, for the standing victim of \/jobs/.test(l)), root.join("\n"));
    assert.ok(root.some((l) => /pid 50 \(besteffort\) already at 1000/.test(l)), root.join("\n"));
    assert.deepEqual(t.view("/jobs")?.inexact, [], "in /jobs only b is at 1000");
    assert.ok(t.log.lines.some((l) => /kernel fallback for \/ is not exact/.test(l)));
    await t.daemon.stop();
    assert.equal(t.adj(21), 0);
    assert.equal(t.adj(50), 1000, "never oomkit's: untouched");
  });
});

describe("oomkit explain on a live daemon in follow mode", () => {
  test("shows, under each scope's standing decision, what the kernel fallback raised and where it is not exact", async () => {
    const t = setup(FOLLOW);
    await t.daemon.start();
    for (let i = 0; i < 3; i++) await t.step(1000);
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-ctl-")), "oomkit.sock");
    const server = await ControlServer.listen(sock, daemonOps(t.daemon), t.log);
    try {
      let out = "";
      const code = await runCli({ argv: ["explain", "--socket", sock], stdout: (x) => (out += x), stderr: () => {}, makeHost: defaultMakeHost() });
      assert.equal(code, 0);
      assert.match(out, /kernel fallback \(follow\):\n {2}victim: pid 11 \(batch\)\n {2}oom_score_adj: pid 11 \(batch\) 200 → 1000\n {2}not exact: pid 21 \(b\) at 1000 too, for the standing victim of \/jobs/);
      const status = await request(sock, { op: "status" });
      assert.equal((status.status as { kernelFallback: string }).kernelFallback, "follow");
    } finally {
      await server.close();
      await t.daemon.stop();
    }
  });
});

describe("OriginalAdjView", () => {
  test("a raised task reads as before (oom_score_adj, and oom_score less the raise); anything else as it is", () => {
    const dir = buildFixture({ tasks: [{ pid: 7, comm: "x", oomScore: 1333, oomScoreAdj: 1000 }, { pid: 8, comm: "y", oomScoreAdj: 1000 }] });
    const host = new FixtureHost(dir);
    const raised = new Map<number, RaisedTask>([[7, { pid: 7, startTimeTicks: 1007, original: 200 }]]);
    const view = new OriginalAdjView(host, raised);
    assert.equal(view.readFile("/proc/7/oom_score_adj"), "200\n");
    assert.equal(view.readFile("/proc/7/oom_score"), "800\n");
    assert.equal(view.readFile("/proc/8/oom_score_adj"), "1000\n", "not raised by oomkit");
    fs.writeFileSync(path.join(dir, "proc/7/oom_score_adj"), "300\n");
    assert.equal(view.readFile("/proc/7/oom_score_adj"), "300\n", "changed since: the machine's value");
    fs.writeFileSync(path.join(dir, "proc/7/oom_score_adj"), "1000\n");
    raised.set(7, { pid: 7, startTimeTicks: 5, original: 200 });
    assert.equal(view.readFile("/proc/7/oom_score_adj"), "1000\n", "another process under that pid");
  });
});
