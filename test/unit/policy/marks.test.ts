/**
 * One meaning of "protected", checked for every built-in and for the worked example of
 * docs/writing-a-policy.md: each policy is first run on an unmarked machine to find the cgroup it
 * would hit, then that very cgroup is marked (or its tasks made -1000) and the policy is run
 * again. A policy that reads marks its own way, or proposes what the verifier refuses, fails
 * here: it kills the marked cgroup, or its chain entry is "rejected" and the OOM falls through.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { MARK_TABLE, markIgnoredBecause, markValue, omitMark, preferenceOf } from "../../../src/engine/marks.js";
import type { Policy } from "../../../src/engine/policy.js";
import type { Snapshot } from "../../../src/engine/snapshot.js";
import { cgroupContains, cgroupPath } from "../../../src/os/paths.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import type { FixtureCgroup, FixtureSpec, FixtureTask } from "../../support/fixture.js";
import { workedExampleFile } from "../../support/worked-example.js";
import { KB_PER_MB, MB, cause, engineWith, machine, snapshotOf } from "./machines.js";

const V = "/jobs/a";
const USER = 1000;

interface Variant {
  readonly marks?: Readonly<Record<string, string>>;
  /** The owner of the victim's cgroup. */
  readonly owner?: number;
  /** The owner of /jobs (the scope in the user's-side cases). */
  readonly jobsOwner?: number;
  /** Every task in the victim's cgroup at oom_score_adj -1000. */
  readonly pinned?: boolean;
}

function jobs(v: Variant = {}): FixtureSpec {
  const unit = (anonMb: number, swapMb: number, pgscan: number, extra: Partial<FixtureCgroup> = {}): FixtureCgroup => ({
    anon: anonMb * MB,
    file: 20 * MB,
    swapCurrent: swapMb * MB,
    pgscan,
    ...extra,
  });
  const task = (pid: number, cgroup: string, anonMb: number, swapMb: number, adj = 0): FixtureTask => ({
    pid,
    comm: `job${pid}`,
    cgroup,
    uid: USER,
    rssAnonKb: anonMb * KB_PER_MB,
    swapKb: swapMb * KB_PER_MB,
    oomScoreAdj: adj,
  });
  const adj = v.pinned ? -1000 : 0;
  return {
    memTotalKb: 2048 * KB_PER_MB,
    memAvailableKb: 100 * KB_PER_MB,
    swapTotalKb: 1024 * KB_PER_MB,
    swapFreeKb: 800 * KB_PER_MB,
    cgroups: {
      "/jobs": v.jobsOwner === undefined ? {} : { owner: v.jobsOwner },
      [V]: unit(400, 100, 5000, { ...(v.marks ? { xattrs: v.marks } : {}), ...(v.owner === undefined ? {} : { owner: v.owner }) }),
      "/jobs/b": unit(300, 50, 3000),
      "/jobs/c": unit(200, 20, 1000),
    },
    tasks: [task(10, V, 380, 90, adj), task(11, V, 20, 10, adj), task(20, "/jobs/b", 300, 50), task(30, "/jobs/c", 200, 20)],
  };
}

/** The cgroups a plan's kills reach: a killed cgroup, or a killed task's cgroup. */
function hit(r: EpisodeRecord, s: Snapshot): string[] {
  return r.plan.flatMap((a) => {
    if (a.kind === "kill-cgroup") return [a.cgroup];
    if (a.kind === "kill-task") return [s.task(a.pid)?.cgroupPath ?? "?"];
    return [];
  });
}

const SUBJECTS: readonly { readonly name: string; readonly policy: Policy | undefined; readonly options: unknown }[] = [
  // kubernetes ranks pods only (this machine has none): its marks are tested on kubelet-shaped nodes in kubernetes.test.ts.
  ...[...BUILTIN_POLICIES].filter(([n]) => !["tmpfs", "reclaim-first", "kubernetes"].includes(n)).map(([name, policy]) => ({ name, policy: name === "kernel" ? undefined : policy, options: {} })),
  { name: "batch-first", policy: loadPolicyFile(workedExampleFile(), { enforceOwnership: true, warn: () => {} }), options: { marker: "/jobs/" } },
];

