/**
 * The policies that free memory without killing: reclaim-first (memory.reclaim, its cooldown and
 * the fall-through when it frees nothing) and tmpfs (files removed under configured roots).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine, type Executor, type VerifiedOk } from "../../../src/engine/engine.js";
import type { ActionResult } from "../../../src/engine/episode.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { NO_PROTECTIONS, type Protections } from "../../../src/engine/verify.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { reclaimAllowed, reclaimFirst } from "../../../src/policy/reclaim-first.js";
import { orderFiles, tmpfs } from "../../../src/policy/tmpfs.js";
import type { FixtureSpec } from "../../support/fixture.js";
import { HYBRID, KB_PER_MB, MB, cause, chainOf, engineWith, machine, snapshotOf } from "./machines.js";

const JOB: FixtureSpec = {
  swapTotalKb: 0,
  cgroups: {
    "/job": { max: 1200 * MB, current: 1000 * MB, anon: 700 * MB, file: 300 * MB },
    "/job/w": { current: 1000 * MB, anon: 700 * MB, file: 300 * MB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "worker", cgroup: "/job/w", rssAnonKb: 700 * KB_PER_MB },
  ],
};

/** An executor that reports every action carried out, freeing memory only for the kinds named. */
function executor(freeing: readonly string[]): Executor & { done: string[] } {
  const done: string[] = [];
  return {
    dryRun: false,
    done,
    async execute(v: VerifiedOk): Promise<ActionResult> {
      done.push(v.action.kind);
      const now = Date.now();
      return { action: v.action, ok: true, freed: freeing.includes(v.action.kind), dryRun: false, startedAtMs: now, finishedAtMs: now };
    },
  };
}

