import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { protectSelf } from "../../../src/daemon/self-protect.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { buildFixture } from "../../support/fixture.js";

function fixture(opts: { recursiveProt: boolean; parentMin: number }) {
  const dir = buildFixture({ cgroups: { "/system.slice": { min: opts.parentMin }, "/system.slice/oomkit.service": {} } });
  fs.writeFileSync(path.join(dir, "proc/self/cgroup"), "0::/system.slice/oomkit.service\n");
  fs.writeFileSync(path.join(dir, "proc/self/oom_score_adj"), "0\n");
  if (opts.recursiveProt) fs.writeFileSync(path.join(dir, "proc/self/mounts"), "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate,memory_recursiveprot 0 0\n");
  return new FixtureHost(dir);
}

test("sets oom_score_adj -1000 and memory.min on its own cgroup, and says when an ancestor caps it", () => {
  const host = fixture({ recursiveProt: false, parentMin: 32 << 20 });
  const r = protectSelf(host, detectCgroupMode(host), { memoryMinBytes: 64 << 20 });
  assert.equal(r.oomScoreAdj.applied, true);
  assert.equal(host.readFile("/proc/self/oom_score_adj"), "-1000");
  assert.equal(r.memoryMin.applied, true);
  assert.equal(r.memoryMin.cgroup, "/system.slice/oomkit.service");
  assert.equal(host.readFile("/sys/fs/cgroup/system.slice/oomkit.service/memory.min"), String(64 << 20));
  assert.equal(r.memoryMin.cappedAtBytes, 32 << 20);
  assert.match(r.memoryMin.note, /capped at 33554432 by an ancestor's memory.min \(no memory_recursiveprot\)/);
});

test("names memory_recursiveprot when the hierarchy uses it", () => {
  const host = fixture({ recursiveProt: true, parentMin: 1 << 30 });
  const r = protectSelf(host, detectCgroupMode(host), { memoryMinBytes: 64 << 20 });
  assert.equal(r.memoryMin.recursiveProt, true);
  assert.equal(r.memoryMin.cappedAtBytes, undefined);
  assert.match(r.memoryMin.note, /memory_recursiveprot/);
});

test("in system-level mode there is no memory.min, said plainly", () => {
  const host = new FixtureHost(buildFixture({ mode: "hybrid" }));
  fs.writeFileSync(path.join(host.root, "proc/self/oom_score_adj"), "0\n");
  const r = protectSelf(host, detectCgroupMode(host), { memoryMinBytes: 64 << 20 });
  assert.equal(r.memoryMin.applied, false);
  assert.match(r.memoryMin.note, /system-level mode/);
});

test("on this machine: -1000 applies exactly when the process has CAP_SYS_RESOURCE", () => {
  // Run in a child so this test process keeps its own oom_score_adj.
  const script = `
    import { protectSelf } from ${JSON.stringify(new URL("../../../src/daemon/self-protect.js", import.meta.url).href)};
    import { detectCgroupMode } from ${JSON.stringify(new URL("../../../src/os/cgroup-mode.js", import.meta.url).href)};
    import { LinuxHost } from ${JSON.stringify(new URL("../../../src/os/linux-host.js", import.meta.url).href)};
    const h = new LinuxHost();
    console.log(JSON.stringify(protectSelf(h, detectCgroupMode(h), { memoryMinBytes: undefined })));`;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  const r = JSON.parse(out.stdout) as ReturnType<typeof protectSelf>;
  const capEff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"}`);
  const sysResource = (capEff & (1n << 24n)) !== 0n;
  assert.equal(r.oomScoreAdj.applied, sysResource);
  if (!sysResource) assert.match(r.oomScoreAdj.note, /needs CAP_SYS_RESOURCE/);
});
