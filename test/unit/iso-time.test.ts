import { test } from "node:test";
import assert from "node:assert/strict";
import { isoTime } from "../../src/iso-time.js";

test("isoTime writes what toISOString writes, across the years it formats itself and beyond", () => {
  const fixed = [0, 1, 999, 1000, 86_399_999, 951_782_400_000 /* 2000-02-29 */, 1_764_547_199_999, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */, -62_167_219_200_000 /* 0000-01-01 */, -1, 253_402_300_800_000, -62_167_219_200_001];
  let seed = 0x1234;
  const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32);
  const random = Array.from({ length: 2000 }, () => Math.floor((rand() - 0.3) * 3e14));
  for (const ms of [...fixed, ...random]) assert.equal(isoTime(ms), new Date(ms).toISOString(), `at ${ms}`);
  assert.throws(() => isoTime(Number.NaN), RangeError, "an invalid time throws as toISOString does");
});
