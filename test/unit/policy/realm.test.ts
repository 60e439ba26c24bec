/**
 * A policy file's realm (src/engine/realm.ts): nothing a policy is handed leads back to the
 * engine, what it changes in its realm stays there, and every documented part of the policy API
 * works there as it does in the engine's own realm.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine } from "../../../src/engine/engine.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import type { Policy } from "../../../src/engine/policy.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { builtinPolicy } from "../../../src/policy/builtins.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture } from "../../support/fixture.js";
import { OOM_TEST } from "../../support/machines.js";
import { loadInMainRealm, loadSource, policyFile, strict } from "../../support/policy-files.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";

const machine = buildFixture({
  ...OOM_TEST,
  cgroups: { ...OOM_TEST.cgroups, "/oom_test/cg3/cg5": { current: 20 * 1024 * 1024, anon: 20 * 1024 * 1024, xattrs: { "user.oomkit.prefer": "1" } } },
});
for (const [file, bytes] of [["dev/shm/big", 8192], ["etc/secret", 10]] as const) {
  fs.mkdirSync(path.join(machine, path.dirname(file)), { recursive: true });
  fs.writeFileSync(path.join(machine, file), Buffer.alloc(bytes));
}
for (const [pid, exe] of [[101, "/usr/bin/cg1"], [104, "/usr/bin/cg4 (deleted)"]] as const) fs.symlinkSync(exe, path.join(machine, `proc/${pid}/exe`));
const cause = { kind: "cgroup" as const, trigger: "test", message: "t", figures: { limit: Number.POSITIVE_INFINITY } };
// A generous deadline, as in the other policy tests: the probe below takes 100-190 ms of the
// default 250 on an idle machine, and a loaded one must not turn its verdict into a timeout.
const engineFor = (policy: Policy | undefined, options: unknown = {}) =>
  new Engine({
    attachments: policy ? [{ cgroup: cgroupPath("/oom_test"), policy, options }] : [],
    defaultPolicy: { policy: kernelPolicy, options: {} },
    policyDeadlineMs: 10_000,
    protections: { omitCgroups: [], omitCommands: [], omitExecutables: [], trustedUids: [0], omitXattrs: [], tmpfsRoots: ["/dev/shm"] },
  });
const explain = (policy: Policy | undefined, options?: unknown): Promise<EpisodeRecord> => engineFor(policy, options).explain(takeSnapshot(new FixtureHost(machine)), "/oom_test", cause);

/** Tries Function-from-a-string through every constructor reachable from what it is given. */
const PROBE = `
const seen = new Set();
let tried = 0;
const escaped = [];
function probe(name, v, depth = 0) {
  if ((typeof v !== "object" && typeof v !== "function") || v === null || seen.has(v)) return;
  seen.add(v);
  const candidates = [];
  try { candidates.push(v.constructor, v.constructor && v.constructor.constructor); } catch {}
  try { const p = Object.getPrototypeOf(v); if (p) candidates.push(p.constructor, p.constructor && p.constructor.constructor); } catch {}
  for (const f of candidates) {
    if (typeof f !== "function" || f === v) continue;
    tried++;
    try { const r = f("return 42"); if (typeof r === "function" && r() === 42) escaped.push(name); } catch {}
  }
  if (depth > 2) return;
  for (const o of [v, Object.getPrototypeOf(v)]) {
    if (!o) continue;
    for (const k of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k);
      for (const x of [d && d.value, d && d.get, d && d.set]) probe(name + "." + String(k), x, depth + 1);
    }
  }
}
function all(name, f) { try { probe(name, f()); } catch (e) { probe(name + "!", e); } }
const report = (what) => { if (escaped.length) throw new Error("escaped through " + escaped.slice(0, 5).join(", ")); return what + " tried " + tried; };
`;