async function run(subject: (typeof SUBJECTS)[number], v: Variant, scope = "/"): Promise<{ r: EpisodeRecord; s: Snapshot }> {
  const s = snapshotOf(machine(jobs(v)));
  const r = await engineWith(subject.policy, "/", subject.options).explain(s, scope, cause);
  return { r, s };
}

const SET = ["1", "y", "yes", "true", "t", "on", "YES", " On ", "True\n"];
const NOT_SET = ["0", "n", "no", "false", "f", "off", "", "maybe", "2"];

for (const subject of SUBJECTS) {
  describe(`marks: ${subject.name}`, () => {
    const spared = async (v: Variant, scope = "/") => {
      const { r, s } = await run(subject, v, scope);
      const entry = r.chain.find((c) => c.policy === subject.name);
      assert.equal(entry?.outcome, "handled", `${subject.name} chose something the verifier allows: ${JSON.stringify(r.chain.map((c) => [c.policy, c.outcome, c.reason]))}`);
      for (const cg of hit(r, s)) assert.ok(!cgroupContains(cgroupPath(V), cgroupPath(cg)), `${subject.name} killed ${cg}, inside the protected ${V}`);
    };
    const unchanged = async (v: Variant, scope = "/") => {
      const base = await run(subject, {}, scope);
      const { r } = await run(subject, v, scope);
      assert.deepEqual(r.plan, base.r.plan, "the mark does not count: the plan is the unmarked machine's");
    };

    test(`unmarked, it hits ${V} (so every case below can fail)`, async () => {
      const { r, s } = await run(subject, {});
      assert.equal(r.policy, subject.name);
      assert.deepEqual(hit(r, s), [V]);
    });
    test("trusted.oomd_omit=1 spares the cgroup, even one a user owns", () => spared({ marks: { "trusted.oomd_omit": "1" }, owner: USER }));
    test("user.oomd_omit=no is no mark", () => unchanged({ marks: { "user.oomd_omit": "no" } }));
    test("a cgroup whose every task is oom_score_adj -1000 is passed over, not proposed and rejected", () => spared({ pinned: true }));
    for (const value of SET) test(`user.oomkit.omit=${JSON.stringify(value)} on a root-owned cgroup spares it`, () => spared({ marks: { "user.oomkit.omit": value } }));
    for (const value of NOT_SET) test(`user.oomd_omit=${JSON.stringify(value)} is no mark`, () => unchanged({ marks: { "user.oomd_omit": value } }));
    test("a user's own user.oomd_omit does not count in a machine-wide OOM", () => unchanged({ marks: { "user.oomd_omit": "1" }, owner: USER }));
    test("…and counts when the scope is that user's own cgroup", () => spared({ marks: { "user.oomd_omit": "1" }, owner: USER, jobsOwner: USER }, "/jobs"));
    test("…but not when the scope belongs to someone else", () => unchanged({ marks: { "user.oomd_omit": "1" }, owner: USER, jobsOwner: 2000 }, "/jobs"));
  });
}

