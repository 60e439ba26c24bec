/**
 * Time in a policy realm: every entry ends inside its deadline with nothing left to run after it.
 * The loader refuses async functions, so the first test plants one through a realm whose sources
 * skip the loader's checks: even then, a self-requeueing promise loop is stopped by the deadline
 * and does not outlive the call.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { OomkitError } from "../../../src/errors.js";
import { Engine } from "../../../src/engine/engine.js";
import type { Policy } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture } from "../../support/fixture.js";
import { OOM_TEST } from "../../support/machines.js";
import { loadSource } from "../../support/policy-files.js";

const machine = buildFixture(OOM_TEST);
const cause = { kind: "cgroup" as const, trigger: "test", message: "t", figures: {} };
/**
 * Any deadline ends a loop; a short one keeps these tests quick, but not so short that a call
 * that does not loop runs past it on a loaded machine (30 ms did, under a load of 7 on 2 cores).
 */
const SHORT_MS = 200;
/** Loading (compiling, the top-level code) takes longer than a call: its own deadline. */
const LOAD_MS = 2_000;

const explain = (policy: Policy, deadlineMs = 10_000) =>
  new Engine({ attachments: [{ cgroup: cgroupPath("/oom_test"), policy, options: {} }], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: deadlineMs }).explain(
    takeSnapshot(new FixtureHost(machine)),
    "/oom_test",
    cause,
  );

/**
 * Runs `code` as the one module of a realm whose sources skip the loader's checks (which refuse
 * `async`), decides `times` OOMs with it and returns each chain. In a child process: with async
 * hooks on (the test runner turns them on), stopping a promise loop mid-flight aborts Node
 * itself, one more reason the loader refuses promises; the daemon runs without them.
 */
async function planted(code: string, times: number, deadlineMs: number): Promise<string[][]> {
  const src = (p: string) => JSON.stringify(new URL(`../../../src/${p}`, import.meta.url).href);
  const script = `
    import { PolicyRealm } from ${src("engine/realm.js")};
    import { Engine } from ${src("engine/engine.js")};
    import { takeSnapshot } from ${src("engine/snapshot.js")};
    import { FixtureHost } from ${src("os/fixture-host.js")};
    import { kernelPolicy } from ${src("policy/kernel.js")};
    const sources = { resolve() { throw new Error("no imports"); }, source: () => ${JSON.stringify(`"use strict";\nconst { definePolicy } = require("oomkit/policy");\n${code}`)} };
    const policy = new PolicyRealm({ name: "planted", deadlineMs: 1000, sources }).load("/planted/p.js");
    const engine = new Engine({ attachments: [{ cgroup: "/oom_test", policy, options: {} }], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: ${deadlineMs} });
    const out = [];
    for (let i = 0; i < ${times}; i++) {
      const r = await engine.explain(takeSnapshot(new FixtureHost(${JSON.stringify(machine)})), "/oom_test", { kind: "cgroup", trigger: "t", message: "t", figures: {} });
      out.push(r.chain.map((c) => c.policy + ":" + c.outcome + ":" + (c.reason ?? "")));
      await new Promise((resolve) => setImmediate(resolve));
    }
    console.log(JSON.stringify(out));`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script]);
  return JSON.parse(stdout) as string[][];
}

describe("an entry into a policy realm ends inside its deadline", () => {
  test("a self-requeueing promise loop is stopped by the deadline and does not outlive the call", async () => {
    const chains = await planted(
      `let spins = 0;
let armed = false;
exports.default = definePolicy({ name: "spinner", handleOutOfMemory(oc) {
  if (!armed) { armed = true; (async () => { for (;;) { spins++; await null; } })(); return oc.pass("armed"); }
  return oc.pass("spins " + spins);
} });`,
      3,
      SHORT_MS,
    );
    assert.deepEqual(chains[0], ["spinner:timeout:", "kernel:handled:"]);
    assert.match(chains[1]?.[0] ?? "", /^spinner:passed:spins \d+$/, "the loop left nothing queued for the next call");
    assert.equal(chains[2]?.[0], chains[1]?.[0], "and did not run between calls");
  });

  test("a promise a policy makes settles inside the call that made it", async () => {
    const chains = await planted(
      `let state = "not yet";
exports.default = definePolicy({ name: "settle", handleOutOfMemory(oc) {
  const seen = state;
  (async () => { await null; state = "settled"; })();
  return oc.pass(seen);
} });`,
      2,
      10_000,
    );
    assert.deepEqual(chains.map((c) => c[0]), ["settle:passed:not yet", "settle:passed:settled"]);
  });

  test("a busy loop in any hook, or in parseOptions, ends at its deadline", async () => {
    const policy = loadSource(`import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "busy", parseOptions(raw) { if ((raw as { loop?: boolean }).loop) for (;;) {} return raw; }, handleOutOfMemory(oc) { for (;;) {} }, handleCgroupOffline() { for (;;) {} } });
`, { deadlineMs: LOAD_MS });
    assert.throws(() => policy.parseOptions?.({ loop: true }), (e: unknown) => e instanceof OomkitError && e.code === "E_TIMEOUT", "parseOptions ends at the load deadline");
    const r = await explain(policy, SHORT_MS);
    assert.deepEqual(r.chain.map((c) => `${c.policy}:${c.outcome}`), ["busy:timeout", "kernel:handled"]);
    const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/oom_test"), policy, options: {} }], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: SHORT_MS });
    assert.deepEqual(engine.cgroupOffline(cgroupPath("/oom_test/cg1")).map((c) => c.outcome), ["timeout"]);
  });

  test("a realm's globals hold nothing that runs later: no promises, timers, weak-reference callbacks or Atomics", () => {
    const policy = loadSource(`import { definePolicy } from "oomkit/policy";
const found: string[] = [];
const seen = new Set<unknown>();
const walk = (name: string, v: unknown, depth: number) => {
  if ((typeof v !== "object" && typeof v !== "function") || v === null || seen.has(v) || depth > 4) return;
  seen.add(v);
  for (const k of Reflect.ownKeys(v as object)) {
    if (typeof k === "string" && /promise|async|timeout|interval|immediate|microtask|finalization|weakref|atomics|webassembly|process|require/i.test(k)) found.push(name + "." + k);
    const d = Object.getOwnPropertyDescriptor(v, k);
    walk(name + "." + String(k), d && "value" in d ? d.value : undefined, depth + 1);
  }
  walk(name + ".__proto__", Object.getPrototypeOf(v), depth + 1);
};
walk("globalThis", globalThis, 0);
export default definePolicy({ name: "walk", description: JSON.stringify(found), evaluateTask: () => "default" });
`);
    // Symbol.asyncIterator is a name only: nothing in a realm can make a promise to iterate.
    assert.deepEqual(JSON.parse(policy.description ?? ""), ["globalThis.Symbol.asyncIterator"]);
  });
});
