/**
 * Random small policy programs against the realm: statements that poke at globals and
 * prototypes, reach for the engine through every constructor, call oc's members with odd
 * arguments, throw odd values, loop and return odd things. After each, the engine's invariants:
 * loading either gives a policy or a clean OomkitError; every OOM gets a record whose chain ends
 * handled (by the policy's own valid plan, or by the built-in default after it); no protected
 * task and no file outside a tmpfs root is ever in the plan; nothing escaped into the engine's
 * realm; the engine's intrinsics are as they were. A fixed seed keeps failures reproducible
 * (OOMKIT_FUZZ_SEED picks another); the count bounds the time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
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

const PROGRAMS = 80;
const SEED = Number(process.env.OOMKIT_FUZZ_SEED ?? 0x5eed);
/** Loops end at the deadline: short, so the few programs that loop cost little. */
const DEADLINE_MS = 20;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MARK = `globalThis.__oomkitFuzzEscaped = true`;
const GLOBALS = ["Object", "Array", "Function", "String", "Number", "RegExp", "Map", "Set", "Error", "Symbol", "JSON", "Math", "Reflect", "Date", "WeakMap", "Boolean"];
const KEYS = ["includes", "test", "push", "map", "filter", "toString", "valueOf", "call", "apply", "bind", "parse", "stringify", "freeze", "get", "set", "has", "constructor", "then", "slice"];
const VALUES = ["() => false", "() => true", "() => { throw new Error('patched'); }", "undefined", "null", "42", "() => { for (;;) {} }"];
const ESCAPES = [
  `oc.constructor.constructor("${MARK}")()`,
  `oc.tasks().constructor.constructor("${MARK}")()`,
  `oc.killTask.constructor("${MARK}")()`,
  `Object.getPrototypeOf(oc.snapshot).constructor.constructor("${MARK}")()`,
  `(() => 0).constructor("${MARK}")()`,
  `globalThis.constructor.constructor("${MARK}")()`,
  `oc.snapshot.root.children.constructor.constructor("${MARK}")()`,
  `(() => { try { oc.killTask(null, "x"); } catch (e) { return e; } })().constructor.constructor("${MARK}")()`,
  `(() => { Error.prepareStackTrace = (e, s) => s; const s = new Error().stack; Error.prepareStackTrace = undefined; for (const c of s) for (const v of [c.getThis(), c.getFunction()]) if (v) v.constructor.constructor("${MARK}")(); })()`,
  `process.mainModule.require("node:fs")`,
  `require("node:fs").writeFileSync("/tmp/oomkit-fuzz-escaped", "")`,
  `__oomkit.run()`,
  `__oomkit.load(0, function () {})`,
  `eval("${MARK}")`,
  `new Function("${MARK}")()`,
];
const OC = [
  "oc.tasks()", "oc.cgroups()[1].memory.currentBytes", "oc.snapshot.system", "oc.killTask(oc.tasks()[0], 'x')", "oc.killTask({}, 'x')",
  "oc.protectedReason(oc.tasks()[1])", "oc.preference(42)", "oc.rates(null)", "oc.steps(1, 2)", "oc.removeFiles('/', 'x')", "oc.tmpfsRoots.push('/etc')",
  "oc.snapshot.cgroup('/..')", "oc.files('/etc')", "oc.badness(oc.tasks()[0])", "oc.consider(oc.tasks()[0], NaN, {})", "[...oc.snapshot.cgroups()]",
  "oc.skip(oc.cgroups()[0], 7)", "oc.ranked([1, oc, null])", "oc.reclaim(oc.scope, -1, 'x')", "oc.snapshot.files('/')", "oc.cgroups()[2].allTasks().sort()",
];
const THROWN = [
  "null", "undefined", "42", "'s'", "Symbol()", "10n", "Object.create(null)", "{ toString() { throw 1; } }", "new Proxy({}, { get() { throw 1; } })",
  "new Error('e')", "oc", "oc.tasks()", "(() => { try { oc.killTask(null, 'x'); } catch (e) { return e; } })()", "{ get message() { for (;;) {} } }",
];
const RETURNS = [
  "oc.pass('fuzz')", "oc.killTask(oc.tasks()[0], 'fuzz')", "42", "undefined", "oc", "oc.removeFiles(['/etc/passwd'], 'fuzz')",
  "{ kind: 'act', actions: [{ kind: 'kill-task', pid: 102, startTimeTicks: 1102, comm: 'cg2', cgroup: '/oom_test/cg2', reason: 'forged' }] }",
  "oc.killTask(oc.tasks().find((t) => t.pid === 102), 'guarded')", "oc.steps(oc.pass('a'), oc.killCgroup(oc.cgroups()[1], 'b'))",
];
const VERDICTS = ["'default'", "'select'", "'skip'", "'abort'", "42", "'kill'", "undefined"];

