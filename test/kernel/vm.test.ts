// The guest itself: a pure cgroup v2 hierarchy with every controller, PSI, and root with every
// capability. Everything else in test/kernel relies on these.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { vmSkip } from "./helpers.js";

test("the guest has a pure cgroup v2 hierarchy with every controller enabled", { skip: vmSkip() }, () => {
  const mounts = readFileSync("/proc/self/mounts", "utf8");
  assert.match(mounts, /^cgroup2 \/sys\/fs\/cgroup cgroup2 /m);
  assert.doesNotMatch(mounts, /^\S+ \S+ cgroup /m, "no cgroup v1 hierarchy is mounted");
  const enabled = readFileSync("/sys/fs/cgroup/cgroup.subtree_control", "utf8").trim().split(" ");
  for (const c of ["cpuset", "cpu", "io", "memory", "pids"]) assert.ok(enabled.includes(c), `${c} enabled`);
});

test("PSI is on and root has every capability", { skip: vmSkip() }, () => {
  assert.match(readFileSync("/proc/pressure/memory", "utf8"), /^some avg10=/);
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  const capLast = Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8"));
  assert.equal(BigInt(`0x${capEff}`), (1n << BigInt(capLast + 1)) - 1n);
});
