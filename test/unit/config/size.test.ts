import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSize } from "../../../src/config/size.js";
import { pathGlobToRegExp } from "../../../src/config/glob.js";
import { nearest } from "../../../src/config/suggest.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

test("parseSize: bytes and binary suffixes, as memory.max reads them", () => {
  const good: [unknown, number][] = [
    [0, 0],
    [4096, 4096],
    ["4096", 4096],
    ["512M", 512 * MiB],
    ["512m", 512 * MiB],
    ["512MiB", 512 * MiB],
    ["2G", 2 * GiB],
    ["1.5G", 1.5 * GiB],
    [" 4 K ", 4 * KiB],
    ["1T", 1024 * GiB],
    ["100B", 100],
    ["0.5K", 512],
    ["1.0001K", 1024], // rounds down to whole bytes
  ];
  for (const [input, bytes] of good) assert.deepEqual(parseSize(input), { ok: true, bytes }, JSON.stringify(input));
});

test("parseSize: refuses what it would have to guess", () => {
  const bad: [unknown, RegExp][] = [
    ["2GB", /ambiguous/],
    ["512 MB", /write M or MiB/],
    ["12X", /unknown unit "X"/],
    ["lots", /not a size/],
    ["-1M", /not a size/],
    ["", /not a size/],
    ["1e3", /not a size/],
    [-1, /0 or more/],
    [1.5, /whole number/],
    [true, /got a boolean/],
    [[1], /got an array/],
    ["99999999999T", /too large/],
  ];
  for (const [input, message] of bad) {
    const r = parseSize(input);
    assert.equal(r.ok, false, JSON.stringify(input));
    if (!r.ok) assert.match(r.error, message, JSON.stringify(input));
  }
});

test("cgroup globs: * within a component, ** across any depth", () => {
  const cases: [string, string, boolean][] = [
    ["/system.slice/*", "/system.slice/sshd.service", true],
    ["/system.slice/*", "/system.slice", false],
    ["/system.slice/*", "/system.slice/a/b", false],
    ["/system.slice/*", "/systemXslice/a", false], // "." is literal
    ["/user.slice/user-*.slice", "/user.slice/user-1000.slice", true],
    ["/user.slice/user-?.slice", "/user.slice/user-10.slice", false],
    ["/a/**/leaf", "/a/leaf", true],
    ["/a/**/leaf", "/a/b/c/leaf", true],
    ["/a/**", "/a", true],
    ["/a/**", "/b/x", false],
    ["/**", "/", true],
    ["/**", "/x/y", true],
    ["/*", "/", false],
  ];
  for (const [glob, path, want] of cases) assert.equal(pathGlobToRegExp(glob).test(path), want, `${glob} ~ ${path}`);
});

test("did you mean: close names only", () => {
  assert.equal(nearest("larget-leaf", ["kernel", "largest-leaf", "priority"]), "largest-leaf");
  assert.equal(nearest("dryrun", ["dry_run", "log_level"]), "dry_run");
  assert.equal(nearest("dry-run", ["dry_run"]), "dry_run");
  assert.equal(nearest("zzzzzz", ["dry_run", "log_level"]), undefined);
});
