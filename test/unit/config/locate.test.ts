import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { formatPath, locateKeys } from "../../../src/config/locate.js";

const TEXT = [
  /* 1 */ "# a comment with [brackets] and = signs",
  /* 2 */ 'top = "a # not a comment"',
  /* 3 */ "",
  /* 4 */ "[[attach]]",
  /* 5 */ 'cgroup = "/"',
  /* 6 */ "",
  /* 7 */ "[[attach]]",
  /* 8 */ '  cgroup = "/work"',
  /* 9 */ "[attach.options]",
  /* 10 */ "prefer = [",
  /* 11 */ '  "a]b",   # ] inside a string',
  /* 12 */ "  { comm = 'x', nested = { deep = 1 } },",
  /* 13 */ "]",
  /* 14 */ '"quoted.key" = """',
  /* 15 */ "multi [line] = string",
  /* 16 */ '"""',
  /* 17 */ "after.dotted = 2",
  /* 18 */ "",
  /* 19 */ "[protect]",
  /* 20 */ "commands = ['^a$', '^b$']",
  /* 21 */ "[[trigger]]",
  /* 22 */ 'psi = { stall = "full", window_ms = 2000 }',
].join("\n");

test("the text the locator reads is valid TOML", () => {
  assert.doesNotThrow(() => parse(TEXT));
});

test("keys, arrays of tables in order, inline tables and array elements", () => {
  const loc = locateKeys(TEXT);
  const at = (...path: (string | number)[]) => loc.locate(path);
  assert.deepEqual(at("top"), { line: 2, column: 1 });
  assert.deepEqual(at("attach", 0), { line: 4, column: 1 });
  assert.deepEqual(at("attach", 0, "cgroup"), { line: 5, column: 1 });
  assert.deepEqual(at("attach", 1), { line: 7, column: 1 });
  assert.deepEqual(at("attach", 1, "cgroup"), { line: 8, column: 3 });
  assert.deepEqual(at("attach", 1, "options"), { line: 9, column: 1 });
  assert.deepEqual(at("attach", 1, "options", "prefer"), { line: 10, column: 1 });
  assert.deepEqual(at("attach", 1, "options", "prefer", 0), { line: 11, column: 3 });
  assert.deepEqual(at("attach", 1, "options", "prefer", 1), { line: 12, column: 3 });
  assert.deepEqual(at("attach", 1, "options", "prefer", 1, "comm"), { line: 12, column: 5 });
  assert.deepEqual(at("attach", 1, "options", "prefer", 1, "nested", "deep"), { line: 12, column: 28 });
  assert.deepEqual(at("attach", 1, "options", "quoted.key"), { line: 14, column: 1 });
  assert.deepEqual(at("attach", 1, "options", "after", "dotted"), { line: 17, column: 7 });
  assert.deepEqual(at("protect", "commands", 1), { line: 20, column: 20 });
  assert.deepEqual(at("trigger", 0, "psi", "window_ms"), { line: 22, column: 25 });
});

test("a path not in the text falls back to its nearest ancestor", () => {
  const loc = locateKeys(TEXT);
  assert.deepEqual(loc.locate(["attach", 1, "policy"]), { line: 7, column: 1 });
  assert.deepEqual(loc.locate(["trigger", 0, "psi", "threshold_ms"]), { line: 22, column: 1 });
  assert.equal(loc.locate(["kill", "max_kills"]), undefined);
});

test("CRLF line ends and a file without a final newline", () => {
  const loc = locateKeys('a = 1\r\n[t]\r\nb = "x"');
  assert.deepEqual(loc.locate(["t", "b"]), { line: 3, column: 1 });
});

test("paths as people read them", () => {
  assert.equal(formatPath(["attach", 1, "policy"]), "attach[1].policy");
  assert.equal(formatPath(["attach", 0, "options", "a.b"]), 'attach[0].options."a.b"');
  assert.equal(formatPath([]), "");
});
