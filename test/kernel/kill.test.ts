// The kill path of src/os/kill.ts on a real kernel: the pidfd primitives, the kill sequence the
// daemon's backend runs (start-time check, SIGTERM grace, SIGKILL, process_mrelease, wait), and
// cgroup.kill, memory.reclaim and freezing written through a LinuxHost.
import assert from "node:assert/strict";
import { readFileSync, rmdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { OomkitError } from "../../src/errors.js";
import { LinuxHost } from "../../src/os/linux-host.js";
import { parseProcStat } from "../../src/os/parse/proc.js";
import {
  closePidfd,
  freeze,
  killCgroup,
  killTask,
  pidfdOpen,
  pidfdSendSignal,
  processMrelease,
  reclaim,
  thaw,
  waitPidfdReadable,
} from "../../src/os/kill.js";
import { PAGE_CACHE_FILE, TestTree, readKeyed, readNumber, vmSkip, waitForKey, waitPopulated } from "./helpers.js";

const MIB = 1024 * 1024;
const host = new LinuxHost();
const startTime = (pid: number) => parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8")).startTimeTicks;

describe("kill primitives", { skip: vmSkip() }, () => {
  let t: TestTree;
  before(async () => {
    t = await TestTree.create("kill");
  });
  after(() => t?.teardown());

  test("pidfd SIGKILL + process_mrelease frees a hog's memory; the pidfd turns readable", async () => {
    const cg = t.mk("pidfd");
    const hog = t.hog({ cgroup: cg, mib: 64 });
    await hog.ready;
    assert.ok(readNumber(path.join(cg, "memory.current")) >= 64 * MIB, "the hog's memory is charged to its cgroup");
    const pidfd = pidfdOpen(hog.pid);
    try {
      await assert.rejects(processMrelease(pidfd), (e: unknown) => e instanceof OomkitError && /not exiting/.test(e.message));
      pidfdSendSignal(pidfd, "SIGKILL");
      assert.match(await processMrelease(pidfd), /^(released|already-exited)$/);
      assert.equal(await waitPidfdReadable(pidfd, 10_000), "exited");
      assert.ok(readNumber(path.join(cg, "memory.current")) < 8 * MIB, "the memory is uncharged once the pidfd is readable");
      assert.equal((await hog.exited).signal, "SIGKILL");
      assert.equal(await processMrelease(pidfd), "already-exited");
    } finally {
      closePidfd(pidfd);
    }
  });

  test("the kill sequence: a hog that ignores SIGTERM is SIGKILLed after the grace, released and waited for", async () => {
    const cg = t.mk("task");
    const hog = t.hog({ cgroup: cg, mib: 32, ignoreTerm: true });
    await hog.ready;
    const reused = await killTask(host, { pid: hog.pid, startTimeTicks: startTime(hog.pid) + 1 }, { graceMs: 0, waitMs: 1000 });
    assert.deepEqual(reused, { kind: "pid-reused" }, "another start time: not signalled");
    const r = await killTask(host, { pid: hog.pid, startTimeTicks: startTime(hog.pid) }, { graceMs: 300, waitMs: 10_000 });
    assert.equal(r.kind, "exited");
    if (r.kind !== "exited") return;
    assert.equal(r.escalated, true, "SIGTERM was ignored");
    assert.ok(r.mrelease === "released" || r.mrelease === "already-exited", r.mrelease);
    assert.ok(readNumber(path.join(cg, "memory.current")) < 8 * MIB, "the memory is uncharged once the sequence says exited");
    assert.equal((await hog.exited).signal, "SIGKILL");
    await waitPopulated(cg, false, 5_000);
  });

  test("the kill sequence: a hog that leaves on SIGTERM is not escalated and needs no process_mrelease", async () => {
    const cg = t.mk("task-term");
    const hog = t.hog({ cgroup: cg, mib: 16 });
    await hog.ready;
    const r = await killTask(host, { pid: hog.pid, startTimeTicks: startTime(hog.pid) }, { graceMs: 10_000, waitMs: 10_000 });
    assert.deepEqual({ kind: r.kind, escalated: r.kind === "exited" && r.escalated, mrelease: r.kind === "exited" && r.mrelease }, { kind: "exited", escalated: false, mrelease: "skipped" });
    assert.equal((await hog.exited).signal, "SIGTERM");
    await waitPopulated(cg, false, 5_000);
  });

  test("cgroup.kill empties a cgroup and its children (populated 0)", async () => {
    const cg = t.mk("group");
    const a = t.mk("group/a");
    const b = t.mk("group/b");
    const hogs = [t.hog({ cgroup: a, mib: 16 }), t.hog({ cgroup: a, mib: 16, ignoreTerm: true }), t.hog({ cgroup: b, mib: 16 })];
    await Promise.all(hogs.map((h) => h.ready));
    assert.equal(readKeyed(path.join(cg, "cgroup.events")).populated, 1);
    killCgroup(host, cg);
    await waitPopulated(cg, false, 10_000);
    for (const h of hogs) assert.equal((await h.exited).signal, "SIGKILL");
  });

  test("memory.reclaim lowers memory.current", { skip: PAGE_CACHE_FILE ? false : "no OOMKIT_PAGE_CACHE_FILE" }, async () => {
    const cg = t.mk("reclaim");
    const hog = t.hog({ cgroup: cg, file: PAGE_CACHE_FILE, mib: 4 });
    await hog.ready;
    const before = readNumber(path.join(cg, "memory.current"));
    const cached = readKeyed(path.join(cg, "memory.stat")).file ?? 0;
    assert.ok(cached >= 16 * MIB, `the hog holds page cache (file ${cached})`);
    const r = await reclaim(host, cg, cached);
    assert.ok(r.kind === "reclaimed" || r.kind === "short");
    const afterBytes = readNumber(path.join(cg, "memory.current"));
    assert.ok(afterBytes < before - cached / 2, `memory.current ${before} -> ${afterBytes} after reclaiming ${cached}`);
  });

  test("memory.reclaim of more than there is reports a short reclaim", async () => {
    const cg = t.mk("reclaim-short");
    const hog = t.hog({ cgroup: cg, mib: 8 });
    await hog.ready;
    assert.deepEqual(await reclaim(host, cg, 512 * MIB), { kind: "short", bytes: 512 * MIB });
  });

  test("freezing and thawing a cgroup", async () => {
    const cg = t.mk("freeze");
    const hog = t.hog({ cgroup: cg, mib: 8 });
    await hog.ready;
    freeze(host, cg);
    await waitForKey(path.join(cg, "cgroup.events"), "frozen", (v) => v === 1, 10_000);
    thaw(host, cg);
    await waitForKey(path.join(cg, "cgroup.events"), "frozen", (v) => v === 0, 10_000);
    hog.kill("SIGKILL");
    await waitPopulated(cg, false, 5_000);
  });

  test("acting on a removed cgroup is E_VANISHED", async () => {
    const cg = t.mk("gone");
    rmdirSync(cg);
    assert.throws(() => killCgroup(host, cg), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    assert.throws(() => freeze(host, cg), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    await assert.rejects(reclaim(host, cg, MIB), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
  });
});
