/**
 * One suite run against every built-in policy over several machines: deterministic for the same
 * snapshot, never a target outside the scope or protected, never a crash on a machine with
 * missing files or in system-level mode.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import type { Snapshot } from "../../../src/engine/snapshot.js";
import type { TaskNode } from "../../../src/engine/task.js";
import { NO_PROTECTIONS } from "../../../src/engine/verify.js";
import { cgroupContains, cgroupPath } from "../../../src/os/paths.js";
import { BUILTIN_POLICIES, builtinPolicy } from "../../../src/policy/builtins.js";
import type { OomkitError } from "../../../src/errors.js";
import { describeMark, omitMark } from "../../../src/engine/marks.js";
import { CGROUPFS, DESKTOP, HYBRID, MISSING_FILES, OOM_TEST, MB, POD, SYSTEMD, cause, engineWith, kubeNode, machine, snapshotOf } from "./machines.js";
import type { FixtureSpec } from "../../support/fixture.js";

interface Machine {
  readonly name: string;
  readonly spec: FixtureSpec;
  readonly scopes: readonly string[];
  readonly perCgroup: boolean;
  readonly files?: Readonly<Record<string, number>>;
  readonly after?: (dir: string) => void;
}

const SHM = "/dev/shm";

const MACHINES: readonly Machine[] = [
  { name: "oom_test", spec: OOM_TEST, scopes: ["/oom_test", "/oom_test/cg3", "/oom_test/cg2", "/"], perCgroup: true },
  {
    name: "desktop",
    spec: DESKTOP,
    scopes: ["/", "/user.slice", "/system.slice/db.service", "/user.slice/user-1000.slice/app-build.scope", "/system.slice/oomkit.service"],
    perCgroup: true,
    files: { [`${SHM}/cache.bin`]: 4 * MB, [`${SHM}/sub/blob`]: 2 * MB },
  },
  {
    name: "missing files",
    spec: MISSING_FILES,
    scopes: ["/", "/work", "/work/b"],
    perCgroup: true,
    // A pid listed in cgroup.procs whose /proc entry is gone: a normal race.
    after: (dir) => fs.appendFileSync(path.join(dir, "sys/fs/cgroup/work/a/cgroup.procs"), "777\n"),
  },
  { name: "hybrid (system-level mode)", spec: HYBRID, scopes: ["/"], perCgroup: false, files: { [`${SHM}/x`]: 3 * MB } },
  { name: "kubelet node (cgroupfs)", spec: kubeNode(CGROUPFS), scopes: ["/", "/kubepods", "/kubepods/burstable", CGROUPFS.pod("burstable", POD.worker), CGROUPFS.pod("guaranteed", POD.db)], perCgroup: true },
  {
    name: "kubelet node (systemd)",
    spec: kubeNode(SYSTEMD),
    scopes: ["/", "/kubepods.slice", "/kubepods.slice/kubepods-burstable.slice", SYSTEMD.pod("burstable", POD.idle), SYSTEMD.pod("guaranteed", POD.db)],
    perCgroup: true,
  },
];

const protections = { ...NO_PROTECTIONS, tmpfsRoots: [SHM] };

/** Why the snapshot's verifier-independent rules forbid killing this task, or undefined. */
function forbidden(s: Snapshot, t: TaskNode): string | undefined {
  if (t.pid === 1) return "pid 1";
  if (t.pid === s.facts.selfPid) return "oomkit itself";
  if (t.kernelThread) return "kernel thread";
  if (t.oomScoreAdj === -1000) return "oom_score_adj -1000";
  if (s.cgroupMode.perCgroup && t.cgroupPath !== undefined) {
    const mark = omitMark(s.cgroup(t.cgroupPath), undefined);
    if (mark) return `omit-marked: ${describeMark(mark)}`;
  }
  return undefined;
}

