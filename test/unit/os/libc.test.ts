/** How libc's calls are loaded (src/os/libc.ts): koffi's addon without its installer's modules. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { spawnSync } from "node:child_process";

const LIBC = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../src/os/libc.js");
const direct = process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64");

test("libc() calls through koffi's addon without loading node:https, node:crypto or node:zlib (koffi's installer helpers)", { skip: direct ? false : "koffi's index is used on this platform" }, () => {
  const script = `
    const { libc } = await import(${JSON.stringify(LIBC)});
    const c = libc();
    console.log(JSON.stringify({ euid: c.geteuid(), uid: process.getuid(), enoent: c.errnoName(2), loaded: process.moduleLoadList.filter((m) => /^NativeModule (https|crypto|zlib)$/.test(m)) }));
  `;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(out.status, 0, out.stderr);
  const r = JSON.parse(out.stdout) as { euid: number; uid: number; enoent: string; loaded: string[] };
  assert.equal(r.euid, r.uid, "the calls work");
  assert.equal(r.enoent, "ENOENT", "koffi.os.errno is there");
  assert.deepEqual(r.loaded, []);
});
