/**
 * SimHost keeps the file nodes it resolved, per path, while the machine's shape stands
 * (shapeGeneration): a task or cgroup that goes, or comes again at the same path or pid, is
 * never served from what was kept for the one before.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SimMachine } from "../../../src/sim/machine.js";
import { SimHost } from "../../../src/sim/sim-host.js";

const MiB = 1024 * 1024;
const CG = "/sys/fs/cgroup";

test("a reaped task's files are gone, and a pid used again reads the new task", () => {
  const m = new SimMachine({ memTotalBytes: 256 * MiB });
  const h = new SimHost(m);
  m.addTask({ pid: 500, comm: "first", curve: { kind: "steady", bytes: 4 * MiB } });
  h.advance(100);
  assert.deepEqual(h.readDir("/proc").filter((d) => d.name === "500").length, 1);
  assert.match(h.readFile("/proc/500/status"), /^Name:\tfirst$/m);
  const shape = m.shapeGeneration;
  m.signal(500, "SIGKILL");
  h.advance(1000);
  assert.ok(m.shapeGeneration > shape, "the reap changed the shape");
  assert.throws(() => h.readFile("/proc/500/status"), /ENOENT/);
  const listed = () => h.readDir("/proc").filter((d) => d.isDirectory && /^[0-9]+$/.test(d.name)).map((d) => d.name);
  assert.deepEqual(listed(), [], "/proc's kept listing went with the task");
  m.addTask({ pid: 500, comm: "second", curve: { kind: "steady", bytes: 8 * MiB } });
  h.advance(100);
  assert.deepEqual(listed(), ["500"]);
  assert.match(h.readFile("/proc/500/status"), /^Name:\tsecond$/m);
  assert.match(h.readFile("/proc/500/status"), /^RssAnon:\t8192 kB$/m);
});

test("a cgroup removed and made again at the same path reads the new one; kept nodes follow the figures", () => {
  const m = new SimMachine({ memTotalBytes: 256 * MiB });
  const h = new SimHost(m);
  m.addCgroup("/job", { max: 64 * MiB });
  assert.equal(h.readFile(`${CG}/job/memory.max`), `${64 * MiB}\n`);
  m.setLimit("/job", "max", 32 * MiB);
  assert.equal(h.readFile(`${CG}/job/memory.max`), `${32 * MiB}\n`, "a kept node renders the figures as they are now");
  m.removeCgroup("/job");
  assert.throws(() => h.readFile(`${CG}/job/memory.max`), /ENOENT/);
  m.addCgroup("/job", { max: 16 * MiB });
  assert.equal(h.readFile(`${CG}/job/memory.max`), `${16 * MiB}\n`);
  h.writeFile(`${CG}/job/memory.max`, "max\n");
  assert.equal(m.cgroup("/job")?.maxPages, Infinity, "a write goes to the cgroup there now");
});
