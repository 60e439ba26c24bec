/** buildEpisode: the one pure function every episode record comes from, the kernel's kills' too. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ActionResult, type CandidateRecord, type ChainEntry, type EpisodeParts, type StepRecord, buildEpisode, capCandidates } from "../../../src/engine/episode.js";
import { mulberry32 } from "../../../src/sim/rng.js";
import type { Action } from "../../../src/engine/plan.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelEpisode } from "../../../src/report/kernel-record.js";

const WALL = Date.UTC(2026, 0, 2, 3, 4, 5, 600);
const kill = (pid: number): Action => ({ kind: "kill-task", pid, startTimeTicks: pid, comm: `t${pid}`, cgroup: cgroupPath("/job"), reason: "r" });
const entry = (policy: string, outcome: ChainEntry["outcome"], extra: Partial<ChainEntry> = {}): ChainEntry => ({ policy, attachedTo: "/job", outcome, durationMs: 1, verdicts: [], ...extra });
const result = (action: Action, freed: boolean): ActionResult => ({ action, ok: true, freed, dryRun: false, startedAtMs: WALL, finishedAtMs: WALL + 1 });
const candidate = (policy: string, i: number, extra: Partial<CandidateRecord> = {}): CandidateRecord => ({ policy, kind: "task", pid: i, score: i, ...extra });

const parts = (steps: StepRecord[], over: Partial<EpisodeParts> = {}): EpisodeParts => ({
  idSuffix: "7",
  mode: "live",
  scope: "/job",
  cause: { kind: "cgroup", trigger: "t", message: "m", figures: {} },
  source: "test",
  steps,
  timing: { declaredAtWallMs: WALL, decisionMs: 2.0004, actionMs: 40, readMs: 0.5 },
  ...over,
});

describe("buildEpisode", () => {
  test("the handling step names the policy and its verified actions are the plan; every step's actions are kept", () => {
    const steps: StepRecord[] = [
      { entry: entry("first", "not-freed", { verdicts: [{ action: kill(1), ok: true }] }), candidates: [], actions: [result(kill(1), false)] },
      { entry: entry("second", "handled", { verdicts: [{ action: kill(2), ok: false, reason: "no" }, { action: kill(3), ok: true }] }), candidates: [], actions: [result(kill(3), true)] },
    ];
    const r = buildEpisode(parts(steps));
    assert.equal(r.policy, "second");
    assert.equal(r.handled, true);
    assert.deepEqual(r.plan, [kill(3)]);
    assert.deepEqual(r.actions.map((a) => a.action), [kill(1), kill(3)]);
    assert.deepEqual(r.chain.map((c) => c.outcome), ["not-freed", "handled"]);
    assert.equal(r.id, `ep-${WALL.toString(36)}-7`);
    assert.equal(r.kind, "cgroup");
  });

  test("no handling step: not handled, no policy, no plan", () => {
    const r = buildEpisode(parts([{ entry: entry("only", "threw", { error: "Error: x" }), candidates: [], actions: [] }]));
    assert.deepEqual([r.policy, r.handled, r.plan], [null, false, []]);
  });

  test("candidates: the policy's rank first, then score; 25 scored and 25 skipped per policy; 200 in all", () => {
    const many = (policy: string) => [
      ...Array.from({ length: 30 }, (_, i) => candidate(policy, i)),
      ...Array.from({ length: 30 }, (_, i) => candidate(policy, 100 + i, { skipped: "protected" })),
    ];
    const ranked = [candidate("a", 1), candidate("a", 2, { rank: 1 }), candidate("a", 3)];
    const r1 = buildEpisode(parts([{ entry: entry("a", "passed"), candidates: ranked, actions: [] }]));
    assert.deepEqual(r1.candidates.map((c) => c.pid), [2, 3, 1]);
    const steps = ["a", "b", "c", "d", "e"].map((p) => ({ entry: entry(p, "passed"), candidates: many(p), actions: [] }));
    const r2 = buildEpisode(parts(steps));
    assert.equal(r2.candidatesTotal, 250);
    assert.equal(r2.candidates.length, 200);
    assert.deepEqual(r2.candidates.slice(0, 2).map((c) => c.pid), [29, 28]);
    assert.equal(r2.candidates[25]?.skipped, "protected");
    assert.equal(steps[0]?.candidates.length, 60, "the input is not changed");
  });

  test("times: ISO steps from the declaration, durations to the microsecond; no signal, no signal fields", () => {
    const withSignal = buildEpisode(parts([], { timing: { declaredAtWallMs: WALL, signalBeforeMs: 10, decisionMs: 2.0004, actionMs: 40, readMs: 0.5 } }));
    assert.deepEqual(withSignal.times, {
      signalAt: new Date(WALL - 10).toISOString(),
      declaredAt: new Date(WALL).toISOString(),
      decidedAt: new Date(WALL + 2).toISOString(),
      finishedAt: new Date(WALL + 42).toISOString(),
      signalToDecisionMs: 12,
      decisionMs: 2,
      readMs: 0.5,
      actionMs: 40,
    });
    const quiet = buildEpisode(parts([], { timing: { declaredAtWallMs: WALL, decisionMs: 1, actionMs: 0 } }));
    assert.deepEqual(Object.keys(quiet.times), ["declaredAt", "decidedAt", "finishedAt", "decisionMs", "actionMs"]);
    assert.equal("kernelKill" in quiet, false);
  });

  test("keys in the order docs/episode.md shows them", () => {
    const r = buildEpisode(parts([]));
    assert.deepEqual(Object.keys(r), ["schema", "id", "mode", "kind", "scope", "cause", "source", "policy", "handled", "chain", "candidates", "candidatesTotal", "plan", "actions", "times"]);
  });
});

test("the kernel's kill: the same builder, the record it always was", () => {
  const r = kernelEpisode({ seenBy: ["kmsg", "memory.events.local"], pid: 5, comm: "leak", cgroup: "/job/a", oomMemcg: "/job", anonRssBytes: 4096 }, "/job", WALL, "k1");
  const at = new Date(WALL).toISOString();
  assert.equal(
    JSON.stringify(r),
    JSON.stringify({
      schema: "oomkit.episode/1",
      id: `ep-${WALL.toString(36)}-k1`,
      mode: "live",
      kind: "kernel",
      scope: "/job",
      cause: {
        kind: "kernel",
        trigger: "kernel",
        message: "the kernel's OOM killer killed pid 5 (leak) in /job/a (/job hit its limit)",
        figures: { pid: 5, comm: "leak", cgroup: "/job/a", oomMemcg: "/job", anonRssBytes: 4096 },
      },
      source: "kernel log",
      policy: null,
      handled: true,
      chain: [],
      candidates: [],
      candidatesTotal: 0,
      plan: [],
      actions: [],
      times: { declaredAt: at, decidedAt: at, finishedAt: at, decisionMs: 0, actionMs: 0 },
      kernelKill: { seenBy: ["kmsg", "memory.events.local"], pid: 5, comm: "leak", cgroup: "/job/a", oomMemcg: "/job", anonRssBytes: 4096 },
    }),
  );
  assert.equal(kernelEpisode({ seenBy: ["vmstat"] }, "/", WALL, "k2").source, "kernel counters");
});

test("capCandidates keeps what a stable sort of the whole list would: the chosen first, then by rank, then by score; skipped ones after", () => {
  const rand = mulberry32(7);
  // The reference: the whole list sorted (stable), its first 25 scored and first 25 skipped.
  const reference = (list: readonly CandidateRecord[], chosenPid: number | undefined): CandidateRecord[] => {
    const order = (c: CandidateRecord) => (c.kind === "task" && c.pid === chosenPid ? 0 : (c.rank ?? Infinity));
    const scored = list.filter((c) => c.skipped === undefined).sort((a, b) => order(a) - order(b) || (b.score ?? -Infinity) - (a.score ?? -Infinity));
    return [...scored.slice(0, 25), ...list.filter((c) => c.skipped !== undefined).slice(0, 25)];
  };
  for (let round = 0; round < 200; round++) {
    const n = Math.floor(rand() * 120);
    const list: CandidateRecord[] = [];
    for (let i = 0; i < n; i++) {
      const r = rand();
      list.push({
        policy: "p",
        kind: "task",
        pid: i + 1,
        // Few distinct scores (ties keep the list's order), some ranked, some unscored, some skipped.
        ...(r < 0.1 ? {} : { score: Math.floor(rand() * 8) }),
        ...(r > 0.8 ? { rank: 1 + Math.floor(rand() * 5) } : {}),
        ...(r > 0.4 && r < 0.5 ? { skipped: "protected" } : {}),
      });
    }
    const chosenPid = rand() < 0.5 && n > 0 ? 1 + Math.floor(rand() * n) : undefined;
    const chosen = chosenPid === undefined ? [] : [{ action: { kind: "kill-task" as const, pid: chosenPid, startTimeTicks: 1, comm: "c", cgroup: null, reason: "r" }, ok: true }];
    assert.deepEqual(capCandidates(list, chosen), reference(list, chosenPid), `round ${round}`);
  }
});
