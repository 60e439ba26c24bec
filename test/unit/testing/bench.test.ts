/** oomkit/testing: declared machines, a policy or a configuration, and the explain record over time. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Bench, explainOn, writeMachine, type MachineSpec } from "../../../src/testing/index.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { definePolicy } from "../../../src/engine/policy.js";
import { policyDir, policyFile } from "../../support/policy-files.js";

const MB = 1024 * 1024;

const JOBS: MachineSpec = {
  memory: "2G",
  cgroups: {
    "/jobs/a": { max: "512M", stat: { anon: "300M", file: "100M", shmem: "4M", pgscan: 12 }, marks: { "user.oomd_avoid": "1" } },
    "/jobs/b": { stat: { anon: "200M" } },
  },
  tasks: [
    { pid: 10, comm: "a", cgroup: "/jobs/a", rss: "300M" },
    { pid: 11, comm: "b", cgroup: "/jobs/b", rss: "200M", swap: "100M" },
    { pid: 12, comm: "keep", cgroup: "/jobs/b", rss: "900M", adj: -1000 },
    { pid: 13, comm: "web", rss: "100M", adj: 500 },
  ],
};

describe("the declared machine", () => {
  test("is a fixture tree with the declared figures, ancestors and marks", () => {
    const dir = writeMachine(JOBS);
    try {
      const s = takeSnapshot(new FixtureHost(dir));
      assert.deepEqual([...s.cgroups()].map((c) => c.path), ["/", "/jobs", "/jobs/a", "/jobs/b"]);
      const a = s.cgroup("/jobs/a");
      assert.equal(a?.memory.maxBytes, 512 * MB);
      assert.equal(a?.stat?.anonBytes, 300 * MB);
      assert.equal(a?.stat?.pgscan, 12);
      assert.equal(a?.memory.currentBytes, 400 * MB, "anon + file when current is not given");
      assert.equal(a?.xattrs.get("user.oomd_avoid"), "1");
      assert.equal(s.system.meminfo?.memTotalBytes, 2048 * MB);
      const t = s.task(11);
      assert.equal(t?.memory.swapBytes, 100 * MB);
      assert.equal(s.task(12)?.oomScoreAdj, -1000);
      assert.equal(fs.readFileSync(path.join(dir, "sys/fs/cgroup/jobs/a/memory.stat"), "utf8").includes("shmem 4194304"), true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a bad size names the field", () => {
    assert.throws(() => writeMachine({ tasks: [{ pid: 1, comm: "x", rss: "10MB" }] }), /task 1 rss: .*ambiguous/);
    assert.throws(() => writeMachine({ cgroups: { jobs: {} } }), /absolute/);
  });
});

describe("explainOn", () => {
  test("with no policy, the built-in default ranks like the kernel and passes over the protected", async () => {
    const r = await explainOn(JOBS, {});
    assert.equal(r.schema, "oomkit.episode/1");
    assert.equal(r.policy, "kernel");
    // web: 100M, plus adj 500 × totalpages / 1000 (1G of 2G): it outranks a (300M) and b (200M + 100M swap).
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [13]);
    assert.ok(r.candidates.some((c) => c.pid === 12 && c.skipped !== undefined), "adj -1000 is passed over");
  });

  test("a policy file with options, attached below the scope's root", async () => {
    const file = policyFile(`import { definePolicy } from "oomkit/policy";
export default definePolicy<{ comm: string }>({
  name: "by-comm",
  parseOptions(raw) {
    const o = raw as { comm?: unknown };
    if (typeof o.comm !== "string") throw new Error("comm must be a string");
    return { comm: o.comm };
  },
  handleOutOfMemory(oc) {
    const t = oc.tasks().find((x) => x.comm === oc.options.comm);
    return t ? oc.killTask(t, "named") : oc.pass("none named " + oc.options.comm);
  },
});
`);
    const r = await explainOn(JOBS, { policy: file, options: { comm: "b" }, attachTo: "/jobs" }, { scope: "/jobs" });
    assert.equal(r.policy, "by-comm");
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [11]);
    assert.deepEqual(r.chain.map((c) => [c.policy, c.attachedTo, c.outcome]), [["by-comm", "/jobs", "handled"]]);
    await assert.rejects(explainOn(JOBS, { policy: file, options: { comm: 3 } }), /parseOptions rejected the options: comm must be a string/);
    const none = await explainOn(JOBS, { policy: file, options: { comm: "nobody" } });
    assert.deepEqual(none.chain.map((c) => [c.policy, c.outcome, c.reason]), [["by-comm", "passed", "none named nobody"], ["kernel", "handled", none.chain[1]?.reason]]);
  });

  test("a configuration, with the policy replacing what it attached there", async () => {
    const dir = policyDir({});
    const config = path.join(dir, "oomkit.toml");
    fs.writeFileSync(config, `[[attach]]\ncgroup = "/jobs"\npolicy = "largest-leaf"\n`);
    const r = await explainOn(JOBS, { config }, { scope: "/jobs" });
    assert.equal(r.chain[0]?.policy, "largest-leaf");
    const mine = definePolicy({ name: "mine", handleOutOfMemory: (oc) => oc.pass("mine passes") });
    const r2 = await explainOn(JOBS, { config, policy: mine, attachTo: "/jobs" }, { scope: "/jobs" });
    assert.deepEqual(r2.chain.map((c) => c.policy), ["mine", "kernel"]);
  });
});

describe("Bench over time", () => {
  const RATES = `import { definePolicy } from "oomkit/policy";
export default definePolicy({
  name: "fastest-growth",
  handleOutOfMemory(oc) {
    let best, bestRate = -Infinity;
    for (const c of oc.leafCgroups()) {
      const g = oc.rates(c).growthBytesPerSec;
      if (g === undefined) { oc.skip(c, "no rate yet"); continue; }
      oc.consider(c, g, "bytes/s");
      if (g > bestRate) { best = c; bestRate = g; }
    }
    return best ? oc.killCgroup(best, "grows fastest") : oc.pass("no rates yet");
  },
  handlePressure(event, pc) {
    const g = pc.rates(pc.snapshot.cgroup(event.cgroup)).growthBytesPerSec ?? 0;
    if (g > 0) pc.declareOom(event.cgroup, "growing under pressure");
  },
  handleCgroupOnline(cgroup, options, state) { state.set(cgroup.path, "seen"); },
  handleCgroupOffline(path, options, state) {
    if (state.get(path) !== "seen") throw new Error("offline before online: " + path);
    state.set(path, undefined);
  },
});
`;
  const at = (a: number, b: number, extra = false): MachineSpec => ({
    cgroups: { "/jobs/a": { current: a * MB }, "/jobs/b": { current: b * MB }, ...(extra ? { "/jobs/c": { current: MB } } : {}) },
    tasks: [
      { pid: 20, comm: "a", cgroup: "/jobs/a", rss: a * MB },
      { pid: 21, comm: "b", cgroup: "/jobs/b", rss: b * MB },
    ],
  });

  test("rates come from the states before, online/offline hooks from what came and went", async () => {
    const bench = new Bench({ policy: policyFile(RATES) });
    try {
      assert.deepEqual(bench.at(0, at(100, 300)), []);
      const first = await bench.explain({ scope: "/jobs" });
      assert.deepEqual(first.chain.map((c) => [c.policy, c.outcome]), [["fastest-growth", "passed"], ["kernel", first.chain[1]?.outcome]]);
      const online = bench.at(1000, at(150, 310, true));
      assert.deepEqual(online.map((c) => [c.hook, c.cgroup, c.outcome]), [["handleCgroupOnline", "/jobs/c", "ok"]]);
      const r = await bench.explain({ scope: "/jobs" });
      assert.deepEqual(r.plan.map((a) => a.kind === "kill-cgroup" && a.cgroup), ["/jobs/a"], "50 MB/s beats 10 MB/s");
      assert.equal(r.candidates.find((c) => c.cgroup === "/jobs/a")?.score, 50 * MB);
      const pressure = bench.pressure({ cgroup: "/jobs/a", stall: "full" });
      assert.deepEqual(pressure?.declared.map((d) => d.scope), ["/jobs/a"]);
      const offline = bench.at(1000, at(160, 310));
      assert.deepEqual(offline.map((c) => [c.hook, c.cgroup, c.outcome]), [["handleCgroupOffline", "/jobs/c", "ok"]]);
    } finally {
      bench.close();
    }
  });

  test("the first state is at 0, and questions need a state", async () => {
    const bench = new Bench({});
    assert.throws(() => bench.snapshot, /call at\(0, machine\) first/);
    assert.throws(() => bench.at(5, {}), /first state is at 0/);
  });
});

describe("candidates in the policy's own order", () => {
  const machine: MachineSpec = {
    tasks: [
      { pid: 30, comm: "big", rss: "900M" },
      { pid: 31, comm: "small", rss: "100M" },
      { pid: 32, comm: "mid", rss: "500M" },
    ],
  };
  const chosenFirst = (r: Awaited<ReturnType<typeof explainOn>>) => r.candidates.filter((c) => c.skipped === undefined && c.policy === r.policy).map((c) => c.pid);

  test("evaluateTask's select comes first, above larger scores", async () => {
    const select = definePolicy({ name: "select-small", evaluateTask: (t) => (t.comm === "small" ? "select" : "default") });
    const r = await explainOn(machine, { policy: select });
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [31]);
    assert.deepEqual(chosenFirst(r), [31, 30, 32]);
  });

  test("a rules preference comes first", async () => {
    const r = await explainOn(machine, { policy: "rules", options: { prefer: { command: ["^small$"] } } });
    assert.equal(r.policy, "rules");
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [31]);
    assert.equal(chosenFirst(r)[0], 31);
  });
});
