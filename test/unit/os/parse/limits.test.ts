import { test } from "node:test";
import assert from "node:assert/strict";

import { parseLimit } from "../../../../src/os/parse/limits.js";

/** Captured from /proc/self/limits on Linux 6.18 (abridged). */
const REAL = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            1048576              1048576              files     
Max locked memory         8388608              8388608              bytes     
Max address space         unlimited            unlimited            bytes     
`;

test("parseLimit: soft and hard values, numbers or unlimited", () => {
  assert.deepEqual(parseLimit(REAL, "Max locked memory"), { soft: 8388608, hard: 8388608 });
  assert.deepEqual(parseLimit(REAL, "Max address space"), { soft: "unlimited", hard: "unlimited" });
  assert.deepEqual(parseLimit(REAL.replace("8388608              8388608", "65536                unlimited"), "Max locked memory"), { soft: 65536, hard: "unlimited" });
});

test("parseLimit: a missing, truncated or garbled line is undefined", () => {
  assert.equal(parseLimit(REAL, "Max msgqueue size"), undefined);
  assert.equal(parseLimit("Max locked memory         8388608", "Max locked memory"), undefined);
  assert.equal(parseLimit("Max locked memory         lots      more     bytes", "Max locked memory"), undefined);
  assert.equal(parseLimit("Max locked memory         -1        8388608  bytes", "Max locked memory"), undefined);
  assert.equal(parseLimit("", "Max locked memory"), undefined);
});
