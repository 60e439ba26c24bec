import { test } from "node:test";
import assert from "node:assert/strict";

import {
  parseSigned,
  parseSizeToken,
  parseUnsigned,
  quote,
  splitLines,
  splitPairs,
} from "../../../../src/os/parse/text.js";

const unsigned: readonly [string, number | undefined][] = [
  ["0", 0],
  ["007", 7],
  ["9007199254740991", Number.MAX_SAFE_INTEGER],
  ["9007199254740993", Number.MAX_SAFE_INTEGER],
  ["18446744073709551615", Number.MAX_SAFE_INTEGER],
  ["9".repeat(400), Number.MAX_SAFE_INTEGER],
  ["", undefined],
  ["-1", undefined],
  ["+1", undefined],
  ["1.0", undefined],
  ["1e3", undefined],
  ["0x1", undefined],
  [" 1", undefined],
  ["١", undefined],
];
for (const [token, expected] of unsigned) {
  test(`parseUnsigned(${JSON.stringify(token.slice(0, 25))})`, () => assert.equal(parseUnsigned(token), expected));
}

test("parseSigned does not clamp: an inexact integer is rejected", () => {
  assert.equal(parseSigned("-1000"), -1000);
  assert.equal(parseSigned("9007199254740992"), undefined);
  assert.equal(parseSigned("-"), undefined);
});

test("parseSizeToken", () => {
  assert.deepEqual(parseSizeToken("  1764 kB"), { value: 1764 * 1024, kB: true });
  assert.deepEqual(parseSizeToken("3"), { value: 3, kB: false });
  assert.deepEqual(parseSizeToken("9007199254740991 kB"), { value: Number.MAX_SAFE_INTEGER, kB: true });
  assert.equal(parseSizeToken("3 KB"), undefined);
  assert.equal(parseSizeToken("kB"), undefined);
  assert.equal(parseSizeToken(""), undefined);
  // Spellings read without the pattern, and the ones that still take it: all as the pattern reads them.
  assert.deepEqual(parseSizeToken("12kB"), undefined, "no space before the unit");
  assert.deepEqual(parseSizeToken("12  kB"), { value: 12 * 1024, kB: true });
  assert.deepEqual(parseSizeToken("12\tkB"), { value: 12 * 1024, kB: true });
  assert.deepEqual(parseSizeToken("12\u00a0kB"), { value: 12 * 1024, kB: true }, "any whitespace, as \\s");
  assert.equal(parseSizeToken("12 kB kB"), undefined);
  assert.equal(parseSizeToken("12 kBx"), undefined);
  assert.equal(parseSizeToken("1e3"), undefined);
  assert.equal(parseSizeToken("-1"), undefined);
  assert.deepEqual(parseSizeToken("18446744073709551615 kB"), { value: Number.MAX_SAFE_INTEGER, kB: true });
});

test("splitPairs takes keys of letters, digits, _ and parentheses only", () => {
  const { pairs, skippedLines } = splitPairs("Active(anon): 1\nDirectMap4k: 2\noom_group_kill: 3\nbad-key: 4\nbad key: 5\n: 6\nÄ: 7\n", ":");
  assert.deepEqual([...pairs.keys()], ["Active(anon)", "DirectMap4k", "oom_group_kill"]);
  assert.equal(skippedLines, 4);
});

test("splitLines: CRLF, blank lines, and an unterminated last line", () => {
  assert.deepEqual(splitLines("a\r\n\nb\n"), { lines: ["a", "b"], skippedLines: 0 });
  assert.deepEqual(splitLines("a\nb"), { lines: ["a"], skippedLines: 1 });
  assert.deepEqual(splitLines("a\n  "), { lines: ["a"], skippedLines: 0 });
  assert.deepEqual(splitLines(""), { lines: [], skippedLines: 0 });
});

test("splitPairs keeps the kernel's spelling of a value and the first of repeated keys", () => {
  const { pairs, skippedLines } = splitPairs("Name:\t a:b \nName:\tx\nnocolon\n(:1\nEmpty:\n", ":");
  assert.equal(pairs.get("Name"), " a:b ");
  assert.equal(pairs.get("Empty"), "");
  assert.equal(pairs.get("("), "1");
  assert.equal(skippedLines, 2);
  // One tab or one run of spaces goes, never both, nor a second tab.
  const spaced = splitPairs("Spaces:   v\nThen:  \tv\nTabs:\t\tv\nTabSpace:\t v\nBare:v\n", ":").pairs;
  assert.deepEqual([...spaced.values()], ["v", "\tv", "\tv", " v", "v"]);
});

test("quote: one line, at most 60 chars", () => {
  assert.equal(quote("a\nb"), '"a\\nb"');
  assert.equal(quote("x".repeat(61)), `"${"x".repeat(60)}…"`);
  assert.equal(quote("x".repeat(60)), `"${"x".repeat(60)}"`);
});