const EVERYTHING = `import * as face from "oomkit/policy";
${PROBE}
probe("face", face); probe("require", require); probe("module", module); probe("globalThis", globalThis);
export default face.definePolicy({
  name: "probe",
  parseOptions(raw) { probe("raw", raw); report("options"); return { raw, list: [1, 2] }; },
  handleOutOfMemory(oc) {
    probe("oc", oc);
    for (const [n, f] of Object.entries({ cgroups: () => oc.cgroups(), leaves: () => oc.leafCgroups(), tasks: () => oc.tasks(), roots: () => oc.tmpfsRoots,
      files: () => oc.files("/dev/shm"), cause: () => oc.cause, now: () => oc.now, options: () => oc.options, snapshot: () => oc.snapshot,
      system: () => oc.snapshot.system, vmstat: () => oc.snapshot.vmstat, root: () => oc.snapshot.root, all: () => oc.snapshot.tasks,
      walk: () => oc.snapshot.cgroups(), walked: () => [...oc.snapshot.cgroups()], facts: () => oc.snapshot.facts, mode: () => oc.snapshot.cgroupMode,
      one: () => oc.snapshot.cgroup("/oom_test"), pid: () => oc.snapshot.task(101), pages: () => oc.snapshot.systemTotalPages,
      pass: () => oc.pass("x"), steps: () => oc.steps(oc.pass("a"), oc.removeFiles(["/dev/shm/x"], "b")),
      badTarget: () => oc.killTask(null, "x"), badSteps: () => oc.steps(42), badReason: () => oc.pass(""), badPath: () => face.cgroupPath("/a/../b"),
      badSnap: () => oc.snapshot.cgroup("/.."), badRates: () => oc.rates(7) })) all(n, f);
    for (const c of oc.cgroups()) {
      for (const [n, f] of Object.entries({ c: () => c, memory: () => c.memory, stat: () => c.stat, events: () => c.events, pressure: () => c.pressure,
        xattrs: () => c.xattrs, children: () => c.children, tasks: () => c.tasks, parent: () => c.parent, pids: () => c.pids, all: () => c.allTasks(),
        desc: () => c.descendants(), rates: () => oc.rates(c), pref: () => oc.preference(c), kill: () => oc.killCgroup(c, "x"), reclaim: () => oc.reclaim(c, 1, "x"),
        pages: () => oc.snapshot.totalPagesFor(c) })) all(c.path + "." + n, f);
    }
    for (const t of oc.tasks()) {
      for (const [n, f] of Object.entries({ t: () => t, memory: () => t.memory, cmdline: () => t.cmdline, badness: () => oc.badness(t), sbad: () => oc.snapshot.badness(t),
        pref: () => oc.preference(t), kill: () => oc.killTask(t, "x") })) all(t.pid + "." + n, f);
    }
    const mode = oc.options.raw.mode;
    return mode === "evaluate" ? oc.pass(report("oom")) : oc.killTask(oc.tasks()[0], report("oom"));
  },
  evaluateTask(task, chosen, oc) { probe("task", task); probe("chosen", chosen); probe("oc2", oc); report("evaluate"); return "default"; },
  handlePressure(event, pc) {
    probe("event", event); probe("pc", pc); all("pcRates", () => pc.rates(pc.snapshot.cgroup("/oom_test"))); all("declare", () => pc.declareOom(42, "x"));
    report("pressure");
  },
  handleCgroupOnline(cgroup, options) { probe("online", cgroup); probe("opts", options); report("online"); },
  handleCgroupOffline(path, options) { probe("offline", path); probe("opts2", options); report("offline"); },
});
`;

