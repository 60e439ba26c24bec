import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../../src/engine/engine.js";
import { definePolicy, type OomCause, type Policy } from "../../../src/engine/policy.js";
import { MAX_KEY_LENGTH, MAX_KEYS, MAX_VALUE_BYTES, PolicyStateStore } from "../../../src/engine/policy-state.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { builtinPolicy } from "../../../src/policy/builtins.js";
import { buildFixture } from "../../support/fixture.js";
import { loadInMainRealm, loadSource, policyFile } from "../../support/policy-files.js";

export { SOURCE as COUNTING_POLICY };

const MB = 1024 * 1024;
const machine = buildFixture({
  cgroups: { "/jobs": {}, "/jobs/a": { current: 300 * MB }, "/jobs/b": { current: 200 * MB } },
  tasks: [
    { pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 300 * 1024 },
    { pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 200 * 1024 },
  ],
});
const cause: OomCause = { kind: "cgroup", trigger: "test", message: "t", figures: {} };

/** Counts its decisions in its state, and kills the largest task it has not chosen before. */
const SOURCE = `import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "counting", handleOutOfMemory(oc) {
  const n = (oc.state.get("decisions") as number | undefined) ?? 0;
  oc.state.set("decisions", n + 1);
  const chosen = (oc.state.get("chosen") as number[] | undefined) ?? [];
  const t = [...oc.tasks()].filter((x) => !chosen.includes(x.pid)).sort((x, y) => y.memory.rssBytes - x.memory.rssBytes)[0];
  if (!t) return oc.pass("all chosen before");
  oc.state.set("chosen", [...chosen, t.pid]);
  return oc.killTask(t, "largest not chosen before (decision " + (n + 1) + ")");
}, handleCgroupOffline(cgroup, _options, state) { state.set("chosen", undefined); } });
`;

function engineWith(policy: Policy) {
  return new Engine({ attachments: [{ cgroup: cgroupPath("/jobs"), policy, options: {} }], defaultPolicy: { policy: builtinPolicy("kernel"), options: {} } });
}
const snap = () => takeSnapshot(new FixtureHost(machine));
const victim = (r: { plan: readonly { kind: string; pid?: number }[] }) => r.plan.map((a) => a.pid);

describe("policy state", () => {
  test("a draft reads the store and its own writes; only commit makes them the store's; values are copies", () => {
    const store = new PolicyStateStore();
    const a = store.draft("p", "/x");
    const v = { n: [1, 2] };
    a.set("k", v);
    v.n.push(3);
    assert.deepEqual(a.get("k"), { n: [1, 2] }, "copied in");
    (a.get("k") as { n: number[] }).n.push(9);
    assert.deepEqual(a.get("k"), { n: [1, 2] }, "copied out");
    assert.equal(store.draft("p", "/x").get("k"), undefined, "not committed");
    a.commit();
    assert.deepEqual(store.draft("p", "/x").get("k"), { n: [1, 2] });
    assert.equal(store.draft("p", "/y").get("k"), undefined, "each attachment has its own");
    const b = store.draft("p", "/x");
    b.set("k", undefined);
    assert.deepEqual(b.keys(), []);
    b.reset();
    assert.deepEqual(b.keys(), ["k"]);
  });

  test("bounded: key length, value size, number of keys; only JSON", () => {
    const d = new PolicyStateStore().draft("p", null);
    assert.throws(() => d.set("", 1), /a key is a string of 1 to/);
    assert.throws(() => d.set("x".repeat(MAX_KEY_LENGTH + 1), 1), /a key is a string/);
    assert.throws(() => d.set("big", "x".repeat(MAX_VALUE_BYTES)), /bytes of JSON; at most/);
    assert.throws(() => d.set("bad", 10n as unknown as number), /not JSON/);
    assert.throws(() => d.setJson("bad", "{not json"), SyntaxError);
    for (let i = 0; i < MAX_KEYS; i++) d.setJson(`k${i}`, "1");
    assert.throws(() => d.set("one-more", 1), new RegExp(`at most ${MAX_KEYS} keys`));
    d.set("k1", 2); // an existing key may change
  });

  for (const where of ["the engine's realm", "a policy file's realm"] as const) {
    test(`${where}: explain and deciding ahead change no state; a carried-out plan does; a cgroup hook's writes count`, async () => {
      const policy = where === "a policy file's realm" ? loadSource(SOURCE) : loadInMainRealm(policyFile(SOURCE));
      const engine = engineWith(policy);
      const peek = () => engine.state.draft("counting", "/jobs");
      for (let i = 0; i < 3; i++) assert.deepEqual(victim(await engine.explain(snap(), "/jobs", cause)), [10], "explain: the same every time");
      assert.equal(peek().get("decisions"), undefined);
      const { plan } = await engine.prepare({ snapshot: snap(), scope: "/jobs", cause });
      assert.ok(plan);
      assert.equal(peek().get("decisions"), undefined, "deciding ahead wrote nothing yet");
      const r = await engine.carryOut(plan, { snapshot: snap(), cause, mode: "dry-run", maxAgeMs: 60_000 });
      assert.ok("record" in r);
      assert.deepEqual(peek().get("chosen"), [10], "carried out: its writes count");
      assert.deepEqual(victim(await engine.handleOom({ snapshot: snap(), scope: "/jobs", cause, mode: "dry-run" })), [11]);
      assert.deepEqual(peek().get("chosen"), [10, 11]);
      assert.equal(peek().get("decisions"), 2);
      engine.cgroupOffline(cgroupPath("/jobs/a"));
      assert.equal(peek().get("chosen"), undefined, "handleCgroupOffline forgot it");
    });
  }

  test("a call that threw leaves no writes", async () => {
    const thrower = definePolicy({
      name: "thrower",
      handleOutOfMemory(oc) {
        oc.state.set("half-done", true);
        throw new Error("boom");
      },
    });
    const engine = engineWith(thrower);
    await engine.handleOom({ snapshot: snap(), scope: "/jobs", cause, mode: "dry-run" });
    assert.equal(engine.state.draft("thrower", "/jobs").get("half-done"), undefined);
  });
});