describe("reclaim-first", () => {
  test("reclaims a share of the scope's usage, no more than its page cache when it cannot swap", async () => {
    const r = await engineWith(reclaimFirst, "/job").explain(snapshotOf(machine(JOB)), "/job", cause);
    assert.equal(r.policy, "reclaim-first");
    assert.deepEqual(r.plan.map((a) => [a.kind, "cgroup" in a && a.cgroup, "bytes" in a && a.bytes]), [["reclaim", "/job", 100 * MB]]);
    const big = await engineWith(reclaimFirst, "/job", { share: 0.5 }).explain(snapshotOf(machine(JOB)), "/job", cause);
    assert.deepEqual(big.plan.map((a) => "bytes" in a && a.bytes), [300 * MB], "capped at the 300 MB of page cache: anon cannot go without swap");
    const fixed = await engineWith(reclaimFirst, "/job", { bytes: 64 * MB }).explain(snapshotOf(machine(JOB)), "/job", cause);
    assert.deepEqual(fixed.plan.map((a) => "bytes" in a && a.bytes), [64 * MB]);
  });

  test("anon counts as reclaimable when the machine has free swap", async () => {
    const spec: FixtureSpec = { ...JOB, swapTotalKb: 1_000_000, swapFreeKb: 1_000_000 };
    const r = await engineWith(reclaimFirst, "/job", { share: 0.5 }).explain(snapshotOf(machine(spec)), "/job", cause);
    assert.deepEqual(r.plan.map((a) => "bytes" in a && a.bytes), [500 * MB]);
  });

  test("nothing reclaimable, or system-level mode: it passes and the next policy kills", async () => {
    const noCache: FixtureSpec = { ...JOB, cgroups: { "/job": { current: 700 * MB, anon: 700 * MB }, "/job/w": { anon: 700 * MB } } };
    const r = await engineWith(reclaimFirst, "/job").explain(snapshotOf(machine(noCache)), "/job", cause);
    assert.deepEqual(chainOf(r), ["reclaim-first:passed", "kernel:handled"]);
    assert.match(r.chain[0]?.reason ?? "", /nothing reclaimable/);
    const h = await engineWith(reclaimFirst, "/").explain(snapshotOf(machine(HYBRID)), "/", cause);
    assert.deepEqual(chainOf(h), ["reclaim-first:passed", "kernel:handled"]);
    assert.match(h.chain[0]?.reason ?? "", /cgroup v2/);
  });

  test("a reclaim that frees nothing does not count: the next policy acts at once (live)", async () => {
    const exec = executor(["kill-task", "kill-cgroup"]);
    const engine = engineWith(reclaimFirst, "/job");
    const r = await engine.handleOom({ snapshot: snapshotOf(machine(JOB)), scope: "/job", cause, mode: "live", executor: exec });
    assert.deepEqual(chainOf(r), ["reclaim-first:not-freed", "kernel:handled"]);
    assert.deepEqual(exec.done, ["reclaim", "kill-task"]);
    assert.equal(r.policy, "kernel");
  });

  test("an OOM back within cooldownMs of a reclaim goes straight to the next policy; the same snapshot gets the same answer", async () => {
    const dir = machine(JOB);
    const clock = new ManualClock(1_000);
    const host = new FixtureHost(dir, { clock });
    const engine = engineWith(reclaimFirst, "/job", { cooldownMs: 10_000 });
    const s0 = takeSnapshot(host);
    assert.deepEqual(chainOf(await engine.explain(s0, "/job", cause)), ["reclaim-first:handled"]);
    assert.deepEqual(chainOf(await engine.explain(s0, "/job", cause)), ["reclaim-first:handled"], "a second explain of one snapshot is not a repeat");
    clock.advance(5_000);
    const soon = await engine.explain(takeSnapshot(host), "/job", cause);
    assert.deepEqual(chainOf(soon), ["reclaim-first:passed", "kernel:handled"]);
    assert.match(soon.chain[0]?.reason ?? "", /reclaimed \/job 5000 ms ago/);
    clock.advance(6_000);
    assert.deepEqual(chainOf(await engine.explain(takeSnapshot(host), "/job", cause)), ["reclaim-first:handled"]);
    const fresh = engineWith(reclaimFirst, "/job", { cooldownMs: 10_000 });
    assert.deepEqual(chainOf(await fresh.explain(takeSnapshot(host), "/job", cause)), ["reclaim-first:handled"], "the cooldown is per attachment");
  });

  test("reclaimAllowed", () => {
    assert.equal(reclaimAllowed(undefined, 5, 10), true);
    assert.equal(reclaimAllowed(5, 5, 10), true);
    assert.equal(reclaimAllowed(5, 14, 10), false);
    assert.equal(reclaimAllowed(5, 15, 10), true);
    assert.equal(reclaimAllowed(50, 10, 10), true, "a clock that went back starts over");
    assert.equal(reclaimAllowed(5, 6, 0), true, "cooldownMs 0 turns it off");
  });
});

