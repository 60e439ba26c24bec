import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";

import { runDoctor } from "../../../src/os/doctor.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { LinuxHost } from "../../../src/os/linux-host.js";
import { parseSmaps } from "../../../src/os/parse/smaps.js";
import { type LockCall, lockBudget, lockCode, planLocks } from "../../../src/os/residency.js";
import { NODE_SMAPS } from "../../support/smaps.js";

const MiB = 1024 * 1024;
const entries = parseSmaps(NODE_SMAPS);
const STATUS = (capEff: string, vmLckKb = 0) => `Name:\tnode\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\nPPid:\t1\nUid:\t0\t0\t0\t0\nVmLck:\t    ${vmLckKb} kB\nCapEff:\t${capEff}\n`;
const LIMITS = (soft: string) => `Limit                     Soft Limit           Hard Limit           Units     \nMax locked memory         ${soft.padEnd(21)}${soft.padEnd(21)}bytes     \n`;

function machine(files: Record<string, string>): FixtureHost {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-residency-"));
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), text);
  }
  return new FixtureHost(root);
}

test("planLocks: with CAP_IPC_LOCK or no limit, every executable file mapping; smallest first", () => {
  for (const budget of [{ limitBytes: 8 * MiB, capIpcLock: true, lockedBytes: 0 }, { limitBytes: "unlimited" as const, capIpcLock: false, lockedBytes: 0 }]) {
    const p = planLocks(entries, budget);
    assert.deepEqual(p.chosen.map((e) => e.path), ["/work/node_modules/koffi/build/koffi/linux_x64/koffi.node", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/node"]);
    assert.deepEqual(p.left, []);
    assert.equal(p.budgetBytes, Infinity);
    assert.equal(p.codeBytes, 0x10000 + 0x100000 + 0x1c00000);
  }
});

test("planLocks: under RLIMIT_MEMLOCK without CAP_IPC_LOCK, what fits; what is locked already counts", () => {
  const p = planLocks(entries, { limitBytes: 8 * MiB, capIpcLock: false, lockedBytes: 0 });
  assert.deepEqual(p.left.map((e) => e.path), ["/usr/bin/node"], "node's 28 MiB of text cannot fit in 8 MiB; the libraries do");
  assert.equal(p.chosenBytes, 0x110000);
  const tight = planLocks(entries, { limitBytes: 8 * MiB, capIpcLock: false, lockedBytes: 8 * MiB - 0x20000 });
  assert.deepEqual(tight.chosen.map((e) => e.path), ["/work/node_modules/koffi/build/koffi/linux_x64/koffi.node"]);
  const unknown = planLocks(entries, { limitBytes: undefined, capIpcLock: undefined, lockedBytes: 0 });
  assert.equal(unknown.budgetBytes, 8 * MiB, "an unknown limit is taken as the kernel's default");
  assert.deepEqual(planLocks(entries, { limitBytes: 0, capIpcLock: false, lockedBytes: 0 }).chosen, []);
});

test("lockBudget reads RLIMIT_MEMLOCK, CAP_IPC_LOCK (bit 14) and VmLck", () => {
  const host = machine({ "/proc/self/limits": LIMITS("8388608"), "/proc/self/status": STATUS("000001fffeffbfff", 12) });
  assert.deepEqual(lockBudget(host), { limitBytes: 8388608, capIpcLock: false, lockedBytes: 12 * 1024 });
  const root = machine({ "/proc/self/limits": LIMITS("unlimited"), "/proc/self/status": STATUS("000001ffffffffff") });
  assert.deepEqual(lockBudget(root), { limitBytes: "unlimited", capIpcLock: true, lockedBytes: 0 });
  assert.deepEqual(lockBudget(machine({})), { limitBytes: undefined, capIpcLock: undefined, lockedBytes: 0 });
});

test("lockCode locks the chosen ranges, reports smaps' figures, and says plainly when the limit is too small", () => {
  const smaps = NODE_SMAPS;
  const files = { "/proc/self/maps": smaps, "/proc/self/smaps": smaps, "/proc/self/smaps_rollup": "Rss: 30000 kB\nLocked: 2300 kB\n" };
  const calls: [number, number][] = [];
  const lock: LockCall = (start, length) => (calls.push([start, length]), 0);
  const small = lockCode(machine({ ...files, "/proc/self/limits": LIMITS("8388608"), "/proc/self/status": STATUS("0") }), lock);
  assert.deepEqual(calls, [[0x7f6381000000, 0x10000], [0x7f6380000000, 0x100000]]);
  assert.equal(small.complete, false);
  assert.deepEqual(small.locked, { lockedPssBytes: 2300 * 1024, lockedRssBytes: (20856 + 1048) * 1024 });
  assert.match(small.note, /RLIMIT_MEMLOCK \(8\.0 MiB\) is too small .* lacks CAP_IPC_LOCK; locked 2 of 3 mappings, not \/usr\/bin\/node; .*LimitMEMLOCK=infinity/);

  calls.length = 0;
  const all = lockCode(machine({ ...files, "/proc/self/limits": LIMITS("8388608"), "/proc/self/status": STATUS("4000") }), lock);
  assert.equal(calls.length, 3);
  assert.equal(all.complete, true);
  assert.match(all.note, /^code locked in memory: 3 executable file mappings \(29\.1 MiB\) with mlock2\(MLOCK_ONFAULT\); 21\.4 MiB resident and locked \(smaps Locked, proportional: 2\.2 MiB\)$/);

  const refused = lockCode(machine({ ...files, "/proc/self/limits": LIMITS("unlimited"), "/proc/self/status": STATUS("0") }), (start) => (start === 0x7f6380000000 ? "ENOMEM" : 0));
  assert.equal(refused.complete, false);
  assert.deepEqual(refused.failed, [{ path: "/usr/lib/x86_64-linux-gnu/libc.so.6", errno: "ENOMEM" }]);
  assert.match(refused.note, /mlock2 failed \(ENOMEM\) on 1 of 3/);

  const blind = lockCode(machine({}), lock);
  assert.match(blind.note, /maps is unreadable/);
});

test("a live process that locks its code with mlock2(MLOCK_ONFAULT) runs V8's GC and stops normally (no abort)", { skip: process.platform === "linux" ? false : "Linux only" }, () => {
  const residency = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../src/os/residency.js");
  const linux = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../src/os/linux-host.js");
  const script = `
    const { lockCode, mlock2OnFault } = await import(${JSON.stringify(residency)});
    const { LinuxHost } = await import(${JSON.stringify(linux)});
    const r = lockCode(new LinuxHost(), mlock2OnFault);
    let keep = [];
    for (let i = 0; i < 200; i++) { keep.push(new Array(10000).fill(i)); if (keep.length > 20) keep = []; }
    globalThis.gc();
    console.log(JSON.stringify({ chosen: r.plan.chosen.length, failed: r.failed, rss: r.locked?.lockedRssBytes ?? 0, note: r.note }));
  `;
  const out = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(out.signal, null, `ended by ${out.signal}: ${out.stderr}`);
  assert.equal(out.status, 0, out.stderr);
  assert.doesNotMatch(out.stderr, /Check failed|Fatal error/);
  const r = JSON.parse(out.stdout) as { chosen: number; failed: unknown[]; rss: number; note: string };
  assert.deepEqual(r.failed, [], r.note);
  assert.ok(r.chosen > 0, r.note);
  assert.ok(r.rss > 0, `something is locked and resident: ${r.note}`);
});

test("doctor says what is locked, and warns when RLIMIT_MEMLOCK is too small", () => {
  const files = { "/proc/self/maps": NODE_SMAPS, "/proc/self/smaps": NODE_SMAPS, "/proc/self/smaps_rollup": "Locked: 2300 kB\n" };
  const small = runDoctor(machine({ ...files, "/proc/self/limits": LIMITS("8388608"), "/proc/self/status": STATUS("0") })).checks.find((c) => c.id === "resident-code");
  assert.equal(small?.status, "warn");
  assert.match(small?.detail ?? "", /RLIMIT_MEMLOCK \(8\.0 MiB\) is too small/);
  const ok = runDoctor(machine({ ...files, "/proc/self/limits": LIMITS("unlimited"), "/proc/self/status": STATUS("0") })).checks.find((c) => c.id === "resident-code");
  assert.equal(ok?.status, "ok");
  assert.equal(runDoctor(machine({})).checks.find((c) => c.id === "resident-code")?.status, "unknown");
  const live = runDoctor(new LinuxHost()).checks.find((c) => c.id === "resident-code");
  assert.ok(live && live.status !== "unknown", `this machine: ${live?.detail}`);
});
