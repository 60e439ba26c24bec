import { test } from "node:test";
import assert from "node:assert/strict";

import { OomkitError } from "../../../../src/errors.js";
import { parsePressure } from "../../../../src/os/parse/psi.js";
import type { PressureLine } from "../../../../src/os/parse/psi.js";

const line = (avg10: number, avg60: number, avg300: number, totalUsec: number): PressureLine => ({
  avg10,
  avg60,
  avg300,
  totalUsec,
});
const ZERO = line(0, 0, 0, 0);

interface Case {
  readonly name: string;
  readonly text: string;
  readonly some: PressureLine;
  readonly full: PressureLine | undefined;
  readonly skippedLines: number;
}

const cases: readonly Case[] = [
  {
    name: "real /proc/pressure/io (6.18)",
    text:
      "some avg10=0.20 avg60=0.57 avg300=1.90 total=14088821\n" +
      "full avg10=0.20 avg60=0.56 avg300=1.89 total=13952525\n",
    some: line(0.2, 0.57, 1.9, 14088821),
    full: line(0.2, 0.56, 1.89, 13952525),
    skippedLines: 0,
  },
  {
    name: "real /proc/pressure/cpu: kernels since 5.13 print an all-zero full line",
    text:
      "some avg10=5.10 avg60=3.23 avg300=1.72 total=8519939\n" +
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    some: line(5.1, 3.23, 1.72, 8519939),
    full: ZERO,
    skippedLines: 0,
  },
  {
    name: "real /proc/pressure/memory, idle",
    text:
      "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n" +
      "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    some: ZERO,
    full: ZERO,
    skippedLines: 0,
  },
  {
    name: "cpu.pressure before 5.13: no full line",
    text: "some avg10=12.50 avg60=3.00 avg300=0.75 total=987654\n",
    some: line(12.5, 3, 0.75, 987654),
    full: undefined,
    skippedLines: 0,
  },
  {
    name: "memory under heavy pressure: 100.00",
    text:
      "some avg10=100.00 avg60=97.31 avg300=61.02 total=301234567\n" +
      "full avg10=99.99 avg60=90.00 avg300=55.55 total=290000000\n",
    some: line(100, 97.31, 61.02, 301234567),
    full: line(99.99, 90, 55.55, 290000000),
    skippedLines: 0,
  },
  {
    name: "CRLF line endings",
    text:
      "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\r\n" +
      "full avg10=0.50 avg60=0.25 avg300=0.10 total=2\r\n",
    some: line(1, 2, 3, 4),
    full: line(0.5, 0.25, 0.1, 2),
    skippedLines: 0,
  },
  {
    name: "truncated file: the unterminated full line is not trusted",
    text: "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\nfull avg10=0.50 avg60=0.2",
    some: line(1, 2, 3, 4),
    full: undefined,
    skippedLines: 1,
  },
  {
    name: "truncated mid-number on a line that looks complete: skipped, not read as total=12",
    text:
      "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n" +
      "full avg10=0.50 avg60=0.25 avg300=0.10 total=12",
    some: line(1, 2, 3, 4),
    full: undefined,
    skippedLines: 1,
  },
  {
    name: "garbage and trailing garbage lines are counted, valid lines kept",
    text:
      "hello world\n" +
      "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n" +
      "full avg10=x avg60=0.25 avg300=0.10 total=2\n" +
      "\u0000\u0001garbage\n",
    some: line(1, 2, 3, 4),
    full: undefined,
    skippedLines: 3,
  },
  {
    name: "fields in another order and an unknown field from a future kernel",
    text: "some total=9 avg300=3.00 avg60=2.00 avg10=1.00 avg3600=0.50\n",
    some: line(1, 2, 3, 9),
    full: undefined,
    skippedLines: 0,
  },
  {
    name: "huge total is clamped, never NaN or inexact",
    text: "some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551615\n",
    some: line(0, 0, 0, Number.MAX_SAFE_INTEGER),
    full: undefined,
    skippedLines: 0,
  },
  {
    name: "negative values are not allowed: that line is skipped",
    text:
      "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n" +
      "full avg10=-1.00 avg60=0.00 avg300=0.00 total=-5\n",
    some: line(1, 2, 3, 4),
    full: undefined,
    skippedLines: 1,
  },
  {
    name: "a line missing a field is skipped",
    text: "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\nfull avg10=0.00 avg60=0.00 total=0\n",
    some: line(1, 2, 3, 4),
    full: undefined,
    skippedLines: 1,
  },
  {
    name: "a repeated some line is skipped; the first wins",
    text:
      "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n" +
      "some avg10=9.00 avg60=9.00 avg300=9.00 total=9\n",
    some: line(1, 2, 3, 4),
    full: undefined,
    skippedLines: 1,
  },
  {
    name: "extra whitespace and blank lines",
    text: "\n  some   avg10=1.00\tavg60=2.00 avg300=3.00 total=4  \n\n",
    some: line(1, 2, 3, 4),
    full: undefined,
    skippedLines: 0,
  },
];

for (const c of cases) {
  test(`parsePressure: ${c.name}`, () => {
    const p = parsePressure(c.text);
    assert.deepEqual(p.some, c.some);
    assert.deepEqual(p.full, c.full);
    assert.equal(p.skippedLines, c.skippedLines);
  });
}

const failures: readonly { name: string; text: string; message: RegExp }[] = [
  { name: "empty", text: "", message: /expected a "some/ },
  { name: "whitespace only", text: " \n\n", message: /expected a "some/ },
  { name: "only a full line", text: "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", message: /some/ },
  {
    name: "some line malformed",
    text: "some avg10=abc avg60=0.00 avg300=0.00 total=0\n",
    message: /saw "some avg10=abc/,
  },
  {
    name: "single unterminated line says why it was not trusted",
    text: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0",
    message: /no newline/,
  },
  {
    name: "a long hostile input is quoted truncated to 60 chars",
    text: `${"x".repeat(500)}\n`,
    message: new RegExp(`saw "${"x".repeat(60)}…"$`),
  },
];

for (const f of failures) {
  test(`parsePressure rejects: ${f.name}`, () => {
    assert.throws(
      () => parsePressure(f.text),
      (err: unknown) => {
        assert.ok(err instanceof OomkitError);
        assert.equal(err.code, "E_PARSE");
        assert.match(err.message, f.message);
        return true;
      },
    );
  });
}