describe("nothing a policy is handed leads back to the engine", () => {
  test(".constructor.constructor from everything a policy receives makes no code", async () => {
    const policy = loadSource(EVERYTHING);
    const engine = engineFor(policy, policy.parseOptions?.({ nested: { list: [1, "two"] } }));
    const r = await engine.explain(takeSnapshot(new FixtureHost(machine)), "/oom_test", cause);
    assert.equal(r.chain[0]?.outcome, "handled", r.chain[0]?.error);
    const tried = Number(/oom tried (\d+)/.exec(r.plan[0]?.reason ?? "")?.[1]);
    assert.ok(tried > 1000, `the probe reached a lot (${tried} constructors tried)`);
    // With its handleOutOfMemory passing, the selection loop asks evaluateTask about each task.
    const evaluated = await engineFor(policy, policy.parseOptions?.({ mode: "evaluate" })).explain(takeSnapshot(new FixtureHost(machine)), "/oom_test", cause);
    assert.deepEqual([evaluated.chain[0]?.outcome, evaluated.chain[0]?.error], ["handled", undefined]);
    assert.match(evaluated.plan[0]?.reason ?? "", /highest badness/);
    const snapshot = takeSnapshot(new FixtureHost(machine));
    const event = { cgroup: cgroupPath("/oom_test"), resource: "memory" as const, stall: "full" as const, stallUsec: 1, windowUsec: 2, pressure: undefined, atMonoMs: 3 };
    const calls = [
      engine.handlePressure({ event, snapshot, trigger: "t", cause })?.call,
      ...engine.cgroupOnline(snapshot.cgroup("/oom_test/cg1") ?? assert.fail()),
      ...engine.cgroupOffline(cgroupPath("/oom_test/cg1")),
    ];
    assert.deepEqual(calls.map((c) => [c?.hook, c?.outcome, c?.error]), [
      // The probe's own declareOom(42) is refused, and caught by the engine after the call.
      ["handlePressure", "invalid", "declareOom takes a cgroup or a cgroup path, got a number"],
      ["handleCgroupOnline", "ok", undefined],
      ["handleCgroupOffline", "ok", undefined],
    ]);
  });

  test("the same probe run in the engine's own realm does escape (so the probe can tell)", async () => {
    const source = `import { definePolicy } from "oomkit/policy";\n${PROBE}\nexport default definePolicy({ name: "p", handleOutOfMemory(oc) { probe("oc", oc, 3); return oc.pass(report("oom")); } });\n`;
    const r = await explain(loadInMainRealm(policyFile(source)));
    assert.match(r.chain[0]?.error ?? "", /escaped through oc/);
    assert.equal((await explain(loadSource(source))).chain[0]?.outcome, "passed");
  });

  test("prototypes patched in a realm change nothing in the engine's realm or in how built-ins decide", async () => {
    const intrinsics = [Object, Array, Function, String, Number, Boolean, RegExp, Map, Set, WeakMap, Error, TypeError, Symbol, Date, JSON, Math, Reflect, Promise];
    const shape = () => intrinsics.map((c) => [c, ...(typeof c === "function" ? [c.prototype] : [])].map((o) => Reflect.ownKeys(o).map((k) => [k, Reflect.getOwnPropertyDescriptor(o, k)?.value])));
    const before = shape();
    const builtin = builtinPolicy("largest-leaf");
    const expected = (await explain(builtin)).plan;
    const patcher = loadSource(`import { definePolicy } from "oomkit/policy";
const names = ["Object", "Array", "Function", "String", "Number", "Boolean", "RegExp", "Map", "Set", "WeakMap", "Error", "TypeError", "Symbol", "Date", "JSON", "Math", "Reflect"];
export default definePolicy({ name: "patcher", handleOutOfMemory(oc) {
  for (const n of names) for (const o of [globalThis[n], globalThis[n].prototype]) {
    if (!o) continue;
    for (const k of Reflect.ownKeys(o)) { try { o[k] = () => { throw new Error("patched " + String(k)); }; } catch {} }
  }
  return oc.pass("patched everything");
} });
`);
    for (let i = 0; i < 2; i++) {
      const r = await explain(patcher);
      assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [101], "the default still decides");
    }
    assert.deepEqual(shape(), before);
    assert.deepEqual((await explain(builtin)).plan, expected);
  });
});

