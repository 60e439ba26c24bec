/**
 * The engine reads the simulated machine as it reads a live one: every file SimHost renders
 * parses with the real parsers (no fault in a full read), and the figures agree with the model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { SimMachine } from "../../../src/sim/machine.js";
import { SimHost } from "../../../src/sim/sim-host.js";

const MiB = 1024 * 1024;

test("a full snapshot of a busy simulated machine reads every file without a fault", () => {
  const m = new SimMachine({ memTotalBytes: 1024 * MiB, swap: { kind: "zram", totalBytes: 256 * MiB } });
  m.addTask({ pid: 1, comm: "init", curve: { kind: "steady", bytes: MiB }, exe: "/sbin/init" });
  m.addCgroup("/system/db", { min: 64 * MiB, oomGroup: true, xattrs: { "user.oomd_avoid": "1" }, ownerUid: 1000 });
  m.addCgroup("/batch", { high: 200 * MiB, max: 300 * MiB });
  m.addTask({ comm: "db (main)", cgroup: "/system/db", uid: 1000, oomScoreAdj: -500, curve: { kind: "steady", bytes: 200 * MiB }, exe: "/usr/bin/db", cmdline: ["db", "--port", "5432"] });
  m.addTask({ comm: "job", cgroup: "/batch", curve: { kind: "leak", startBytes: 0, bytesPerSec: 80 * MiB } });
  m.addTask({ comm: "cache", cgroup: "/batch", curve: { kind: "steady", bytes: 10 * MiB }, cacheBytesPerSec: 20 * MiB });
  const h = new SimHost(m);
  h.advance(8000);
  const snap = takeSnapshot(h);
  assert.equal(snap.cgroupMode.mode, "v2");
  assert.ok(snap.cgroupMode.perCgroup);
  const cgroups = [...snap.cgroups()].map((c) => c.readAll());
  assert.deepEqual(cgroups.map((c) => c.path), ["/", "/batch", "/system", "/system/db"]);
  for (const t of snap.tasks) t.readAll();
  void snap.system;
  void snap.vmstat;
  assert.deepEqual(snap.faults, [], "every file parsed");
  const db = snap.cgroup("/system/db");
  assert.equal(db?.memory.minBytes, 64 * MiB);
  assert.equal(db?.memory.oomGroup, true);
  assert.equal(db?.xattrs.get("user.oomd_avoid"), "1");
  assert.equal(db?.ownerUid, 1000);
  assert.equal(db?.memory.currentBytes, (m.cgroup("/system/db")?.usage ?? 0) * 4096);
  const dbTask = db?.tasks[0];
  assert.equal(dbTask?.comm, "db (main)");
  assert.deepEqual(dbTask?.cmdline, ["db", "--port", "5432"]);
  assert.equal(dbTask?.exe, "/usr/bin/db");
  assert.equal(dbTask?.oomScoreAdj, -500);
  assert.equal(dbTask?.cgroupPath, "/system/db");
  assert.equal(snap.system.meminfo?.memTotalBytes, 1024 * MiB);
  assert.equal(snap.system.meminfo?.swapTotalBytes, 256 * MiB);
  const batch = snap.cgroup("/batch");
  assert.ok((batch?.memory.currentBytes ?? 0) <= 300 * MiB);
  assert.ok((batch?.events?.high ?? 0) > 0, "the leak ran into memory.high");
  assert.ok((batch?.pressure.memory?.some.totalUsec ?? 0) > 0);
});
