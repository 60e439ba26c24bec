/** The episode record's schema round trip, and the one-line human summary. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import { Engine } from "../../../src/engine/engine.js";
import { EPISODE_SCHEMA, type EpisodeRecord } from "../../../src/engine/episode.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { summarize } from "../../../src/report/human.js";
import { buildFixture } from "../../support/fixture.js";

const MB = 1024 * 1024;
const here = path.dirname(new URL(import.meta.url).pathname);

async function explained(): Promise<EpisodeRecord> {
  const engine = new Engine({ attachments: [], defaultPolicy: { policy: kernelPolicy, options: {} } });
  const snap = takeSnapshot(
    new FixtureHost(
      buildFixture({
        cgroups: { "/oom_test": { current: 200 * MB, max: 200 * MB }, "/oom_test/leak": { anon: 150 * MB }, "/oom_test/ok": { anon: 40 * MB } },
        tasks: [
          { pid: 42, comm: "leak", cgroup: "/oom_test/leak", rssAnonKb: 150 * 1024 },
          { pid: 43, comm: "ok", cgroup: "/oom_test/ok", rssAnonKb: 40 * 1024 },
        ],
      }),
    ),
  );
  return engine.explain(snap, cgroupPath("/oom_test"), { kind: "cgroup", trigger: "psi:memory full 150ms/1s", message: "stalled", figures: { stallUsec: 150000 } });
}

/** The explained decision, as the daemon would have carried it out. */
function live(r: EpisodeRecord): EpisodeRecord {
  const action = r.plan[0];
  assert.ok(action);
  return {
    ...r,
    mode: "live",
    actions: [{ action, ok: true, freed: true, freedBytes: 150 * MB, dryRun: false, startedAtMs: 1_000, finishedAtMs: 1_041, details: { pidfdReadableMs: 41 } }],
  };
}

test("schema: the engine's record is plain JSON of version oomkit.episode/1, round trip exact", async () => {
  const r = await explained();
  assert.equal(EPISODE_SCHEMA, "oomkit.episode/1");
  assert.equal(r.schema, EPISODE_SCHEMA);
  const text = JSON.stringify(r);
  assert.equal(JSON.stringify(JSON.parse(text)), text);
  const back = JSON.parse(JSON.stringify(r)) as EpisodeRecord;
  assert.equal(back.policy, "kernel");
  assert.equal(back.plan[0]?.kind, "kill-task");
});

test("docs/episode.md documents the kernelKill block", () => {
  const doc = fs.readFileSync(path.join(here, "../../../../docs/episode.md"), "utf8");
  for (const field of ["kernelKill", "seenBy", "oomMemcg", "anonRssBytes", "kmsgSeq", "oomGroup"]) assert.ok(doc.includes(field), field);
});

test("human line: an oomkit kill names the policy, scope, cause, victim and what was freed", async () => {
  const line = summarize(live(await explained()));
  assert.match(line, /^oomkit ep-[0-9a-z]+-[0-9a-z]+: oom_policy=kernel kind=cgroup scope=\/oom_test cause="psi:memory full 150ms\/1s": Killed process 42 \(leak\) task_memcg=\/oom_test\/leak, freed 153600kB in /);
  assert.ok(!line.includes("\n"));
});

test("human line: explain and dry-run say what would be done", async () => {
  const line = summarize(await explained());
  assert.match(line, /oom_policy=kernel .*mode=explain: would kill process 42 \(leak\)/);
  assert.ok(!line.includes("freed"));
});

test("human line: no policy handled it", async () => {
  const r = await explained();
  const none: EpisodeRecord = { ...r, policy: null, handled: false, plan: [], actions: [], chain: r.chain.map((c) => ({ ...c, outcome: "threw" as const })) };
  assert.match(summarize(none), /oom_policy=none .*: no policy handled it \(kernel threw\); the kernel is the last resort$/);
});

test("human line: a hostile comm cannot break the line", async () => {
  const r = live(await explained());
  const a = r.plan[0];
  assert.ok(a?.kind === "kill-task");
  const evil = { ...r, plan: [{ ...a, comm: "x\ny\\z" }], actions: r.actions.map((x) => ({ ...x, action: { ...a, comm: "x\ny\\z" } })) };
  const line = summarize(evil);
  assert.ok(!line.includes("\n"));
  assert.match(line, /\(x\\x0ay\\x5cz\)/);
});

test("human line: a kernel kill is oom_policy=kernel with the kernel's figures", () => {
  const at = "2026-01-01T00:00:00.000Z";
  const r: EpisodeRecord = {
    schema: EPISODE_SCHEMA, id: "ep-x-k7", mode: "live", kind: "kernel", scope: "/oom_test",
    cause: { kind: "kernel", trigger: "kernel", message: "m", figures: {} }, source: "kernel log", policy: null, handled: true,
    chain: [], candidates: [], candidatesTotal: 0, plan: [], actions: [], times: { declaredAt: at, decidedAt: at, finishedAt: at, decisionMs: 0, actionMs: 0 },
    kernelKill: { seenBy: ["kmsg", "memory.events.local"], pid: 7, comm: "stress", cgroup: "/oom_test/leaf", oomMemcg: "/oom_test", constraint: "CONSTRAINT_MEMCG", anonRssBytes: 2048 * 1024, oomScoreAdj: 0 },
  };
  assert.equal(
    summarize(r),
    "oomkit ep-x-k7: oom_policy=kernel kind=kernel scope=/oom_test constraint=CONSTRAINT_MEMCG oom_memcg=/oom_test task_memcg=/oom_test/leaf seen_by=kmsg+memory.events.local: Killed process 7 (stress) anon-rss:2048kB oom_score_adj:0",
  );
});