function program(random: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const statement = (depth: number, withOc: boolean): string => {
    const forms = [
      () => `${pick(GLOBALS)}.prototype.${pick(KEYS)} = ${pick(VALUES)};`,
      () => `${pick(GLOBALS)}.${pick(KEYS)} = ${pick(VALUES)};`,
      () => `delete globalThis.${pick(GLOBALS)};`,
      () => `try { ${pick(ESCAPES)}; } catch {}`,
      () => `if (${random() < 0.1}) throw ${pick(THROWN)};`,
      () => (depth < 2 ? `for (let i = 0; i < ${pick([1, 3, 100])}; i++) { ${statement(depth + 1, withOc)} }` : ";"),
      () => `while (${random() < 0.03}) {}`,
      ...(withOc
        ? [
            () => `try { void ${pick(OC)}; } catch (e) { ${pick(["void e", "void String(e)", "void e.constructor.constructor", "if (Math.random() < 0.3) throw e"])}; }`,
            () => `if (oc.tasks().length > ${pick([0, 2, 9])}) return ${pick(RETURNS)};`,
          ]
        : []),
    ];
    return pick(forms)();
  };
  const body = (n: number, withOc: boolean) => Array.from({ length: n }, () => statement(0, withOc)).join("\n  ");
  const hooks = [`handleOutOfMemory(oc) {\n  ${body(1 + Math.floor(random() * 6), true)}\n  return ${pick(RETURNS)};\n}`];
  if (random() < 0.4) hooks.push(`evaluateTask(task, chosen, oc) {\n  ${body(1 + Math.floor(random() * 3), true)}\n  return ${pick(VERDICTS)};\n}`);
  const top = random() < 0.3 ? body(1, false) : "";
  return `import { definePolicy } from "oomkit/policy";\n${top}\nexport default definePolicy({ name: "fuzz", ${hooks.join(",\n")} });\n`;
}

/** The engine's intrinsics, property by property. */
const INTRINSICS = [Object, Array, Function, String, Number, RegExp, Map, Set, Error, Symbol, JSON, Math, Reflect, Date, WeakMap, Boolean, Promise];
const fingerprint = () => INTRINSICS.map((c) => [c, ...(typeof c === "function" ? [c.prototype] : [])].map((o) => Reflect.ownKeys(o).map((k) => Reflect.getOwnPropertyDescriptor(o, k)?.value)));

test(`${PROGRAMS} random policy programs (seed ${SEED}) leave the engine's invariants whole`, async () => {
  const machine = buildFixture(OOM_TEST);
  const random = rng(SEED);
  const before = fingerprint();
  let loaded = 0;
  for (let i = 0; i < PROGRAMS; i++) {
    const source = program(random);
    const where = `program ${i} (seed ${SEED}):\n${source}`;
    let policy: Policy;
    try {
      policy = loadSource(source, { deadlineMs: DEADLINE_MS * 5 });
      loaded++;
    } catch (err) {
      assert.ok(err instanceof OomkitError && (err.code === "E_CONFIG" || err.code === "E_PERMISSION"), `${where}\nload threw ${String(err)}`);
      continue;
    }
    const engine = new Engine({
      attachments: [{ cgroup: cgroupPath("/oom_test"), policy, options: {} }],
      defaultPolicy: { policy: kernelPolicy, options: {} },
      policyDeadlineMs: DEADLINE_MS,
      protections: { omitCgroups: [], omitCommands: [], omitExecutables: [], trustedUids: [0], omitXattrs: [], tmpfsRoots: ["/dev/shm"] },
    });
    const r = await engine.explain(takeSnapshot(new FixtureHost(machine)), "/oom_test", { kind: "cgroup", trigger: "fuzz", message: "fuzz", figures: {} });
    const last = r.chain[r.chain.length - 1];
    assert.equal(last?.outcome, "handled", where);
    if (r.chain[0]?.outcome !== "handled") assert.equal(last?.policy, "kernel", where);
    for (const a of r.plan) {
      assert.ok(!(a.kind === "kill-task" && a.pid === 102), `${where}\nthe -1000 task was planned`);
      assert.ok(!(a.kind === "remove-files" && a.paths.some((p) => !p.startsWith("/dev/shm/"))), `${where}\na file outside the tmpfs root was planned`);
    }
    for (const c of r.chain) assert.ok(c.error === undefined || (typeof c.error === "string" && c.error.length <= 600), where);
    assert.equal((globalThis as Record<string, unknown>).__oomkitFuzzEscaped, undefined, `${where}\nescaped`);
    assert.deepEqual(fingerprint(), before, `${where}\nthe engine's intrinsics changed`);
  }
  assert.ok(loaded > PROGRAMS / 2, `most programs load (${loaded} of ${PROGRAMS})`);
});
