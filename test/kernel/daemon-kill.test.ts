// `oomkit run` in the VM: the kill path's edges. A victim that ignores SIGTERM is killed after
// its grace; dry-run decides and logs but kills nothing; a policy that throws or loops forever
// falls through to the default and the daemon keeps answering; a configuration reload under
// load takes effect, and a broken one is refused with the old one kept. Figures go to the run
// folder (daemon-figures-kill.json).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { TestTree, vmSkip, waitFor } from "./helpers.js";
import { addFigure, exists, idleUsage, rel, startDaemon, stopAllDaemons, tempDir, writeFigures, writePolicy } from "./daemon-helpers.js";

const GENEROUS_MS = 90_000;

describe("oomkit run: escalation, dry-run, failing policies, reload", { skip: vmSkip() }, () => {
  let t: TestTree;
  before(async () => {
    t = await TestTree.create("daemon-kill");
  });
  after(async () => {
    await stopAllDaemons();
    await t?.teardown();
    writeFigures("kill");
  });

  test("a victim that ignores SIGTERM is killed with SIGKILL after sigterm_grace_ms", async () => {
    const cg = t.mk("stubborn", { "memory.max": "64M", "memory.swap.max": "0" });
    const d = await startDaemon({
      name: "grace",
      config: `
[[attach]]
cgroup = "${rel(cg)}"
policy = "kernel"

[kill]
sigterm_grace_ms = 500

[[trigger]]
name = "stubborn-guard"
cgroup = "${rel(cg)}"
guard_band = { margin_bytes = "16M" }
`,
    });
    const idle = await idleUsage(d, 2000);
    const during = d.sample();
    const hog = t.hog({ cgroup: cg, mib: 60, rateMibPerS: 20, ignoreTerm: true, noHugePages: true });
    const rec = await d.waitRecord((r) => r.plan.length > 0, GENEROUS_MS);
    const episode = during.stop();
    assert.equal(rec.policy, "kernel");
    assert.deepEqual(
      rec.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind)),
      [hog.pid],
    );
    const details = rec.actions[0]?.details as Record<string, unknown> | undefined;
    assert.equal(details?.escalated, true, `escalated to SIGKILL: ${JSON.stringify(rec.actions)}`);
    assert.ok(typeof details?.signalMs === "number" && details.signalMs >= 500, `SIGKILL only after the grace: ${JSON.stringify(details)}`);
    assert.equal(rec.actions[0]?.freed, true);
    assert.equal((await hog.exited).signal, "SIGKILL");
    addFigure("SIGTERM ignored, grace 500 ms (guard band, kernel)", rec, { idle, episode });
    await d.stop();
  });

  test("dry-run decides and logs, and kills nothing", async () => {
    // memory.high set by the test (dry-run sets no guard band: it only says what it would set).
    const cg = t.mk("dry", { "memory.max": "48M", "memory.high": "40M", "memory.swap.max": "0" });
    const guarded = t.mk("dry-guarded", { "memory.max": "64M" });
    const d = await startDaemon({
      name: "dry",
      args: ["--dry-run"],
      config: `
[[attach]]
cgroup = "${rel(cg)}"
policy = "kernel"

[[trigger]]
name = "dry-high"
cgroup = "${rel(cg)}"
memory_events = ["high"]

[[trigger]]
name = "dry-guard"
cgroup = "${rel(guarded)}"
guard_band = { margin_bytes = "8M" }
`,
    });
    assert.equal(readFileSync(`${guarded}/memory.high`, "utf8").trim(), "max", "dry-run changes no memory.high");
    const idle = await idleUsage(d, 2000);
    const during = d.sample();
    const hog = t.hog({ cgroup: cg, mib: 42, rateMibPerS: 20, noHugePages: true });
    const line = await d.waitLine(/oom_policy=kernel .*dry-run/, GENEROUS_MS);
    const episode = during.stop();
    assert.match(line, new RegExp(`would kill process ${hog.pid} \\(hog\\)`), "the line names the task it would kill");
    const rec = await d.waitRecord((r) => r.plan.length > 0, 10_000);
    assert.equal(rec.mode, "dry-run");
    assert.equal(rec.cause.trigger, "dry-high");
    assert.ok(rec.actions.length > 0 && rec.actions.every((a) => a.dryRun), JSON.stringify(rec.actions));
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(exists(hog.pid), "the hog lives");
    // A manual OOM over the socket in dry-run: a record, nothing done.
    const manual = await d.oom(rel(cg), "dry-run check");
    if ("skipped" in manual) assert.match(manual.skipped, /post-action delay|still exiting/);
    else assert.equal(manual.mode, "dry-run");
    assert.ok(exists(hog.pid), "still alive");
    addFigure("dry-run (memory.events high, kernel)", rec, { idle, episode });
    await d.stop();
    hog.kill();
  });

  test("a policy that throws, or loops forever, falls through to the default; the daemon keeps running", async () => {
    const thrower = t.mk("bad/throws");
    const looper = t.mk("bad/loops");
    const dir = tempDir("bad");
    const throws = writePolicy(
      dir,
      "throws.ts",
      `import { definePolicy } from "oomkit";
export default definePolicy({ name: "throws", handleOutOfMemory() { throw new Error("policy bug"); } });
`,
    );
    const loops = writePolicy(
      dir,
      "loops.ts",
      `import { definePolicy } from "oomkit";
export default definePolicy({ name: "loops", handleOutOfMemory() { for (;;) {} } });
`,
    );
    const d = await startDaemon({
      dir,
      config: `
policy_deadline_ms = 250

[[attach]]
cgroup = "${rel(thrower)}"
file = "${throws}"

[[attach]]
cgroup = "${rel(looper)}"
file = "${loops}"

[kill]
post_action_delay_ms = 0
`,
    });
    const h1 = t.hog({ cgroup: thrower, mib: 8, noHugePages: true });
    const h2 = t.hog({ cgroup: looper, mib: 8, noHugePages: true });
    await Promise.all([h1.ready, h2.ready]);

    const r1 = await d.oom(rel(thrower), "a policy that throws");
    assert.ok(!("skipped" in r1), JSON.stringify(r1));
    assert.equal(r1.chain[0]?.policy, "throws");
    assert.equal(r1.chain[0]?.outcome, "threw");
    assert.match(r1.chain[0]?.error ?? "", /policy bug/);
    assert.equal(r1.policy, "kernel", "the default handled it");
    assert.equal((await h1.exited).signal, "SIGKILL");
    assert.ok((await d.status()).episodes >= 1, "the daemon answers");
    addFigure("manual, policy throws → kernel", r1);

    const r2 = await d.oom(rel(looper), "a policy that loops");
    assert.ok(!("skipped" in r2), JSON.stringify(r2));
    assert.equal(r2.chain[0]?.policy, "loops");
    assert.equal(r2.chain[0]?.outcome, "timeout");
    assert.equal(r2.policy, "kernel");
    assert.equal((await h2.exited).signal, "SIGKILL");
    const s = await d.status();
    assert.equal(s.episodes, 2, "the daemon answers after both");
    addFigure("manual, policy loops → timeout → kernel", r2);
    await d.stop();
  });

  test("SIGHUP reloads the configuration under load; a broken one is refused and the old one kept", async () => {
    const top = t.mk("reload");
    const cg = t.mk("reload/w", { "memory.high": "24M", "memory.swap.max": "0" });
    const config = (policy: string) => `
policy_deadline_ms = 2000

[[attach]]
cgroup = "${rel(top)}"
policy = "${policy}"

[kill]
post_action_delay_ms = 300

[[trigger]]
name = "reload-high"
cgroup = "${rel(cg)}"
memory_events = ["high"]
`;
    // Dry-run, so that the throttled hog keeps the trigger firing: episodes go on during the reload.
    const d = await startDaemon({ name: "reload", args: ["--dry-run"], config: config("largest-leaf") });
    assert.ok((await d.status()).attachments.some((a) => a.startsWith("largest-leaf at")));
    const hog = t.hog({ cgroup: cg, mib: 64, noHugePages: true });
    await d.waitRecord((r) => r.policy === "largest-leaf", GENEROUS_MS).catch((err: Error) => {
      throw new Error(`${err.message}\nchains: ${JSON.stringify(d.records().slice(0, 2).map((r) => r.chain))}`);
    });

    writeFileSync(d.configFile, config("kernel"));
    const before = new Set(d.records().map((r) => r.id));
    d.hup();
    await d.waitLine(/configuration reloaded/, 30_000);
    const s = await d.status();
    assert.ok(s.attachments.some((a) => a.startsWith(`kernel at ${rel(top)}`)), JSON.stringify(s.attachments));
    assert.ok(!s.attachments.some((a) => a.startsWith("largest-leaf")), JSON.stringify(s.attachments));
    const after = await d.waitRecord((r) => !before.has(r.id) && r.policy === "kernel", GENEROUS_MS);
    assert.equal(after.chain[0]?.attachedTo, rel(top), "the new attachment decides");

    writeFileSync(d.configFile, `${config("kernel")}\n[[attach]]\ncgroup = "${rel(top)}"\npolicy = "no-such-policy"\n`);
    d.hup();
    await d.waitLine(/refused the new configuration, keeping the old one/, 30_000);
    const s2 = await d.status();
    assert.deepEqual(s2.attachments, s.attachments, "the old configuration stays");
    const n = d.records().length;
    await waitFor(() => (d.records().length > n ? true : undefined), { timeoutMs: GENEROUS_MS, what: "episodes to go on after the refused reload" });
    assert.ok(exists(hog.pid), "dry-run: the hog lives");
    await d.stop();
    hog.kill();
  });
});
