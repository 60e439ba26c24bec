// The kill primitives of src/os/kill.ts on a real kernel: pidfd kill + process_mrelease,
// cgroup.kill, memory.reclaim, freezing.
import assert from "node:assert/strict";
import { readFileSync, rmdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { OomkitError } from "../../src/errors.js";
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

  test("killTask kills a hog that ignores SIGTERM, with start-time check and wait", async () => {
    const cg = t.mk("task");
    const hog = t.hog({ cgroup: cg, mib: 32, ignoreTerm: true });
    await hog.ready;
    const term = await killTask(hog.pid, { signal: "SIGTERM", waitMs: 300 });
    assert.equal(term.kind, "killed");
    assert.equal(term.kind === "killed" && term.exited, false, "SIGTERM is ignored");
    assert.equal(term.kind === "killed" && term.mrelease, "skipped");
    const { startTimeTicks } = parseProcStat(readFileSync(`/proc/${hog.pid}/stat`, "utf8"));
    const r = await killTask(hog.pid, { expectedStartTimeTicks: startTimeTicks, waitMs: 10_000 });
    assert.equal(r.kind, "killed");
    if (r.kind !== "killed") return;
    assert.equal(r.exited, true);
    assert.ok(r.mrelease === "released" || r.mrelease === "already-exited", JSON.stringify(r.mrelease));
    await waitPopulated(cg, false, 5_000);
  });

  test("cgroup.kill empties a cgroup and its children (populated 0)", async () => {
    const cg = t.mk("group");
    const a = t.mk("group/a");
    const b = t.mk("group/b");
    const hogs = [t.hog({ cgroup: a, mib: 16 }), t.hog({ cgroup: a, mib: 16, ignoreTerm: true }), t.hog({ cgroup: b, mib: 16 })];
    await Promise.all(hogs.map((h) => h.ready));
    assert.equal(readKeyed(path.join(cg, "cgroup.events")).populated, 1);
    killCgroup(cg);
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
    const r = reclaim(cg, cached);
    assert.ok(r.kind === "reclaimed" || r.kind === "short");
    const afterBytes = readNumber(path.join(cg, "memory.current"));
    assert.ok(afterBytes < before - cached / 2, `memory.current ${before} -> ${afterBytes} after reclaiming ${cached}`);
  });

  test("memory.reclaim of more than there is reports a short reclaim", async () => {
    const cg = t.mk("reclaim-short");
    const hog = t.hog({ cgroup: cg, mib: 8 });
    await hog.ready;
    assert.deepEqual(reclaim(cg, 512 * MIB), { kind: "short", bytes: 512 * MIB });
  });

  test("freezing and thawing a cgroup", async () => {
    const cg = t.mk("freeze");
    const hog = t.hog({ cgroup: cg, mib: 8 });
    await hog.ready;
    freeze(cg);
    await waitForKey(path.join(cg, "cgroup.events"), "frozen", (v) => v === 1, 10_000);
    thaw(cg);
    await waitForKey(path.join(cg, "cgroup.events"), "frozen", (v) => v === 0, 10_000);
    hog.kill("SIGKILL");
    await waitPopulated(cg, false, 5_000);
  });

  test("acting on a removed cgroup is E_VANISHED", async () => {
    const cg = t.mk("gone");
    rmdirSync(cg);
    assert.throws(() => killCgroup(cg), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    assert.throws(() => freeze(cg), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
  });
});
