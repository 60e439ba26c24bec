import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { settleExited, victimState } from "../../../src/daemon/victim-store.js";
import { VictimRegistry } from "../../../src/engine/victims.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { hostIoError } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { buildFixture } from "../../support/fixture.js";

/** A fixture whose /proc/12/stat fails with EIO, as a read can during an OOM. */
class FlakyHost extends FixtureHost {
  override readFile(p: string): string {
    if (p === "/proc/12/stat") throw hostIoError("read", p, Object.assign(new Error("EIO"), { code: "EIO" }));
    return super.readFile(p);
  }
}

const host = new FlakyHost(
  buildFixture({
    cgroups: { "/jobs": {}, "/jobs/full": {}, "/jobs/empty": { populated: false } },
    tasks: [
      { pid: 10, comm: "a", cgroup: "/jobs/full" },
      { pid: 11, comm: "z", cgroup: "/jobs/full", state: "Z" },
      { pid: 12, comm: "flaky", cgroup: "/jobs/full" },
    ],
  }),
);
const mode = detectCgroupMode(host);

describe("victimState: is a victim still there to wait for?", () => {
  const rows: [string, Parameters<typeof victimState>[2], ReturnType<typeof victimState>][] = [
    ["the same process, running", { kind: "task", pid: 10, startTimeTicks: 1010 }, "alive"],
    ["a process whose start time is unknown (the kernel's victim)", { kind: "task", pid: 10 }, "alive"],
    ["another process under the same pid", { kind: "task", pid: 10, startTimeTicks: 1 }, "gone"],
    ["a zombie: its memory is freed", { kind: "task", pid: 11, startTimeTicks: 1011 }, "gone"],
    ["no /proc entry", { kind: "task", pid: 99, startTimeTicks: 1099 }, "gone"],
    ["a /proc file that fails with EIO: unknown, never taken for an exit", { kind: "task", pid: 12, startTimeTicks: 1012 }, "unknown"],
    ["a populated cgroup", { kind: "cgroup", cgroup: "/jobs/full" }, "alive"],
    ["an emptied cgroup", { kind: "cgroup", cgroup: "/jobs/empty" }, "gone"],
    ["a removed cgroup", { kind: "cgroup", cgroup: "/jobs/removed" }, "gone"],
  ];
  for (const [what, v, want] of rows) {
    test(`${what}: ${want}`, () => assert.equal(victimState(host, mode, v), want));
  }
});

test("settleExited settles the victims that are gone and keeps the others, unknown included", () => {
  const r = new VictimRegistry();
  const common = { by: "oomkit" as const, sinceMonoMs: 0, deadlineMonoMs: 1e9 };
  r.add({ kind: "task", pid: 10, startTimeTicks: 1010, ...common });
  r.add({ kind: "task", pid: 11, startTimeTicks: 1011, ...common });
  r.add({ kind: "task", pid: 12, startTimeTicks: 1012, ...common });
  r.add({ kind: "cgroup", cgroup: cgroupPath("/jobs/empty"), ...common });
  r.add({ kind: "cgroup", cgroup: cgroupPath("/jobs/full"), ...common });
  const settled = settleExited(host, mode, r);
  assert.deepEqual(settled.map((v) => v.pid ?? v.cgroup), [11, "/jobs/empty"]);
  assert.deepEqual(r.pending.map((v) => v.pid ?? v.cgroup), [10, 12, "/jobs/full"]);
});
