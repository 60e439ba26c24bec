/**
 * Issue 10, "A policy cannot get out": each escape found on main, tried again from a policy file.
 * Every test here failed with the loader that ran policy files in the engine's own realm (each
 * restores what that loader let a policy break, so one failure does not cascade).
 */
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError } from "../../../src/errors.js";
import { Engine } from "../../../src/engine/engine.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import type { Policy } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { TaskNode } from "../../../src/engine/task.js";
import type { Protections } from "../../../src/engine/verify.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture } from "../../support/fixture.js";
import { refuseUnsafeSyntax } from "../../../src/policy/realm-source.js";
import { loadSource, policyDir } from "../../support/policy-files.js";

const MB_KB = 1024;
/** The kernel's choice when nothing is broken: pid 40, the only task no rule protects. */
const MACHINE = buildFixture({
  cgroups: { "/protected": {}, "/work": {} },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "guard", cgroup: "/work", rssAnonKb: 900 * MB_KB, oomScoreAdj: -1000 },
    { pid: 20, comm: "db", cgroup: "/protected", rssAnonKb: 800 * MB_KB },
    { pid: 30, comm: "sshd", cgroup: "/work", rssAnonKb: 700 * MB_KB },
    { pid: 40, comm: "worker", cgroup: "/work", rssAnonKb: 100 * MB_KB },
  ],
});
const protections = (): Protections => ({ omitCgroups: [cgroupPath("/protected")], omitCommands: [/^sshd$/], omitExecutables: [], trustedUids: [0], omitXattrs: [], tmpfsRoots: ["/dev/shm"] });
const cause = { kind: "system" as const, trigger: "test", message: "t", figures: {} };

function explain(policy: Policy | undefined, p: Protections = protections()): Promise<EpisodeRecord> {
  const engine = new Engine({
    attachments: policy ? [{ cgroup: cgroupPath("/"), policy, options: {} }] : [],
    defaultPolicy: { policy: kernelPolicy, options: {} },
    protections: p,
  });
  return engine.explain(takeSnapshot(new FixtureHost(MACHINE)), "/", cause);
}
const victims = (r: EpisodeRecord) => r.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind));
const policy = (body: string, extra = "") => loadSource(`import { definePolicy } from "oomkit/policy";\n${extra}\nexport default definePolicy({ name: "p", handleOutOfMemory(oc) {\n${body}\n} });\n`);

// What the old loader let a policy change in the engine's realm, put back after each test.
const saved = {
  includes: Array.prototype.includes,
  test: RegExp.prototype.test,
  adj: Object.getOwnPropertyDescriptor(TaskNode.prototype, "oomScoreAdj") as PropertyDescriptor,
};
afterEach(() => {
  Array.prototype.includes = saved.includes;
  RegExp.prototype.test = saved.test;
  Object.defineProperty(TaskNode.prototype, "oomScoreAdj", saved.adj);
  const g = globalThis as Record<string, unknown>;
  delete g.__oomkitLeak;
  delete g.__oomkitTimer;
});

