/**
 * Issue 10, "One bad file never means 'no victim'": after the verifier refuses a target, the
 * engine asks the policy again without it, as the kernel's select_bad_process goes on past a task
 * it may not kill. The case that blocked every kill: a task listed in the scope's cgroup.procs
 * whose /proc/<pid>/cgroup, read later, says another cgroup (it migrated, or its line did not
 * parse) — every policy proposed it, the verifier refused it, and nothing fell back.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { MAX_ASKS } from "../../../src/engine/ask.js";
import { Engine } from "../../../src/engine/engine.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { definePolicy, type OomCause, type Policy } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { checkEpisodeRecord } from "../../../src/report/episode-schema.js";
import { buildFixture } from "../../support/fixture.js";
import { loadSource } from "../../support/policy-files.js";

const MB_KB = 1024;
const cause: OomCause = { kind: "cgroup", trigger: "test", message: "test", figures: {} };

/** /work is out of memory; pid 10 is listed in /work/a's cgroup.procs, but its /proc/10/cgroup says /elsewhere. */
function machine(): string {
  const dir = buildFixture({
    cgroups: { "/work": {}, "/work/a": {}, "/work/b": {}, "/elsewhere": {} },
    tasks: [
      { pid: 1, comm: "init", cgroup: "/" },
      { pid: 10, comm: "mover", cgroup: "/work/a", rssAnonKb: 900 * MB_KB },
      { pid: 11, comm: "big", cgroup: "/work/a", rssAnonKb: 500 * MB_KB },
      { pid: 12, comm: "small", cgroup: "/work/b", rssAnonKb: 100 * MB_KB },
      ...[20, 21, 22, 23, 24, 25].map((pid) => ({ pid, comm: `out${pid}`, cgroup: "/elsewhere", rssAnonKb: 50 * MB_KB })),
    ],
  });
  fs.writeFileSync(path.join(dir, "proc/10/cgroup"), "0::/elsewhere\n");
  return dir;
}

function explain(policy: Policy | undefined, dir = machine()): Promise<EpisodeRecord> {
  const engine = new Engine({
    attachments: policy ? [{ cgroup: cgroupPath("/work"), policy, options: {} }] : [],
    defaultPolicy: { policy: kernelPolicy, options: {} },
    policyDeadlineMs: 10_000,
  });
  return engine.explain(takeSnapshot(new FixtureHost(dir)), "/work", cause);
}

const victims = (r: EpisodeRecord) => r.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind === "kill-cgroup" ? a.cgroup : a.kind));

/** The largest task of the scope, asking nothing of protectedReason: it proposes what the verifier refuses. */
const LARGEST = `handleOutOfMemory(oc) {
    let best;
    for (const t of oc.tasks()) if (!best || t.memory.rssBytes > best.memory.rssBytes) best = t;
    return best ? oc.killTask(best, "largest") : oc.pass("nothing");
  }`;
const largest = definePolicy({
  name: "largest",
  handleOutOfMemory(oc) {
    let best: ReturnType<typeof oc.tasks>[number] | undefined;
    for (const t of oc.tasks()) if (!best || t.memory.rssBytes > best.memory.rssBytes) best = t;
    return best ? oc.killTask(best, "largest") : oc.pass("nothing");
  },
});

