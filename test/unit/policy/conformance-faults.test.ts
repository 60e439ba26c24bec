/**
 * Issue 10, "One bad file never means 'no victim'": every built-in, with one file of its would-be
 * victim failing with each errno an OOM can bring, still chooses a victim among the others — and
 * never one the verifier could not check. Before, an EIO on one task's status made every policy,
 * the default included, throw: no victim.
 *
 * For each built-in the victim is found with every file readable; then each of that victim's
 * files (a task's, or of a task in the victim cgroup; the victim cgroup's own) fails in turn with
 * each errno, on a fresh snapshot. Deterministic and bounded: one small machine, fixed lists.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { NO_PROTECTIONS } from "../../../src/engine/verify.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import type { Host } from "../../../src/os/host.js";
import { cgroupContains, cgroupPath } from "../../../src/os/paths.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { FaultyHost, type FaultOp } from "../../support/faulty-host.js";
import { DESKTOP, MB, cause, engineWith, machine } from "./machines.js";

const SHM = "/dev/shm";
const DIR = machine(DESKTOP, { [`${SHM}/cache.bin`]: 4 * MB });
const protections = { ...NO_PROTECTIONS, tmpfsRoots: [SHM] };
const ERRNOS = ["EIO", "ENOMEM", "EAGAIN", "EINVAL"] as const;
const TASK_FILES = ["stat", "status", "oom_score_adj", "cgroup", "cmdline", "oom_score"] as const;
/** The task files without which a task cannot be verified: it must never be killed then. */
const VERIFIED_BY = new Set<string>(["stat", "oom_score_adj", "cgroup"]);
const CGROUP_FAULTS: readonly { readonly what: string; readonly file?: string; readonly ops: readonly FaultOp[] }[] = [
  { what: "memory.current", file: "memory.current", ops: ["read"] },
  { what: "memory.stat", file: "memory.stat", ops: ["read"] },
  { what: "memory.swap.current", file: "memory.swap.current", ops: ["read"] },
  { what: "memory.oom.group", file: "memory.oom.group", ops: ["read"] },
  { what: "cgroup.procs", file: "cgroup.procs", ops: ["read"] },
  { what: "its folder", ops: ["list"] },
  { what: "its xattrs", ops: ["xattr"] },
];

function explain(name: string, host: Host): Promise<EpisodeRecord> {
  const policy = name === "kernel" ? undefined : BUILTIN_POLICIES.get(name);
  return engineWith(policy, "/", {}, { protections }).explain(takeSnapshot(host), "/", cause);
}

/** The task a built-in's plan would kill (for a cgroup, its largest task; for no kill, the default's). */
async function victimOf(name: string): Promise<{ pid: number; cgroup: string }> {
  const s = takeSnapshot(new FixtureHost(DIR));
  const r = await explain(name, new FixtureHost(DIR));
  const kill = r.plan.find((a) => a.kind === "kill-task" || a.kind === "kill-cgroup");
  if (kill?.kind === "kill-task") return { pid: kill.pid, cgroup: kill.cgroup ?? "/" };
  if (kill?.kind === "kill-cgroup") {
    const tasks = s.cgroup(kill.cgroup)?.allTasks() ?? [];
    const t = [...tasks].sort((a, b) => b.memory.rssBytes - a.memory.rssBytes)[0];
    assert.ok(t, `${kill.cgroup} has a task`);
    return { pid: t.pid, cgroup: t.cgroupPath ?? kill.cgroup };
  }
  return victimOf("kernel");
}

/**
 * A victim was chosen and no policy crashed; no kill reaches `pid` when it could not be verified,
 * and no whole-cgroup kill takes in `unseen`, a cgroup whose members could not be read.
 */
function assertDecided(r: EpisodeRecord, what: string, forbid: { readonly pid?: number; readonly unseen?: string } = {}): void {
  assert.equal(r.handled, true, `${what}: no victim; chain ${JSON.stringify(r.chain.map((c) => [c.policy, c.outcome, c.error ?? c.reason]))}`);
  for (const c of r.chain) assert.ok(!["threw", "timeout", "invalid"].includes(c.outcome), `${what}: ${c.policy} ${c.outcome}: ${c.error}`);
  for (const v of r.chain.flatMap((c) => c.verdicts).filter((x) => x.ok && r.plan.includes(x.action))) {
    const e = v.execution;
    const reached = e?.method === "signal-task" ? [e.task.pid] : e?.method === "per-task" ? e.tasks.map((t) => t.pid) : [];
    if (forbid.pid !== undefined) {
      assert.ok(!reached.includes(forbid.pid), `${what}: a kill reaches pid ${forbid.pid}, which could not be verified`);
      if (e?.method === "cgroup.kill" && v.action.kind === "kill-cgroup") {
        const members = takeSnapshot(new FixtureHost(DIR)).cgroup(v.action.cgroup)?.allTasks() ?? [];
        assert.ok(!members.some((t) => t.pid === forbid.pid), `${what}: cgroup.kill of ${v.action.cgroup} reaches pid ${forbid.pid}`);
      }
    }
    if (forbid.unseen !== undefined && v.action.kind === "kill-cgroup") {
      assert.ok(!cgroupContains(cgroupPath(v.action.cgroup), cgroupPath(forbid.unseen)), `${what}: a kill of ${v.action.cgroup} takes in ${forbid.unseen}, whose members are unknown`);
    }
  }
}

for (const name of BUILTIN_POLICIES.keys()) {
  describe(`one bad file: ${name}`, () => {
    test("every file of its victim's task, with every errno: a victim is still chosen, never an unverified one", async () => {
      const { pid } = await victimOf(name);
      for (const file of TASK_FILES) {
        for (const errno of ERRNOS) {
          const host = new FaultyHost(new FixtureHost(DIR)).fail(`/proc/${pid}/${file}`, errno);
          const r = await explain(name, host);
          assertDecided(r, `${file} ${errno} of pid ${pid}`, VERIFIED_BY.has(file) ? { pid } : {});
          if (host.raised.length > 0) assert.ok(r.unreadable?.some((u) => u.path === `/proc/${pid}/${file}` && u.error === errno), `${file} ${errno}: the record lists it`);
        }
      }
    });

    test("every file of its victim's cgroup, with every errno: a victim is still chosen", async () => {
      const { pid, cgroup } = await victimOf(name);
      const dir = cgroup === "/" ? "/sys/fs/cgroup" : `/sys/fs/cgroup${cgroup}`;
      for (const f of CGROUP_FAULTS) {
        for (const errno of ERRNOS) {
          const host = new FaultyHost(new FixtureHost(DIR)).fail(f.file ? `${dir}/${f.file}` : dir, errno, f.ops);
          const r = await explain(name, host);
          // Without its marks no kill may reach its tasks; without its members, no whole-cgroup kill may take it in.
          const forbid = f.what === "its xattrs" ? { pid } : f.what === "cgroup.procs" || f.what === "its folder" ? { unseen: cgroup } : {};
          assertDecided(r, `${cgroup} ${f.what} ${errno}`, forbid);
        }
      }
    });

    test("system files a decision does not need: it still decides", async () => {
      for (const p of ["/proc/pressure/cpu", "/proc/pressure/io", "/proc/pressure/memory", "/proc/sys/kernel/osrelease", "/proc/sys/vm/swappiness", "/proc/vmstat"]) {
        for (const errno of ERRNOS) assertDecided(await explain(name, new FaultyHost(new FixtureHost(DIR)).fail(p, errno)), `${p} ${errno}`);
      }
    });
  });
}
