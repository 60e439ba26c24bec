/** cgroupPath: one spelling per cgroup, whether its input was canonical (the fast path) or not. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cgroupPath } from "../../../src/os/paths.js";

test("cgroupPath gives one canonical spelling and refuses '..'", () => {
  const table: [string, string][] = [
    ["/", "/"],
    ["", "/"],
    ["/a", "/a"],
    ["/a/b.slice/c", "/a/b.slice/c"],
    ["a/b", "/a/b"],
    ["/a//b/", "/a/b"],
    ["/a/./b", "/a/b"],
    ["/./a", "/a"],
    ["/a/.", "/a"],
    ["//", "/"],
    ["/.hidden/...", "/.hidden/..."],
    ["/a/..b/c..", "/a/..b/c.."],
    ["/a b/(c)", "/a b/(c)"],
  ];
  for (const [input, want] of table) assert.equal(cgroupPath(input), want, JSON.stringify(input));
  for (const bad of ["/..", "/a/..", "/a/../b", "../a", "/a/b/.."]) assert.throws(() => cgroupPath(bad), /may not contain/, bad);
});
