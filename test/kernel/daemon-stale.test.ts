// `oomkit run` in the VM: never act on a stale decision. On a crowded guest one decision once
// took 48–59 s; the kernel's OOM killer killed the leak meanwhile, and oomkit then carried out
// its plan and killed a bystander although memory had long recovered. Here a policy file is slow
// on purpose (its deadline raised so that it is not abandoned), the kernel's OOM killer kills a
// leak under the scope's memory.max while it decides, and oomkit must drop its plan — the record
// says why — and kill nothing. Outcomes are asserted, never timings.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { TestTree, readKeyed, vmSkip, waitFor } from "./helpers.js";
import { exists, rel, startDaemon, stopAllDaemons, tempDir, writePolicy } from "./daemon-helpers.js";

/**
 * How long the policy thinks. The leak fills the 64M limit in well under a second (measured:
 * under 1 s on a busy machine under TCG, both kernels), and it starts only once the daemon says
 * it is deciding: the kernel kills it long before the policy is done.
 */
const THINK_MS = 8000;
const GENEROUS_MS = 60_000;

describe("oomkit run: a kernel kill during a slow decision", { skip: vmSkip() }, () => {
  let t: TestTree;
  before(async () => {
    t = await TestTree.create("daemon-stale");
  });
  after(async () => {
    await stopAllDaemons();
    await t?.teardown();
  });

  test("the kernel's OOM killer kills the leak while a slow policy decides: oomkit drops its plan and kills nothing", async () => {
    const job = t.mk("job", { "memory.max": "64M", "memory.swap.max": "0" });
    const bystander = t.hog({ cgroup: job, mib: 8, noHugePages: true });
    await bystander.ready;
    const dir = tempDir("stale");
    const policy = writePolicy(
      dir,
      "slow.ts",
      `import { definePolicy } from "oomkit/policy";
interface Options { readonly bystander: number; readonly thinkMs: number }
export default definePolicy<Options>({
  name: "slow",
  description: "thinks for a long time, then picks the bystander, as a crowded machine's scan once did",
  parseOptions: (raw) => {
    const o = raw as Partial<Options>;
    return { bystander: Number(o.bystander), thinkMs: Number(o.thinkMs) };
  },
  handleOutOfMemory(oc) {
    const until = Date.now() + oc.options.thinkMs;
    while (Date.now() < until) { /* thinking */ }
    const task = oc.tasks().find((x) => x.pid === oc.options.bystander);
    return task ? oc.killTask(task, "the bystander, chosen late") : oc.pass("no bystander");
  },
});
`,
    );
    const d = await startDaemon({
      dir,
      config: `
# Raised so that the slow policy is not abandoned (the maximum is 10 s).
policy_deadline_ms = 10000
# A slow fresh decision is the case here (a standing plan made ahead would be carried out at once).
standing_decisions = false

[[attach]]
cgroup = "${rel(job)}"
file = "${policy}"
[attach.options]
bystander = ${bystander.pid}
thinkMs = ${THINK_MS}
`,
    });
    const before = readKeyed(path.join(job, "memory.events"));

    // A manual OOM: no condition to re-read, so only a kill since it was asked for can stop it.
    const asked = d.oom(rel(job), "a slow decision");
    await d.waitLine(/manual OOM in .*\/job \(a slow decision\): deciding/, GENEROUS_MS);
    const leak = t.hog({ cgroup: job, mib: 200, noHugePages: true });
    const leakExit = await leak.exited;
    assert.equal(leakExit.signal, "SIGKILL", "the kernel's OOM killer killed the leak");
    const after = readKeyed(path.join(job, "memory.events"));
    assert.equal((after.oom_kill ?? 0) - (before.oom_kill ?? 0), 1, `one kernel kill in the job: ${JSON.stringify(after)}`);

    const rec = await asked;
    assert.ok(!("skipped" in rec), `the OOM was not skipped: ${JSON.stringify(rec)}`);
    assert.deepEqual(
      rec.chain.map((c) => [c.policy, c.outcome]),
      [["slow", "dropped"]],
      `the plan was dropped, and no other policy ran: ${JSON.stringify(rec.chain)}\n${d.lines().slice(-20).join("\n")}`,
    );
    assert.equal(rec.dropped?.clearedBy, "memory.events");
    assert.match(rec.dropped?.reason ?? "", new RegExp(`^the kernel's OOM killer killed in ${rel(job).replace(/[/.]/g, "\\$&")} since the signal \\(memory\\.events oom_kill ${before.oom_kill ?? 0}→${(before.oom_kill ?? 0) + 1}\\)$`));
    assert.deepEqual(rec.plan, []);
    assert.deepEqual(rec.actions, [], "oomkit carried out nothing");
    assert.equal(rec.handled, false);
    assert.ok((rec.times.decisionMs ?? 0) >= THINK_MS, `the decision took the policy's ${THINK_MS} ms: ${rec.times.decisionMs}`);

    assert.ok(exists(bystander.pid), "the bystander lives");
    assert.ok(readFileSync(path.join(job, "cgroup.procs"), "utf8").split("\n").includes(String(bystander.pid)));
    await waitFor(() => (d.records().some((r) => r.id === rec.id) ? true : undefined), { timeoutMs: GENEROUS_MS, what: "the record in the event log" });
    assert.equal(d.records().filter((r) => r.kind !== "kernel" && r.actions.length > 0).length, 0, `oomkit killed nothing: ${d.episodeLines().join("\n")}`);
    const human = new RegExp(`oom_policy=none kind=manual .*: not acting: the kernel's OOM killer killed in .* since the signal .*; slow would kill process ${bystander.pid} \\(hog\\)`);
    assert.ok(d.episodeLines().some((l) => human.test(l)), d.episodeLines().join("\n"));
    await d.stop();
  });
});
