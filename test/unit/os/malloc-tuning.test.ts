/** The C heap's thresholds pinned at glibc's defaults (src/os/malloc-tuning.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { MALLOC_THRESHOLD_BYTES, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, pinMallocThresholds } from "../../../src/os/malloc-tuning.js";

const SRC = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../src/os");

test("both thresholds are set to 128 KiB, which turns glibc's raising of them off", () => {
  const calls: [number, number][] = [];
  const r = pinMallocThresholds((param, value) => {
    calls.push([param, value]);
    return 1;
  });
  assert.equal(r.pinned, true);
  assert.deepEqual(calls.sort(), [[M_MMAP_THRESHOLD, MALLOC_THRESHOLD_BYTES], [M_TRIM_THRESHOLD, MALLOC_THRESHOLD_BYTES]].sort());
  assert.match(r.note, /128 KiB/);
});

test("a C library that refuses (or lacks) mallopt is reported, not an error", () => {
  const r = pinMallocThresholds((param) => (param === M_TRIM_THRESHOLD ? 0 : -1));
  assert.equal(r.pinned, false);
  assert.match(r.note, /M_MMAP_THRESHOLD and M_TRIM_THRESHOLD/);
  const half = pinMallocThresholds((param) => (param === M_TRIM_THRESHOLD ? 0 : 1));
  assert.equal(half.pinned, false);
  assert.match(half.note, /refused M_TRIM_THRESHOLD:/);
});

test("through libc on this machine, glibc takes both (in a child: the setting is process-wide)", { skip: process.platform === "linux" ? false : "glibc's mallopt" }, () => {
  const script = `
    const { libc } = await import(${JSON.stringify(path.join(SRC, "libc.js"))});
    const { pinMallocThresholds } = await import(${JSON.stringify(path.join(SRC, "malloc-tuning.js"))});
    console.log(JSON.stringify(pinMallocThresholds((p, v) => libc().mallopt(p, v))));
  `;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(out.status, 0, out.stderr);
  const r = JSON.parse(out.stdout) as { pinned: boolean; note: string };
  if (!r.pinned && /not glibc/.test(r.note) && !spawnSync("ldd", ["--version"], { encoding: "utf8" }).stdout?.includes("GLIBC")) return; // musl
  assert.equal(r.pinned, true, r.note);
});
