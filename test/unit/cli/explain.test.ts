import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { ManualClock } from "../../../src/os/host.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { buildFixture } from "../../support/fixture.js";
import { OOM_TEST } from "../../support/machines.js";
import { renderExplain } from "../../../src/cli/explain.js";
import { Engine } from "../../../src/engine/engine.js";
import { definePolicy } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const clock = new ManualClock(1000, Date.UTC(2026, 10, 21));
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost(clock), clock });
  return { code, stdout, stderr };
}

const oomTest = buildFixture(OOM_TEST);

function tmpFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-ex-"));
  fs.chmodSync(dir, 0o755);
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

describe("oomkit explain", () => {
  test("the built-in default on oom_test: rules, with no marks set, makes the kernel's choice (cg1's task)", async () => {
    const r = await cli(["explain", "--root", oomTest, "--scope", "/oom_test", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rec = JSON.parse(r.stdout) as EpisodeRecord;
    assert.equal(rec.scope, "/oom_test");
    assert.deepEqual(rec.chain.map((c) => [c.policy, c.attachedTo, c.outcome]), [["rules", "/", "handled"]]);
    assert.deepEqual(rec.plan.map((a) => ({ kind: a.kind, pid: a.kind === "kill-task" ? a.pid : undefined })), [{ kind: "kill-task", pid: 101 }]);
    assert.ok(Array.isArray(rec.candidates) && rec.candidates.length > 0);
  });

  test("--config attaching largest-leaf to /oom_test picks cg3/cg4, and the text names every step", async () => {
    const conf = tmpFile("oomkit.toml", `[[attach]]\ncgroup = "/oom_test"\npolicy = "largest-leaf"\n`);
    const j = JSON.parse((await cli(["explain", "--root", oomTest, "--config", conf, "--scope", "/oom_test", "--json"])).stdout) as EpisodeRecord;
    assert.equal(j.policy, "largest-leaf");
    assert.deepEqual(j.plan.map((a) => a.kind === "kill-cgroup" && a.cgroup), ["/oom_test/cg3/cg4"]);
    assert.deepEqual(j.chain[0] && [j.chain[0].policy, j.chain[0].outcome], ["largest-leaf", "handled"]);
    const t = await cli(["explain", "--root", oomTest, "--config", conf, "--scope", "/oom_test"]);
    assert.equal(t.code, 0);
    assert.match(t.stdout, /1\. largest-leaf \(attached to \/oom_test\): handled/);
    assert.match(t.stdout, /plan \(oom_policy=largest-leaf\):\n {2}kill cgroup \/oom_test\/cg3\/cg4/);
    assert.match(t.stdout, /passed over:/);
  });

  test("--policy FILE replaces what the configuration attached to the scope", async () => {
    const pol = tmpFile(
      "smallest.ts",
      `import { definePolicy } from "oomkit";
export default definePolicy({
  name: "smallest-first",
  handleOutOfMemory(oc) {
    const leaves = [...oc.leafCgroups()].filter((c) => !oc.protectedReason(c) && c.allTasks().length > 0)
      .sort((a, b) => (a.memory.currentBytes ?? 0) - (b.memory.currentBytes ?? 0) || a.path.localeCompare(b.path));
    for (const c of leaves) oc.consider(c, -(c.memory.currentBytes ?? 0));
    return leaves[0] ? oc.killCgroup(leaves[0], "smallest first") : oc.pass("nothing");
  },
});
`,
    );
    const conf = tmpFile("oomkit.toml", `[[attach]]\ncgroup = "/oom_test"\npolicy = "largest-leaf"\n`);
    const r = await cli(["explain", "--root", oomTest, "--config", conf, "--policy", pol, "--scope", "/oom_test", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rec = JSON.parse(r.stdout) as EpisodeRecord;
    assert.equal(rec.policy, "smallest-first");
    assert.deepEqual(rec.plan.map((a) => a.kind === "kill-cgroup" && a.cgroup), ["/oom_test/cg1"]);
    assert.ok(!rec.chain.some((c) => c.policy === "largest-leaf"), "the configured attachment on the scope was replaced");
  });

  test("a policy file others can write is refused as the daemon refuses it, before its code runs", async () => {
    // Its top-level code would throw: the refusal names the permission, so none of it ran.
    const pol = tmpFile("p.ts", `import { definePolicy } from "oomkit";\nthrow new Error("top-level code ran");\nexport default definePolicy({ name: "p", evaluateTask: () => "default" });\n`);
    fs.chmodSync(pol, 0o666);
    const r = await cli(["explain", "--root", oomTest, "--policy", pol, "--scope", "/oom_test"]);
    assert.equal(r.code, EXIT.unsupported, r.stderr);
    assert.match(r.stderr, /writable by others.*refusing to run it as root/);
    assert.doesNotMatch(r.stderr, /top-level code ran/);
    fs.chmodSync(pol, 0o644);
    const ok = await cli(["explain", "--root", oomTest, "--policy", pol, "--scope", "/oom_test"]);
    assert.match(ok.stderr, /top-level code threw Error: top-level code ran/, "with a safe mode the same file is loaded and run");
  });

  test("errors: a bad config is exit 4 with its place; an unknown scope exit 3", async () => {
    const bad = tmpFile("bad.toml", `[[attach]]\ncgroup = "/oom_test"\npolicy = "larget-leaf"\n`);
    const r = await cli(["explain", "--root", oomTest, "--config", bad]);
    assert.equal(r.code, EXIT.config);
    assert.match(r.stderr, /bad\.toml:3:\d+: .*unknown policy "larget-leaf".*largest-leaf/);
    const s = await cli(["explain", "--root", oomTest, "--scope", "/nope"]);
    assert.equal(s.code, EXIT.path);
    assert.match(s.stderr, /no cgroup \/nope/);
  });

  test("--json gives each task candidate its badness in parts, for the scope's totalpages", async () => {
    const r = await cli(["explain", "--root", oomTest, "--scope", "/oom_test", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const cands = (JSON.parse(r.stdout) as { candidates: Array<{ pid?: number; score?: number; badness?: Record<string, unknown> }> }).candidates;
    const cg1 = cands.find((c) => c.pid === 101);
    // 10 MiB of rss (2560 pages) + 48 KiB of page tables (12 pages); adj 1000 * (20480 / 1000) on the 80 MiB memcg.
    assert.deepEqual(cg1?.badness, { killable: true, rssBytes: 10 * 1024 * 1024, swapBytes: 0, pageTablesBytes: 49152, oomScoreAdj: 1000, totalPages: 20480, pageSizeBytes: 4096, points: 2572, adj: 20000, badness: 22572 });
    assert.equal(cg1?.score, 22572, "the parts add up to the score the policy ranked by");
    assert.deepEqual(cands.find((c) => c.pid === 102)?.badness, { killable: false, reason: "oom-score-adj-min" });
    const machine = JSON.parse((await cli(["explain", "--root", oomTest, "--json"])).stdout) as { candidates: Array<{ pid?: number; badness?: { totalPages?: number; points?: number } }> };
    const atRoot = machine.candidates.find((c) => c.pid === 101)?.badness;
    assert.equal(atRoot?.points, 2572);
    assert.notEqual(atRoot?.totalPages, 20480, "a machine-wide OOM ranks by the machine's totalpages");
  });

  test("a missing policy file exits 4 whether named by --policy or by the configuration's file", async () => {
    const missing = path.join(path.dirname(tmpFile("x", "")), "missing.ts");
    const direct = await cli(["explain", "--root", oomTest, "--policy", missing]);
    assert.equal(direct.code, EXIT.config, direct.stderr);
    assert.match(direct.stderr, /policy file \S+missing\.ts does not exist/);
    const conf = tmpFile("oomkit.toml", `[[attach]]\ncgroup = "/"\nfile = ${JSON.stringify(missing)}\n`);
    const viaConfig = await cli(["explain", "--root", oomTest, "--config", conf]);
    assert.equal(viaConfig.code, EXIT.config, viaConfig.stderr);
    assert.equal(viaConfig.code, direct.code);
  });
});

test("the text shows a policy asked again without refused targets, and the files that could not be read", async () => {
  const dir = buildFixture({
    cgroups: { "/work": {}, "/elsewhere": {} },
    tasks: [
      { pid: 10, comm: "mover", cgroup: "/work", rssAnonKb: 900 * 1024 },
      { pid: 11, comm: "big", cgroup: "/work", rssAnonKb: 500 * 1024 },
      { pid: 12, comm: "small", cgroup: "/work", rssAnonKb: 100 * 1024 },
    ],
  });
  fs.writeFileSync(path.join(dir, "proc/10/cgroup"), "0::/elsewhere\n");
  fs.writeFileSync(path.join(dir, "proc/12/status"), "VmRSS: lots\n");
  const largest = definePolicy({
    name: "largest",
    handleOutOfMemory(oc) {
      for (const t of oc.tasks()) oc.consider(t, t.memory.rssBytes);
      const best = [...oc.tasks()].sort((a, b) => b.memory.rssBytes - a.memory.rssBytes)[0];
      return best ? oc.killTask(best, "largest") : oc.pass("nothing");
    },
  });
  const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/work"), policy: largest, options: {} }], defaultPolicy: { policy: kernelPolicy, options: {} } });
  const text = renderExplain(await engine.explain(takeSnapshot(new FixtureHost(dir)), "/work", { kind: "manual", trigger: "t", message: "t", figures: {} }));
  assert.match(text, /1\. largest \(attached to \/work\): handled \[[0-9.]+ ms, asked 2 times\]\n {7}refused kill pid 10 \(mover\)[^\n]*: outside the scope \/work: \/proc\/10\/cgroup says \/elsewhere \(asked again without it\)\n {7}ok +kill pid 11/);
  assert.match(text, /the verifier refused it: outside the scope \/work/);
  assert.match(text, /largest +\d+ +pid 12 \(small\) in \/work +.*status unreadable: did not parse/);
  assert.match(text, /could not be read \(those figures are unknown\):\n +FILE +ERROR\n +\/proc\/12\/status +did not parse/);
});