/** Every target in the record's plan lies inside the scope and reaches no protected task. */
function assertSafe(r: EpisodeRecord, s: Snapshot, scope: string): void {
  const sc = cgroupPath(scope);
  const inScope = (p: string | null | undefined) => !s.cgroupMode.perCgroup || (p != null && cgroupContains(sc, cgroupPath(p)));
  for (const a of r.plan) {
    switch (a.kind) {
      case "kill-task": {
        const t = s.task(a.pid);
        assert.ok(t, `plan names pid ${a.pid}, which is not in the snapshot`);
        assert.ok(inScope(t.cgroupPath), `pid ${a.pid} (${t.cgroupPath}) is outside ${scope}`);
        assert.equal(forbidden(s, t), undefined, `pid ${a.pid} is protected`);
        break;
      }
      case "kill-cgroup": {
        assert.ok(inScope(a.cgroup), `${a.cgroup} is outside ${scope}`);
        const cg = s.cgroup(a.cgroup);
        assert.ok(cg && !cg.isRoot, `${a.cgroup} must be a real, non-root cgroup`);
        const verdict = r.chain.flatMap((c) => c.verdicts).find((v) => v.action === a);
        const reached = verdict?.execution?.method === "per-task" ? verdict.execution.tasks.map((t) => s.task(t.pid) as TaskNode) : cg.allTasks().filter((t) => !t.exiting);
        for (const t of reached) assert.equal(forbidden(s, t), undefined, `killing ${a.cgroup} would reach protected pid ${t.pid}`);
        break;
      }
      case "reclaim":
        assert.ok(inScope(a.cgroup), `reclaim of ${a.cgroup} is outside ${scope}`);
        assert.ok(Number.isSafeInteger(a.bytes) && a.bytes > 0);
        break;
      case "remove-files":
        for (const p of a.paths) assert.ok(p.startsWith(`${SHM}/`), `${p} is not under a configured tmpfs root`);
        break;
      default: {
        const never: never = a;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }
}

/** What a built-in needs from a machine to act at all: a skip reason when the machine lacks it. */
function needs(policy: string, m: Machine): string | undefined {
  const cgroupOnly = ["largest-leaf", "pressure", "growth", "reclaim-first"];
  if (!m.perCgroup && cgroupOnly.includes(policy)) return `${policy} works on cgroups; in system-level mode it passes and the next policy acts`;
  if (policy === "reclaim-first" && m.name === "oom_test") return "no page cache and no swap in /oom_test: reclaim would free nothing, so it passes";
  if (policy === "kubernetes" && !m.name.startsWith("kubelet node")) return "no kubelet pod cgroups on this machine: kubernetes passes and the next policy acts";
  if (policy === "tmpfs" && !m.files) return "no files under the tmpfs root on this machine";
  if (policy === "swap" && !["desktop", "hybrid (system-level mode)"].includes(m.name)) return "nothing uses swap on this machine";
  return undefined;
}

for (const [name, policy] of BUILTIN_POLICIES) {
  describe(`conformance: ${name}`, () => {
    for (const m of MACHINES) {
      describe(m.name, () => {
        const dir = machine(m.spec, m.files);
        m.after?.(dir);
        // The kernel policy is the default at the end of every chain; the others are attached at the scope.
        const engineAt = (scope: string) => (name === "kernel" ? engineWith(undefined, scope, {}, { protections }) : engineWith(policy, scope, {}, { protections }));
        for (const scope of m.scopes) {
          const engine = () => engineAt(scope);

          test(`scope ${scope}: same snapshot, same plan`, async () => {
            const s = snapshotOf(dir);
            const e = engine();
            const a = await e.explain(s, scope, cause);
            const b = await e.explain(s, scope, cause);
            assert.deepEqual(b.plan, a.plan);
            assert.deepEqual(b.chain.map((c) => c.outcome), a.chain.map((c) => c.outcome));
            const c = await engine().explain(snapshotOf(dir), scope, cause);
            assert.deepEqual(c.plan, a.plan, "a fresh snapshot of the same machine gives the same plan");
          });

          test(`scope ${scope}: never throws, never targets outside the scope or a protected task`, async () => {
            const s = snapshotOf(dir);
            const r = await engine().explain(s, scope, cause);
            const own = r.chain.find((c) => c.policy === name);
            assert.ok(own, `${name} is in the chain`);
            assert.ok(!["threw", "timeout", "invalid"].includes(own.outcome), `${name} ${own.outcome}: ${own.error ?? ""}`);
            for (const v of own.verdicts) assert.equal(v.ok, true, `the verifier refused ${JSON.stringify(v.action)}: ${v.reason}`);
            assertSafe(r, s, scope);
            for (const c of r.candidates.filter((x) => x.policy === name && x.skipped !== undefined)) {
              assert.ok((c.skipped ?? "").length > 0, "every skip says why");
            }
          });
        }

        const why = needs(name, m);
        test(`acts at ${m.scopes[0]}`, { skip: why ?? false }, async () => {
          const scope = m.scopes[0] as string;
          const r = await engineAt(scope).explain(snapshotOf(dir), scope, cause);
          assert.equal(r.policy, name, `chain: ${JSON.stringify(r.chain.map((c) => [c.policy, c.outcome, c.reason]))}`);
          assert.ok(r.plan.length > 0);
        });
      });
    }

    test("options: {} parses, unknown keys are refused with the policy's name", { skip: policy.parseOptions ? false : `${name} takes no options` }, () => {
      const parse = policy.parseOptions as (raw: unknown) => unknown;
      assert.doesNotThrow(() => parse({}));
      assert.doesNotThrow(() => parse(undefined));
      assert.throws(() => parse({ noSuchOption: 1 }), (err: Error) => err.message.includes(name) && /noSuchOption/.test(err.message));
    });
  });
}

describe("BUILTIN_POLICIES", () => {
  test("holds every built-in under its own name, kernel included", () => {
    assert.deepEqual([...BUILTIN_POLICIES.keys()].sort(), ["growth", "kernel", "kubernetes", "largest-leaf", "pressure", "priority", "reclaim-first", "rules", "swap", "tmpfs"]);
    for (const [n, p] of BUILTIN_POLICIES) assert.equal(p.name, n);
  });

  test("builtinPolicy names the known ones when asked for another", () => {
    assert.equal(builtinPolicy("rules").name, "rules");
    assert.throws(() => builtinPolicy("largest"), (err: OomkitError) => err.code === "E_CONFIG" && /largest-leaf/.test(err.message));
  });
});
