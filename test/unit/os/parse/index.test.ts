import { test } from "node:test";
import assert from "node:assert/strict";

import * as parse from "../../../../src/os/parse/index.js";

test("index re-exports every parser by name, and nothing internal", () => {
  assert.deepEqual(Object.keys(parse).sort(), [
    "PF_KTHREAD",
    "isKernelThreadFlags",
    "parseCgroupEvents",
    "parseCmdline",
    "parseControllers",
    "parseExeLink",
    "parseFlag",
    "parseMeminfo",
    "parseMemoryEvents",
    "parseMemoryStat",
    "parseMemoryValue",
    "parseMounts",
    "parseOomScore",
    "parseOomScoreAdj",
    "parsePidList",
    "parsePressure",
    "parseProcCgroup",
    "parseProcStat",
    "parseProcStatus",
    "parseVmstat",
  ]);
});