describe("tmpfs", () => {
  const SHM = "/dev/shm";
  const T0 = Date.UTC(2026, 0, 1);
  /** A machine with files under /dev/shm; mtimes are minutes before the fixture clock's epoch. */
  function withFiles(files: Readonly<Record<string, { mb: number; minutesAgo: number }>>): string {
    const dir = machine({ ...JOB, cgroups: { ...JOB.cgroups, "/job": { current: 100 * MB, anon: 100 * MB } } });
    for (const [p, f] of Object.entries(files)) {
      const local = path.join(dir, p);
      fs.mkdirSync(path.dirname(local), { recursive: true });
      fs.writeFileSync(local, Buffer.alloc(Math.round(f.mb * MB)));
      const t = (T0 - f.minutesAgo * 60_000) / 1000;
      fs.utimesSync(local, t, t);
    }
    return dir;
  }
  const FILES = {
    [`${SHM}/big.bin`]: { mb: 5, minutesAgo: 1 },
    [`${SHM}/old.bin`]: { mb: 2, minutesAgo: 600 },
    [`${SHM}/sub/mid.bin`]: { mb: 3, minutesAgo: 30 },
    [`${SHM}/tiny`]: { mb: 0.001, minutesAgo: 900 },
  };
  const protections: Protections = { ...NO_PROTECTIONS, tmpfsRoots: [SHM] };
  const run = (dir: string, options: unknown, scope = "/job", prot: Protections = protections) => engineWith(tmpfs, scope, options, { protections: prot }).explain(snapshotOf(dir), scope, cause);

  test("largest first, up to the target amount", async () => {
    const r = await run(withFiles(FILES), { targetBytes: 6 * MB });
    assert.equal(r.policy, "tmpfs");
    assert.deepEqual(r.plan.map((a) => a.kind === "remove-files" && a.paths), [[`${SHM}/big.bin`, `${SHM}/sub/mid.bin`]]);
    assert.equal(r.chain[0]?.verdicts[0]?.execution?.method, "unlink");
  });

  test("oldest first; files below minBytes are left alone", async () => {
    const r = await run(withFiles(FILES), { order: "oldest", targetBytes: 4 * MB });
    assert.deepEqual(r.plan.map((a) => a.kind === "remove-files" && a.paths), [[`${SHM}/old.bin`, `${SHM}/sub/mid.bin`]], "tiny is older but under 1 MiB");
  });

  test("the default target is a share of the scope's usage; minAgeMs spares recent files", async () => {
    const r = await run(withFiles(FILES), { minAgeMs: 10 * 60_000 });
    // 10 % of /job's 100 MB is 10 MB: more than the old files hold, so all of them go.
    assert.deepEqual(r.plan.map((a) => a.kind === "remove-files" && a.paths), [[`${SHM}/sub/mid.bin`, `${SHM}/old.bin`]]);
  });

  test("passes when there is nothing to remove, or no configured root", async () => {
    const empty = await run(withFiles({}), {});
    assert.deepEqual(chainOf(empty), ["tmpfs:passed", "kernel:handled"]);
    const unconfigured = await run(withFiles(FILES), {}, "/job", NO_PROTECTIONS);
    assert.deepEqual(chainOf(unconfigured), ["tmpfs:passed", "kernel:handled"]);
    assert.match(unconfigured.chain[0]?.reason ?? "", /no tmpfs roots are configured/);
    const other = await run(withFiles(FILES), { roots: ["/run/scratch"] });
    assert.match(other.chain[0]?.reason ?? "", /not configured as tmpfs roots, ignored: \/run\/scratch/);
  });

  test("a removal that frees nothing does not count (live): the next policy kills", async () => {
    const exec = executor(["kill-task"]);
    const engine = new Engine({
      attachments: [{ cgroup: cgroupPath("/job"), policy: tmpfs, options: tmpfs.parseOptions?.({}) }],
      defaultPolicy: { policy: kernelPolicy, options: {} },
      protections,
    });
    const r = await engine.handleOom({ snapshot: snapshotOf(withFiles(FILES)), scope: "/job", cause, mode: "live", executor: exec });
    assert.deepEqual(chainOf(r), ["tmpfs:not-freed", "kernel:handled"]);
  });

  test("orderFiles breaks ties by path", () => {
    const f = (p: string, sizeBytes: number, mtimeMs: number) => ({ path: p, sizeBytes, mtimeMs });
    const files = [f("/b", 1, 5), f("/a", 1, 5), f("/c", 2, 1)];
    assert.deepEqual(orderFiles(files, "largest").map((x) => x.path), ["/c", "/a", "/b"]);
    assert.deepEqual(orderFiles(files, "oldest").map((x) => x.path), ["/c", "/a", "/b"]);
  });

  test("options are validated", () => {
    assert.throws(() => tmpfs.parseOptions?.({ order: "newest" }), /policy tmpfs: options\.order/);
    assert.throws(() => tmpfs.parseOptions?.({ roots: ["tmp"] }), /options\.roots\.0: a tmpfs root is an absolute path/);
  });
});