describe("the policy API in a realm", () => {
  test("the face's helpers answer as the engine's do", async () => {
    const face = await import("../../../src/policy/face.js");
    const table = (f: typeof face) => {
      const run = (g: () => unknown) => {
        try {
          return g();
        } catch (e) {
          return { error: (e as Error).message };
        }
      };
      return JSON.stringify({
        keys: Object.keys(f).filter((k) => k !== "default").sort(),
        paths: ["/", "a", "/a/b/", "./a", "/a/./b", "/a/../b", "//x//y"].map((p) => [run(() => f.cgroupPath(p)), run(() => f.parentCgroup(f.cgroupPath(p)))]),
        contains: [["/", "/a"], ["/a", "/ab"], ["/a", "/a/b"], ["/a", "/a"]].map(([o, i]) => f.cgroupContains(o as never, i as never)),
        marks: ["1", " Yes ", "off", "", "maybe", undefined].map((v) => f.markValue(v)),
        ignored: [["user.x", 1000, 1000], ["user.x", 0, 5], ["user.x", undefined, 5], ["trusted.x", 5, 6], ["user.x", 7, 8]].map(([x, c, s]) => f.markIgnoredBecause(x as string, c as number, s as number)),
        owners: [undefined, { isRoot: true, ownerUid: 5 }, { isRoot: false, ownerUid: 5 }].map((s) => f.scopeOwnerOf(s as never)),
        mark: f.describeMark({ kind: "omit", cgroup: f.ROOT_CGROUP, xattr: "user.oomd_omit", value: "1" }),
        constants: [f.OOM_SCORE_ADJ_MIN, f.OOM_SCORE_ADJ_MAX, f.ROOT_CGROUP, f.PREFERENCE_ORDER],
      });
    };
    const policy = loadSource(`import * as f from "oomkit/policy";\nconst table = ${table.toString()};\nexport default f.definePolicy({ name: "t", description: table(f), evaluateTask: () => "default" });\n`);
    assert.deepEqual(JSON.parse(policy.description ?? ""), JSON.parse(table(face)));
  });

  test("options cross as data: what JSON lacks survives, __proto__ stays a key", async () => {
    const policy = loadSource(`import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "opts", handleOutOfMemory(oc) {
  const o = oc.options;
  return oc.pass([o.inf === Infinity, o.$n === "x", Object.getPrototypeOf(o) === Object.prototype, Object.keys(o).includes("__proto__"), o.when instanceof Date, String(o.big + 1n), oc.cause.figures.limit].join(" "));
} });`);
    const options = JSON.parse('{"inf":0,"$n":"x","__proto__":{"polluted":true},"big":0}') as Record<string, unknown>;
    Object.assign(options, { inf: Number.POSITIVE_INFINITY, when: new Date(0), big: 41n });
    const r = await explain(policy, options);
    assert.equal(r.chain[0]?.reason, "true true true true true 42 Infinity");
  });

  test("files are listed only under configured tmpfs roots, however a policy asks", async () => {
    const r = await explain(
      loadSource(`import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "ls", handleOutOfMemory(oc) {
  const ls = (fs: readonly { path: string }[]) => fs.map((f) => f.path);
  return oc.pass(JSON.stringify([ls(oc.files("/dev/shm")), ls(oc.snapshot.files("/dev/shm")), ls(oc.files("/etc")), ls(oc.snapshot.files("/etc")), ls(oc.snapshot.files("/"))]));
} });`),
    );
    assert.deepEqual(JSON.parse(r.chain[0]?.reason ?? ""), [["/dev/shm/big"], ["/dev/shm/big"], [], [], []]);
  });

  test("what could not be read crosses as a string, asked afresh as more is read", async () => {
    const { FaultyHost } = await import("../../support/faulty-host.js");
    const host = new FaultyHost(new FixtureHost(machine)).fail("/proc/104/status", "EIO").fail("/sys/fs/cgroup/oom_test/cg3/cg4/memory.current", "ENOMEM");
    const policy = loadSource(`import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "ur", handleOutOfMemory(oc) {
  const t = oc.tasks().find((x) => x.pid === 104);
  const c = oc.cgroups().find((x) => x.path === "/oom_test/cg3/cg4");
  const before = [t.unreadable, c.unreadable];
  void t.memory; void c.memory.currentBytes;
  return oc.pass(JSON.stringify([...before, t.unreadable, c.unreadable, t.memory.rssBytes, c.memory.currentBytes ?? null]));
} });`);
    const r = await engineFor(policy).explain(takeSnapshot(host), "/oom_test", cause);
    assert.deepEqual(JSON.parse(r.chain[0]?.reason ?? ""), [null, null, "status unreadable: EIO", "memory.current unreadable: ENOMEM", 0, null]);
  });

  test("a read a decision truly needs fails in a realm as in the engine: the error names the file, the default still runs", async () => {
    const { FaultyHost } = await import("../../support/faulty-host.js");
    const host = new FaultyHost(new FixtureHost(machine)).fail("/proc/meminfo", "EIO");
    const policy = loadSource(`import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "weigh", handleOutOfMemory(oc) {
  const t = oc.tasks().find((x) => x.pid === 104);
  return oc.pass(String(oc.snapshot.systemTotalPages + (t ? 0 : 1)));
} });`);
    const r = await engineFor(policy).explain(takeSnapshot(host), "/oom_test", cause);
    assert.equal(r.chain[0]?.outcome, "threw");
    assert.match(r.chain[0]?.error ?? "", /^OomkitError: .*MemTotal is unknown \(\/proc\/meminfo unreadable: EIO\); it is needed to weigh oom_score_adj/);
    assert.equal(r.policy, "kernel", "in /oom_test, with its own memory.max, the default weighs by the cgroup's limit");
  });

  /** Runs a policy loaded from `source` once on /oom_test over a host that counts its reads. */
  async function runCounting(name: string, source: string) {
    const { CountingHost } = await import("../../support/counting-host.js");
    const { OomControlImpl } = await import("../../../src/engine/oom-control.js");
    const { runPolicy } = await import("../../../src/engine/select.js");
    const { History } = await import("../../../src/engine/history.js");
    const { VictimRegistry } = await import("../../../src/engine/victims.js");
    const { NO_PROTECTIONS } = await import("../../../src/engine/verify.js");
    const { PolicyStateStore } = await import("../../../src/engine/policy-state.js");
    const policy = loadSource(source);
    const host = new CountingHost(new FixtureHost(machine));
    const snapshot = takeSnapshot(host);
    const scope = snapshot.cgroup("/oom_test");
    const oc = new OomControlImpl(name, {}, { snapshot, scope, protections: NO_PROTECTIONS, victims: new VictimRegistry(), cause, history: new History() }, new PolicyStateStore().draft(name, "/oom_test"));
    return { host, r: runPolicy(policy, oc) };
  }

  test("a policy that reads only cgroups makes no /proc/<pid> read", async () => {
    const { host, r } = await runCounting(
      "cg",
      `import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "cg", handleOutOfMemory(oc) {
  const leaf = [...oc.leafCgroups()].sort((a, b) => (b.memory.currentBytes ?? 0) - (a.memory.currentBytes ?? 0))[0];
  return leaf && !leaf.memory.oomGroup ? oc.killCgroup(leaf, "largest") : oc.pass("none");
} });`,
    );
    assert.deepEqual("plan" in r && r.plan.kind === "act" && r.plan.actions.map((a) => a.kind === "kill-cgroup" && a.cgroup), ["/oom_test/cg2"]);
    assert.deepEqual(host.reads.filter((p) => /^\/proc\/\d+\//.test(p)), []);
    assert.ok(host.reads.some((p) => p.endsWith("/oom_test/cg2/memory.current")), "it did read what it asked for");
  });

  test("oc.visitTasks in a realm reads a process only when the loop reaches it, in tasks()'s order", async () => {
    const { host, r } = await runCounting(
      "first-two",
      `import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "first-two", handleOutOfMemory(oc) {
  const seen = [];
  for (const t of oc.visitTasks()) if (seen.push(t) === 2) break;
  return seen[1] ? oc.killTask(seen[1], "the second visited") : oc.pass("fewer than two");
} });`,
    );
    const stats = host.reads.filter((p) => /^\/proc\/\d+\/stat$/.test(p));
    assert.equal(stats.length, 2, `two processes read: ${stats.join(" ")}`);
    const all = takeSnapshot(new FixtureHost(machine)).cgroup("/oom_test")?.allTasks().map((t) => t.pid).sort((a, b) => a - b) ?? [];
    assert.ok(all.length > 2);
    assert.deepEqual("plan" in r && r.plan.kind === "act" && r.plan.actions.map((a) => a.kind === "kill-task" && a.pid), [all[1]], "the second by pid (no sizes kept)");
  });

  test("cut short by its deadline, a policy's best so far is carried out, in a realm as in the engine's", async () => {
    const file = policyFile(`import { definePolicy } from "oomkit/policy";
export default definePolicy({
  name: "thinker",
  handleOutOfMemory(oc) {
    for (const t of oc.tasks()) if (t.comm === "cg5") oc.bestSoFar(oc.killTask(t, "the best so far"));
    for (;;) { /* think on */ }
  },
});
`);
    const records = [];
    for (const p of [loadPolicyFile(file, strict), loadInMainRealm(file)]) {
      const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/oom_test"), policy: p, options: {} }], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 300 });
      const r = await engine.explain(takeSnapshot(new FixtureHost(machine)), "/oom_test", cause);
      records.push({ chain: r.chain.map((c) => [c.policy, c.outcome, c.cutShort]), plan: r.plan });
    }
    assert.deepEqual(records[0], records[1]);
    assert.deepEqual(records[0]?.chain, [["thinker", "handled", "ran past its deadline of 300 ms; acting on its best so far"]]);
    assert.deepEqual(records[0]?.plan.map((a) => a.kind === "kill-task" && [a.pid, a.reason]), [[105, "the best so far"]]);
    // Only a plan the builders made in this call may be offered.
    const bad = loadSource(`import { definePolicy } from "oomkit/policy";
export default definePolicy({ name: "bad-offer", handleOutOfMemory(oc) { oc.bestSoFar({ kind: "act", actions: [] }); return oc.pass("x"); } });
`);
    const r = await explain(bad);
    assert.equal(r.chain[0]?.outcome, "threw");
    assert.match(r.chain[0]?.error ?? "", /bestSoFar takes a plan made by the oc builders/);
  });

  test("every documented API decides in a realm exactly as in the engine's own realm", async () => {
    const file = policyFile(`import { definePolicy, PREFERENCE_ORDER, type CgroupNode, type OomControl, type TaskNode } from "oomkit/policy";
const size = (c: CgroupNode) => c.stat?.anonBytes ?? c.memory.currentBytes ?? 0;
export default definePolicy<{ readonly mode: string }>({
  name: "tour",
  parseOptions: (raw) => ({ mode: String((raw as { mode?: unknown }).mode ?? "oom") }),
  handleOutOfMemory(oc: OomControl<{ readonly mode: string }>) {
    if (oc.options.mode !== "oom") return oc.pass("evaluate instead");
    const leaves = oc.leafCgroups().filter((c) => !oc.isVictim(c));
    for (const c of leaves) {
      const why = oc.protectedReason(c);
      if (why) oc.skip(c, why);
      else oc.consider(c, size(c), \`\${oc.preference(c).preference} \${JSON.stringify(oc.rates(c))} \${c.populated} \${c.tasks.length}\`);
    }
    const order = leaves.filter((c) => !oc.protectedReason(c)).sort((a, b) => PREFERENCE_ORDER[oc.preference(a).preference] - PREFERENCE_ORDER[oc.preference(b).preference] || size(b) - size(a));
    oc.ranked(order);
    const files = oc.files("/dev/shm");
    const t = oc.tasks().find((x: TaskNode) => !oc.protectedReason(x) && oc.badness(x).killable);
    const visited: number[] = [];
    for (const x of oc.visitTasks()) if (visited.push(x.pid) === 2) break;
    oc.consider(oc.scope as CgroupNode, 0, \`visited first \${visited.join(",")}; in all \${[...oc.visitTasks()].map((x: TaskNode) => x.pid).join(",")}\`);
    return oc.steps(files[0] ? oc.removeFiles([files[0].path], "largest file") : oc.pass("no files"), order[0] ? oc.killCgroup(order[0], "first in order") : oc.pass("none"), t ? oc.killTask(t, \`badness \${JSON.stringify(oc.badness(t))} exe \${t.exe} of \${oc.tasks().map((x: TaskNode) => String(x.exe)).join(" ")}; trusted uids \${oc.trustedUids.join(",")}\`) : oc.pass("no task"), oc.reclaim(oc.scope as CgroupNode, 4096, "a little"));
  },
  evaluateTask(task, chosen) {
    return task.comm === "cg4" ? "select" : chosen?.comm === "cg4" ? "skip" : task.cmdline.length > 5 ? "abort" : "default";
  },
});
`);
    for (const mode of ["oom", "evaluate"]) {
      const records = [];
      for (const p of [loadPolicyFile(file, strict), loadInMainRealm(file)]) {
        const r = await engineFor(p, p.parseOptions?.({ mode })).explain(takeSnapshot(new FixtureHost(machine)), "/oom_test", cause);
        records.push({ chain: r.chain.map((c) => ({ ...c, durationMs: 0 })), plan: r.plan, candidates: r.candidates });
      }
      assert.deepEqual(records[0]?.chain[0]?.error, undefined, mode);
      assert.deepEqual(records[0], records[1], mode);
      assert.equal(records[0]?.chain[0]?.outcome, "handled", mode);
      if (mode === "oom") {
        const kill = records[0]?.plan.find((a) => a.kind === "kill-task");
        assert.match(kill?.reason ?? "", / exe \/usr\/bin\/cg1 of \/usr\/bin\/cg1 undefined undefined undefined; trusted uids 0$/, "exe and trustedUids cross, a deleted executable as none");
      }
    }
  });
});