describe("a policy cannot get out", () => {
  test('process.getBuiltinModule("node:child_process") is out of reach: no process', async () => {
    const marker = path.join(policyDir({}), "ran");
    const r = await explain(policy(`process.getBuiltinModule("node:child_process").execFileSync("touch", [${JSON.stringify(marker)}]);\nreturn oc.pass("ran");`));
    assert.equal(fs.existsSync(marker), false, "the command did not run");
    assert.equal(r.chain[0]?.outcome, "threw");
    assert.match(r.chain[0]?.error ?? "", /ReferenceError: process is not defined/);
    assert.deepEqual(victims(r), [40], "the chain went on to the default");
  });

  test("process.binding is out of reach", async () => {
    const r = await explain(policy(`return oc.pass(typeof process.binding("fs"));`));
    assert.match(r.chain[0]?.error ?? "", /ReferenceError: process is not defined/);
  });

  test("the Function constructor makes no code, from the global or from any function a policy is given", async () => {
    for (const make of ["new Function('return typeof process')", "oc.killTask.constructor('return typeof process')", "(() => 0).constructor('return typeof process')", "globalThis.constructor.constructor('return typeof process')"]) {
      const r = await explain(policy(`return oc.pass(String(${make}()));`));
      assert.equal(r.chain[0]?.outcome, "threw", make);
      assert.match(r.chain[0]?.error ?? "", /EvalError: Code generation from strings disallowed/, make);
    }
  });

  test("patching TaskNode.prototype.oomScoreAdj changes the policy's view, not what the verifier reads", async () => {
    const r = await explain(
      policy(`const guard = oc.tasks().find((t) => t.pid === 10);
Object.defineProperty(Object.getPrototypeOf(guard), "oomScoreAdj", { get: () => 0, configurable: true });
return oc.killTask(guard, "its adj reads 0 now");`),
    );
    assert.equal(r.chain[0]?.outcome, "rejected");
    assert.match(r.chain[0]?.reason ?? "", /oom_score_adj -1000/);
    assert.deepEqual(victims(r), [40]);
    assert.deepEqual(Object.getOwnPropertyDescriptor(TaskNode.prototype, "oomScoreAdj"), saved.adj);
  });

  test("Array.prototype.includes = () => false changes the policy's arrays, not [protect] in the default", async () => {
    const r = await explain(policy(`Array.prototype.includes = () => false;\nreturn oc.pass("patched");`));
    assert.deepEqual(victims(r), [40], "pid 20 in /protected is still protected");
    assert.equal(Array.prototype.includes, saved.includes);
  });

  test('oc.tmpfsRoots.push("/etc") changes nothing the verifier reads: /etc/passwd is refused', async () => {
    const p = protections();
    const r = await explain(policy(`try { oc.tmpfsRoots.push("/etc"); } catch {}\nreturn oc.removeFiles(["/etc/passwd"], "tmpfs says so");`), p);
    assert.equal(r.chain[0]?.outcome, "rejected");
    assert.match(r.chain[0]?.reason ?? "", /\/etc\/passwd is not under a configured tmpfs root/);
    assert.deepEqual(p.tmpfsRoots, ["/dev/shm"]);
    assert.deepEqual(victims(r), [40]);
  });

  test("RegExp.prototype.test patched leaves the default its victim, in this decision and the next", async () => {
    const r = await explain(policy(`RegExp.prototype.test = () => true;\nreturn oc.pass("patched");`));
    assert.deepEqual(victims(r), [40]);
    assert.equal(RegExp.prototype.test, saved.test);
    assert.deepEqual(victims(await explain(undefined)), [40], "nothing persists into later decisions");
  });

  test("a file policy may not take a built-in's name", () => {
    for (const name of ["kernel", "rules", "largest-leaf"]) {
      assert.throws(
        () => loadSource(`import { definePolicy } from "oomkit";\nexport default definePolicy({ name: "${name}", evaluateTask: () => "default" });\n`),
        (e: unknown) => e instanceof OomkitError && e.code === "E_CONFIG" && e.message.includes(`may not be named "${name}": the built-in policies' names are reserved`),
        name,
      );
    }
  });

  test("a microtask a policy leaves behind cannot exist: there are no promises to queue one", async () => {
    const r = await explain(policy(`Promise.resolve().then(() => { globalThis.__oomkitLeak = 1; });\nreturn oc.pass("queued");`));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((globalThis as Record<string, unknown>).__oomkitLeak, undefined);
    assert.match(r.chain[0]?.error ?? "", /ReferenceError: Promise is not defined/);
    assert.deepEqual(victims(r), [40]);
  });

  test("a timer a policy leaves behind cannot exist: there are no timers", async () => {
    const r = await explain(policy(`setTimeout(() => { globalThis.__oomkitTimer = 1; }, 0);\nreturn oc.pass("armed");`));
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal((globalThis as Record<string, unknown>).__oomkitTimer, undefined);
    assert.match(r.chain[0]?.error ?? "", /ReferenceError: setTimeout is not defined/);
  });

  test("async functions are refused when the file loads: a policy realm has no promises", () => {
    const cases = {
      "an async hook": `export default definePolicy({ name: "a", async handleOutOfMemory(oc) { return oc.pass("x"); } });`,
      "an async arrow": `const f = async () => 1;\nexport default definePolicy({ name: "a", evaluateTask: () => (f ? "default" : "skip") });`,
      "an async function": `async function f() {}\nexport default definePolicy({ name: "a", evaluateTask: () => (f ? "default" : "skip") });`,
    };
    for (const [what, body] of Object.entries(cases)) {
      assert.throws(
        () => loadSource(`import { definePolicy } from "oomkit/policy";\n${body}\n`),
        (e: unknown) => e instanceof OomkitError && e.code === "E_CONFIG" && /policies may not use async functions/.test(e.message),
        what,
      );
    }
  });

  test("import() reaches nothing: transpiled to require() it needs a promise, and any import() left is refused", async () => {
    const r = await explain(policy(`void import("node:fs");\nreturn oc.pass("imported");`));
    assert.match(r.chain[0]?.error ?? "", /ReferenceError: Promise is not defined/);
    assert.throws(() => refuseUnsafeSyntax("/p.js", `x = import /* c */ ("node:fs");`), /import\(\) and import\.meta are not available/);
    assert.throws(() => refuseUnsafeSyntax("/p.js", `x = import.meta;`), /import\(\) and import\.meta are not available/);
    assert.throws(() => refuseUnsafeSyntax("/p.js", `x = async\tfunction () {};`), /async functions/);
    for (const fine of [`a.import(1); a.async(2);`, `x = { import: 1, async: 2 };`, `const async = 1; f(async);`, `y = "async function import()";`, `z = /async () => import(x)/;`]) {
      assert.doesNotThrow(() => refuseUnsafeSyntax("/p.js", fine), fine);
    }
  });

  test("whatever a policy throws is recorded, and the default still decides", async () => {
    const odd = [
      ["Object.create(null)", /non-error thrown: an object without a usable toString/],
      ["{ toString() { throw new Error('no'); } }", /non-error thrown: an object without a usable toString/],
      ["new Proxy({}, { get() { throw 1; }, getPrototypeOf() { throw 2; } })", /could not be described|without a usable toString/],
      ["Symbol('s')", /non-error thrown: Symbol\(s\)/],
      ["10n", /non-error thrown: 10/],
      ["null", /non-error thrown: null/],
      ["Object.assign(new Error('m'), { name: 42 })", /^Error: m \(at \/\S+\/p\.ts:\d+ in handleOutOfMemory\)$/],
    ] as const;
    for (const [value, shown] of odd) {
      const r = await explain(policy(`throw ${value};`));
      assert.equal(r.chain[0]?.outcome, "threw", value);
      assert.match(r.chain[0]?.error ?? "", shown, value);
      assert.deepEqual(victims(r), [40], value);
    }
  });
});
