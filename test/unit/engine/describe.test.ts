/** What policy code throws is described in one line, whatever it is, and reading it never escapes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_DESCRIPTION, describeThrown, isOomkitError } from "../../../src/engine/describe.js";
import { callWithDeadline } from "../../../src/engine/deadline.js";
import { OomkitError } from "../../../src/errors.js";

/** Long enough that only a loop reaches it. */
const GENEROUS_MS = 10_000;

test("hostile thrown values: each described, none escapes", () => {
  const nullProto = Object.create(null) as object;
  const rows: [string, unknown, RegExp][] = [
    ["an Error", new RangeError("out of range"), /^RangeError: out of range$/],
    ["an Error with a non-string message", Object.assign(new Error(), { message: { not: "text" } }), /^Error: $/],
    ["a string", "text", /^non-error thrown: text$/],
    ["undefined", undefined, /^non-error thrown: undefined$/],
    ["a symbol", Symbol("s"), /^non-error thrown: Symbol\(s\)$/],
    ["a bigint", 10n, /^non-error thrown: 10$/],
    ["a plain object", { a: 1 }, /^non-error thrown: \[object Object\]$/],
    ["an object without a prototype", nullProto, /^non-error thrown: an object without a usable toString$/],
    ["an object whose toString throws", { toString: () => { throw new Error("no"); } }, /^non-error thrown: an object without a usable toString$/],
    ["an object whose toString returns an object", { toString: () => ({}) }, /^non-error thrown: an object without a usable toString$/],
    ["an object whose toString throws a null-prototype object", { toString: () => { throw nullProto; } }, /^non-error thrown: an object without a usable toString$/],
    ["a proxy whose every trap throws", new Proxy({}, { get: () => { throw new Error("trap"); }, getPrototypeOf: () => { throw new Error("trap"); }, getOwnPropertyDescriptor: () => { throw new Error("trap"); } }), /^non-error thrown: a proxy$/],
    ["a function", () => 1, /^non-error thrown: \(\) => 1$/],
    ["a very long message", new Error("x".repeat(10_000)), /^Error: x+$/],
  ];
  for (const [what, value, expected] of rows) {
    let text = "";
    assert.doesNotThrow(() => (text = describeThrown(value, GENEROUS_MS)), what);
    assert.match(text, expected, what);
    assert.ok(text.length <= MAX_DESCRIPTION, `${what}: ${text.length} characters`);
  }
});

test("a toString or getter that never returns is cut off by the deadline, and the process goes on", async () => {
  const looping = { toString: () => { for (;;) { /* spin */ } } };
  assert.equal(describeThrown(looping, 20), "thrown: an object that could not be described");
  const slowName = new Error("m");
  Object.defineProperty(slowName, "name", { get: () => { for (;;) { /* spin */ } } });
  assert.equal(describeThrown(slowName, 20), "thrown: an object that could not be described");
  assert.equal(await new Promise((r) => setImmediate(() => r("turns"))), "turns");
});

test("inside a deadline already (a description asked for by policy code's caller), no second deadline is armed", () => {
  assert.equal(callWithDeadline(() => describeThrown(new TypeError("t")), GENEROUS_MS), "TypeError: t");
});

test("isOomkitError reads no getter and no trap of what was thrown", () => {
  assert.equal(isOomkitError(new OomkitError("E_PARSE", "p"), "E_PARSE"), true);
  assert.equal(isOomkitError(new OomkitError("E_PARSE", "p"), "E_TIMEOUT"), false);
  const lying = { get code() { throw new Error("getter ran"); } };
  assert.equal(isOomkitError(lying, "E_TIMEOUT"), false);
  assert.equal(isOomkitError(new Proxy(new OomkitError("E_TIMEOUT", "t"), { getPrototypeOf: () => { throw new Error("trap ran"); } }), "E_TIMEOUT"), false);
});

test("a thrown proxy passes through callWithDeadline untouched: no trap runs outside the deadline", () => {
  const trapped = new Proxy({}, { get: () => { throw new Error("trap ran"); } });
  assert.throws(() => callWithDeadline(() => { throw trapped; }, GENEROUS_MS), (e: unknown) => e === trapped);
});

test("oomkit's own errors (a stopped read among them) are described from their own properties; one whose message became a getter is not read that way", () => {
  const stopped = new OomkitError("E_PREEMPTED", "an event is waiting");
  assert.equal(describeThrown(stopped, GENEROUS_MS), "OomkitError: an event is waiting");
  const tampered = new OomkitError("E_HOST_IO", "m");
  Object.defineProperty(tampered, "message", { get: () => { for (;;) { /* spin */ } } });
  assert.equal(describeThrown(tampered, 20), "thrown: an object that could not be described");
});