describe("a task whose cgroup.procs and /proc/<pid>/cgroup disagree", () => {
  test("the default passes over it, with the reason, and kills the next one", async () => {
    const r = await explain(undefined);
    assert.equal(r.policy, "kernel");
    assert.deepEqual(victims(r), [11]);
    const mover = r.candidates.find((c) => c.pid === 10);
    assert.match(mover?.skipped ?? "", /^outside the scope \/work: \/proc\/10\/cgroup says \/elsewhere$/);
  });

  test("a policy that proposes it is refused, asked again without it, and kills the next one", async () => {
    const r = await explain(largest);
    const own = r.chain[0];
    assert.equal(r.policy, "largest");
    assert.deepEqual(victims(r), [11]);
    assert.equal(own?.outcome, "handled");
    assert.equal(own?.asks, 2);
    assert.deepEqual(own?.refused?.map((v) => [v.action.kind === "kill-task" && v.action.pid, v.ok, v.reason]), [[10, false, "outside the scope /work: /proc/10/cgroup says /elsewhere"]]);
    assert.deepEqual(own?.verdicts.map((v) => v.ok), [true], "the verdicts are the plan that stands");
    const skipped = r.candidates.find((c) => c.policy === "largest" && c.pid === 10);
    assert.equal(skipped?.skipped, "the verifier refused it: outside the scope /work: /proc/10/cgroup says /elsewhere");
    const checked = checkEpisodeRecord(JSON.parse(JSON.stringify(r)));
    assert.ok(checked.ok, checked.ok ? "" : checked.error);
  });

  test("the same from a policy file, in its own realm", async () => {
    const r = await explain(loadSource(`import { definePolicy } from "oomkit/policy";\nexport default definePolicy({ name: "largest-file", ${LARGEST} });\n`));
    assert.equal(r.policy, "largest-file");
    assert.deepEqual(victims(r), [11]);
    assert.equal(r.chain[0]?.asks, 2);
    assert.equal(r.chain[0]?.refused?.[0]?.reason, "outside the scope /work: /proc/10/cgroup says /elsewhere");
  });

  test("a kill of the cgroup that lists it is carried out task by task, sparing it", async () => {
    const r = await explain(definePolicy({ name: "cg", handleOutOfMemory: (oc) => oc.killCgroup(oc.snapshot.cgroup("/work/a") as NonNullable<ReturnType<typeof oc.snapshot.cgroup>>, "a") }));
    const v = r.chain[0]?.verdicts[0];
    assert.equal(v?.ok, true);
    assert.equal(v?.execution?.method, "per-task");
    if (v?.execution?.method !== "per-task") return;
    assert.deepEqual(v.execution.tasks.map((t) => t.pid), [11]);
    assert.deepEqual(v.execution.spared, [{ pid: 10, reason: "listed in /work/a, but /proc/10/cgroup says /elsewhere" }]);
  });
});

describe("asking again is bounded", () => {
  test(`a policy that proposes only refused targets is asked ${MAX_ASKS} times, then the chain goes on`, async () => {
    let n = 0;
    const stubborn = definePolicy({
      name: "stubborn",
      handleOutOfMemory(oc) {
        const outsider = oc.snapshot.task(20 + n++);
        return outsider ? oc.killTask(outsider, "outside, every time") : oc.pass("none left");
      },
    });
    const r = await explain(stubborn);
    const own = r.chain[0];
    assert.equal(own?.outcome, "rejected");
    assert.equal(own?.asks, MAX_ASKS);
    assert.equal(n, MAX_ASKS);
    assert.deepEqual(own?.refused?.map((v) => v.action.kind === "kill-task" && v.action.pid), [20, 21, 22].slice(0, MAX_ASKS - 1));
    assert.equal(r.policy, "kernel", "the next policy decided");
    assert.deepEqual(victims(r), [11]);
  });

  test("a policy that proposes the same refused target again is not asked a third time", async () => {
    let calls = 0;
    const same = definePolicy({
      name: "same",
      handleOutOfMemory(oc) {
        calls++;
        return oc.killTask(oc.snapshot.task(20) as NonNullable<ReturnType<typeof oc.snapshot.task>>, "pid 20, whatever it is told");
      },
    });
    const r = await explain(same);
    assert.equal(calls, 2);
    assert.equal(r.chain[0]?.asks, 2);
    assert.equal(r.chain[0]?.outcome, "rejected");
    assert.equal(r.policy, "kernel");
  });

  test("an ask that fails leaves the earlier answer, and says how it failed", async () => {
    let calls = 0;
    const brittle = definePolicy({
      name: "brittle",
      handleOutOfMemory(oc) {
        if (++calls > 1) throw new Error("did not expect to be asked twice");
        return oc.steps(oc.killTask(oc.snapshot.task(10) as NonNullable<ReturnType<typeof oc.snapshot.task>>, "mover"), oc.killTask(oc.snapshot.task(12) as NonNullable<ReturnType<typeof oc.snapshot.task>>, "small"));
      },
    });
    const r = await explain(brittle);
    const own = r.chain[0];
    assert.equal(own?.asks, 2);
    assert.equal(own?.outcome, "handled", "the verified part of its first plan stands");
    assert.deepEqual(victims(r), [12]);
    assert.match(own?.error ?? "", /^asked again without them, it threw: Error: did not expect to be asked twice$/);
  });
});