describe("the mark reader", () => {
  test("one grammar: systemd's booleans, anything else sets nothing", () => {
    for (const v of SET) assert.equal(markValue(v), true, JSON.stringify(v));
    for (const v of ["0", "n", "no", "false", "f", "off", "", " "]) assert.equal(markValue(v), false, JSON.stringify(v));
    for (const v of ["maybe", "2", "-1", "yes please"]) assert.equal(markValue(v), undefined, JSON.stringify(v));
    assert.equal(markValue(undefined), undefined);
  });

  test("who may set a mark: trusted.* always, user.* where root or the scope's owner owns the cgroup", () => {
    assert.equal(markIgnoredBecause("trusted.oomd_omit", USER, 0), undefined);
    assert.equal(markIgnoredBecause("user.oomd_omit", 0, USER), undefined);
    assert.equal(markIgnoredBecause("user.oomd_omit", USER, USER), undefined);
    assert.match(markIgnoredBecause("user.oomd_omit", USER, 0) ?? "", /uid 1000/);
    assert.match(markIgnoredBecause("user.oomd_omit", undefined, undefined) ?? "", /unknown owner/, "an unknown owner is nobody's");
  });

  test("the table names each mark once, with systemd-oomd's and oomd's among them", () => {
    const names = MARK_TABLE.map((m) => m.xattr);
    assert.equal(new Set(names).size, names.length);
    for (const n of ["user.oomd_omit", "user.oomd_avoid", "trusted.oomd_prefer", "trusted.oomd_avoid"]) assert.ok(names.includes(n), n);
  });

  test("avoid and prefer: the nearest mark up the tree; both on one cgroup reads as avoid; user.* under the owner rule", () => {
    const s = snapshotOf(
      machine({
        cgroups: {
          "/a": { xattrs: { "trusted.oomd_avoid": "1" } },
          "/a/b": { xattrs: { "trusted.oomd_prefer": "1" } },
          "/a/c": {},
          "/both": { xattrs: { "trusted.oomd_prefer": "1", "user.oomd_avoid": "1" } },
          "/mine": { owner: USER, xattrs: { "user.oomkit.prefer": "1" } },
        },
      }),
    );
    const pref = (p: string) => preferenceOf(s.cgroup(p), undefined).preference;
    assert.equal(pref("/a/b"), "prefer");
    assert.equal(pref("/a/c"), "avoid");
    assert.equal(pref("/both"), "avoid");
    assert.equal(pref("/mine"), "normal", "a user's prefer mark on their own cgroup does not count machine-wide");
    assert.equal(preferenceOf(s.cgroup("/mine"), s.cgroup("/mine")).preference, "prefer");
    assert.equal(omitMark(s.cgroup("/a/c"), undefined), undefined);
  });
});

test("docs/policies.md lists exactly the marks the reader reads", () => {
  const doc = fs.readFileSync(path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../../../../docs/policies.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Protection and marks"), doc.indexOf("## `kernel`"));
  const rows = [...section.matchAll(/^\| `((?:user|trusted)\.[^`]+)` \| (omit|avoid|prefer) \|/gm)].map((m) => [m[1], m[2]]);
  assert.deepEqual(rows, MARK_TABLE.map((m) => [m.xattr, m.kind]));
});

test("priority: a user's own user.oomkit.priority does not lift their cgroup above others in a machine-wide OOM", async () => {
  const spec = (owner: number | undefined): FixtureSpec => ({
    cgroups: {
      "/a": { anon: 100 * MB, xattrs: { "user.oomkit.priority": "5" } },
      "/b": { anon: 100 * MB, xattrs: { "user.oomkit.priority": "100" }, ...(owner === undefined ? {} : { owner }) },
    },
    tasks: [
      { pid: 10, comm: "a", cgroup: "/a", rssAnonKb: 100 * KB_PER_MB },
      { pid: 20, comm: "b", cgroup: "/b", rssAnonKb: 100 * KB_PER_MB },
    ],
  });
  const priority = BUILTIN_POLICIES.get("priority");
  const victim = async (owner: number | undefined) => {
    const s = snapshotOf(machine(spec(owner)));
    const r = await engineWith(priority, "/").explain(s, "/", cause);
    return hit(r, s);
  };
  assert.deepEqual(await victim(undefined), ["/a"], "root-owned marks count: /a (5) is below /b (100)");
  assert.deepEqual(await victim(USER), ["/b"], "the user's 100 does not count: /b is at the default 0");
});
