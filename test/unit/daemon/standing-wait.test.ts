// What a trigger waits for while the daemon decides ahead (src/daemon/standing.ts): the one
// policy call running then, cut off at AHEAD_CALL_MAX_MS; never the rest of the chain.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MIN_REDECIDE_MS, REDECIDE_MS } from "../../../src/daemon/standing.js";
import { AHEAD_CALL_MAX_MS } from "../../../src/engine/engine.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { definePolicy, type Policy } from "../../../src/engine/policy.js";
import { cgroupPath } from "../../../src/os/paths.js";
import type { KillBackend } from "../../../src/os/kill-port.js";
import { type FixtureSpec } from "../../support/fixture.js";
import { fixtureDaemon } from "../../support/fixture-daemon.js";

const MB = 1024 * 1024;
const MACHINE: FixtureSpec = {
  memTotalKb: 1_000_000,
  memAvailableKb: 500_000,
  cgroups: { "/jobs/a": { current: 400 * MB }, "/jobs/b": { current: 200 * MB } },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 400 * 1024 },
    { pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 200 * 1024 },
  ],
};
const TRIGGER = `standing_decisions = true\n[[trigger]]\nname = "low"\ncgroup = "/"\nmem_available = { below_percent = 10 }\n`;

const setup = (toml: string, extra: Policy[], backend?: KillBackend) => fixtureDaemon(MACHINE, toml, { extra, ...(backend ? { backend } : {}) });

const victims = (r: EpisodeRecord | undefined) => r?.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind));

describe("a trigger while the daemon decides ahead (dry-run, manual clock)", () => {
  test("a trigger that fires during a policy's call ahead waits for that call only: the chain stops after it, and the trigger acts on the plan that stood", async () => {
    const events: string[] = [];
    let calls = 0;
    let declare: (() => void) | undefined;
    const first = definePolicy({
      name: "first",
      handleOutOfMemory(oc) {
        events.push("first");
        if (++calls === 1) {
          const b = oc.tasks().find((t) => t.comm === "b");
          return b ? oc.killTask(b, "the plan that stands") : oc.pass("none");
        }
        // The trouble comes while this (second) call runs: its event is handled when the call returns.
        if (calls === 2) setImmediate(() => declare?.());
        return oc.pass("this time the next policy would decide");
      },
    });
    // The built-in default, recorded: it must not run while the episode is under way.
    const kernel = definePolicy({
      name: "kernel",
      evaluateTask: () => {
        if (events.at(-1) !== "kernel") events.push("kernel");
        return "default";
      },
    });
    // A kill that takes a while (a real one waits on the kill thread): the event loop turns meanwhile.
    const backend: KillBackend = {
      killTask: async () => {
        events.push("kill issued");
        await new Promise((r) => setTimeout(r, 20));
        events.push("kill done");
        return { kind: "vanished" };
      },
      killCgroup: async () => ({ emptied: false }),
      reclaim: async () => {},
      currentBytes: () => undefined,
      removeFile: async () => 0,
    };
    const t = setup(`${TRIGGER}[[attach]]\ncgroup = "/"\npolicy = "first"\n`, [first, kernel], backend);
    declare = () => t.daemon.declare({ scope: cgroupPath("/"), trigger: "low", cause: { kind: "system", trigger: "low", message: "MemAvailable low", figures: {} } });
    await t.daemon.start();
    await t.step(100);
    assert.deepEqual(victims(t.daemon.standing()[0]?.record), [11]);
    events.length = 0;
    await t.step(REDECIDE_MS); // decided again: "first" passes, and the trigger fires meanwhile
    assert.equal(t.episodes.length, 1);
    const r = t.episodes[0];
    assert.equal(r?.decision?.path, "standing", JSON.stringify(r?.decision));
    const killed = r?.chain.at(-1)?.verdicts.map((v) => (v.action.kind === "kill-task" ? v.action.pid : v.action.kind));
    assert.deepEqual(killed, [11], "the plan that stood before the run");
    assert.deepEqual(events, ["first", "kill issued", "kill done"], "the kernel's badness did not run ahead while the episode was under way");
    assert.equal(t.log.lines.filter((l) => /standing decision for \/ stopped after first: an episode is waiting/.test(l)).length, 1, t.log.lines.join("\n"));
    // Once the episode is over, upkeep decides again (no sooner than the last run took).
    for (let i = 0; i < 100 && !t.daemon.standing().some((e) => e.scope === "/"); i++) await t.step(100);
    assert.ok(t.daemon.standing().some((e) => e.scope === "/"), "a plan stands again");
    await t.daemon.stop();
  });

  test(`ahead, one policy call is cut off at ${AHEAD_CALL_MAX_MS} ms whatever its deadlines, and the next policy decides`, async () => {
    const endless = definePolicy({
      name: "endless",
      handleOutOfMemory() {
        for (;;) {
          /* never returns: only the deadline stops it */
        }
      },
    });
    // Four deadlines of 5 s would be 20 s ahead: the call's cap is the bound.
    const t = setup(`policy_deadline_ms = 5000\n${TRIGGER}[[attach]]\ncgroup = "/"\npolicy = "endless"\n`, [endless]);
    await t.daemon.start();
    await t.step(100);
    const e = t.daemon.standing()[0];
    const entry = e?.record.chain.find((c) => c.policy === "endless");
    assert.equal(entry?.outcome, "timeout", JSON.stringify(e?.record.chain));
    assert.match(entry?.error ?? "", new RegExp(`ran past its deadline of ${AHEAD_CALL_MAX_MS} ms`));
    assert.equal(e?.plan?.policy, "kernel");
    assert.deepEqual(victims(e?.record), [10]);
    await t.daemon.stop();
  });

  test("a scope where no plan stands (every policy failed ahead) is tried again within MIN_REDECIDE_MS, not REDECIDE_MS", async () => {
    let calls = 0;
    const kernel = definePolicy({
      name: "kernel",
      evaluateTask: () => {
        if (++calls === 1) throw new Error("a cold first call");
        return "default";
      },
    });
    const t = setup(TRIGGER, [kernel]);
    await t.daemon.start();
    await t.step(100);
    assert.equal(t.daemon.standing()[0]?.plan, undefined, "the first run made no plan");
    for (let i = 0; i < 20 && t.daemon.standing()[0]?.plan === undefined; i++) await t.step(MIN_REDECIDE_MS);
    assert.ok(calls >= 2, "tried again");
    assert.equal(t.daemon.standing()[0]?.plan?.policy, "kernel");
    assert.ok((t.daemon.standing()[0]?.madeAtMonoMs ?? Infinity) < 10_000 + 100 + REDECIDE_MS, "well before REDECIDE_MS");
    await t.daemon.stop();
  });
});
