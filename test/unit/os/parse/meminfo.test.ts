import { test } from "node:test";
import assert from "node:assert/strict";

import { OomkitError } from "../../../../src/errors.js";
import { parseMeminfo } from "../../../../src/os/parse/meminfo.js";
import type { Meminfo } from "../../../../src/os/parse/meminfo.js";

const KiB = 1024;

/** Captured from /proc/meminfo on Linux 6.18 (x86_64, 24 GiB, no swap). */
const REAL_MEMINFO = [
  "MemTotal:       24684096 kB",
  "MemFree:        23537132 kB",
  "MemAvailable:   24142356 kB",
  "Buffers:           11500 kB",
  "Cached:           763428 kB",
  "SwapCached:            0 kB",
  "Active:           239660 kB",
  "Inactive:         707928 kB",
  "Active(anon):       1536 kB",
  "Inactive(anon):   179936 kB",
  "Active(file):     238124 kB",
  "Inactive(file):   527992 kB",
  "Unevictable:       12364 kB",
  "Mlocked:           11380 kB",
  "SwapTotal:             0 kB",
  "SwapFree:              0 kB",
  "Zswap:                 0 kB",
  "Zswapped:              0 kB",
  "Dirty:             80644 kB",
  "Writeback:             0 kB",
  "AnonPages:        185036 kB",
  "Mapped:            46844 kB",
  "Shmem:              8788 kB",
  "KReclaimable:      97676 kB",
  "Slab:             122800 kB",
  "SReclaimable:      97676 kB",
  "SUnreclaim:        25124 kB",
  "KernelStack:        1684 kB",
  "PageTables:         2468 kB",
  "SecPageTables:         0 kB",
  "NFS_Unstable:          0 kB",
  "Bounce:                0 kB",
  "WritebackTmp:          0 kB",
  "CommitLimit:    12342048 kB",
  "Committed_AS:     323344 kB",
  "VmallocTotal:   34359738367 kB",
  "VmallocUsed:       14476 kB",
  "VmallocChunk:          0 kB",
  "Percpu:              688 kB",
  "AnonHugePages:         0 kB",
  "ShmemHugePages:        0 kB",
  "ShmemPmdMapped:        0 kB",
  "FileHugePages:         0 kB",
  "FilePmdMapped:         0 kB",
  "Balloon:               0 kB",
  "HugePages_Total:       0",
  "HugePages_Free:        0",
  "HugePages_Rsvd:        0",
  "HugePages_Surp:        0",
  "Hugepagesize:       2048 kB",
  "Hugetlb:               0 kB",
  "DirectMap4k:       30720 kB",
  "DirectMap2M:     2066432 kB",
  "DirectMap1G:    25165824 kB",
].join("\n");

test("parseMeminfo: real /proc/meminfo, every typed field", () => {
  const m = parseMeminfo(`${REAL_MEMINFO}\n`);
  const expected: Omit<Meminfo, "raw" | "skippedLines"> = {
    memTotalBytes: 24684096 * KiB,
    memFreeBytes: 23537132 * KiB,
    memAvailableBytes: 24142356 * KiB,
    buffersBytes: 11500 * KiB,
    cachedBytes: 763428 * KiB,
    swapCachedBytes: 0,
    activeAnonBytes: 1536 * KiB,
    inactiveAnonBytes: 179936 * KiB,
    activeFileBytes: 238124 * KiB,
    inactiveFileBytes: 527992 * KiB,
    shmemBytes: 8788 * KiB,
    swapTotalBytes: 0,
    swapFreeBytes: 0,
    sReclaimableBytes: 97676 * KiB,
    dirtyBytes: 80644 * KiB,
    hugePagesTotal: 0,
    hugepagesizeBytes: 2048 * KiB,
  };
  for (const [field, value] of Object.entries(expected)) {
    assert.equal(m[field as keyof typeof expected], value, field);
  }
  assert.equal(m.skippedLines, 0);
  assert.equal(m.raw.size, 54, "every line is kept in raw");
  assert.equal(m.raw.get("VmallocTotal"), 34359738367 * KiB, "keys without a typed field");
  assert.equal(m.raw.get("HugePages_Free"), 0, "counts stay counts");
  assert.equal(m.raw.get("Active(anon)"), 1536 * KiB, "keys as printed");
});

interface Case {
  readonly name: string;
  readonly text: string;
  readonly check: Partial<Omit<Meminfo, "raw">>;
  readonly raw?: Readonly<Record<string, number | undefined>>;
}

const cases: readonly Case[] = [
  {
    name: "Linux 3.13 and older: no MemAvailable",
    text: "MemTotal:        2048000 kB\nMemFree:          100000 kB\nBuffers:            2000 kB\n",
    check: { memTotalBytes: 2048000 * KiB, memAvailableBytes: undefined, skippedLines: 0 },
  },
  {
    name: "CRLF line endings",
    text: "MemTotal:  100 kB\r\nMemAvailable:  50 kB\r\n",
    check: { memTotalBytes: 100 * KiB, memAvailableBytes: 50 * KiB, skippedLines: 0 },
  },
  {
    name: "truncated mid-number: the cut line is skipped, not read as 24 bytes or 24 kB",
    text: "MemTotal:       24684096 kB\nMemFree:        23537132 kB\nMemAvailable:   24",
    check: { memFreeBytes: 23537132 * KiB, memAvailableBytes: undefined, skippedLines: 1 },
    raw: { MemAvailable: undefined },
  },
  {
    name: "truncated between number and unit",
    text: "MemTotal:       24684096 kB\nMemAvailable:   24142356",
    check: { memAvailableBytes: undefined, skippedLines: 1 },
  },
  {
    name: "garbage lines in the middle and at the end are counted",
    text:
      "MemTotal: 1000 kB\n" +
      "this is not meminfo\n" +
      "MemFree: lots kB\n" +
      ": 5 kB\n" +
      "MemAvailable: 500 kB\n" +
      "\u0000\u0000\u0000\n",
    check: { memTotalBytes: 1000 * KiB, memFreeBytes: undefined, memAvailableBytes: 500 * KiB, skippedLines: 4 },
  },
  {
    name: "negative numbers are not meminfo values",
    text: "MemTotal: 1000 kB\nMemAvailable: -5 kB\n",
    check: { memAvailableBytes: undefined, skippedLines: 1 },
  },
  {
    name: "a byte field without its kB unit is garbage, kept in raw as printed",
    text: "MemTotal: 1000 kB\nMemAvailable: 500\n",
    check: { memAvailableBytes: undefined, skippedLines: 1 },
    raw: { MemAvailable: 500 },
  },
  {
    name: "a count field with a unit is garbage",
    text: "MemTotal: 1000 kB\nHugePages_Total: 4 kB\n",
    check: { hugePagesTotal: undefined, skippedLines: 1 },
  },
  {
    name: "an unknown unit is garbage",
    text: "MemTotal: 1000 kB\nMemFree: 5 MB\n",
    check: { memFreeBytes: undefined, skippedLines: 1 },
  },
  {
    name: "huge values are clamped to MAX_SAFE_INTEGER, never NaN",
    text: "MemTotal: 18446744073709551615 kB\nMemFree: 9007199254740991 kB\nMemAvailable: 99999999999999999999999999999999 kB\n",
    check: {
      memTotalBytes: Number.MAX_SAFE_INTEGER,
      memFreeBytes: Number.MAX_SAFE_INTEGER,
      memAvailableBytes: Number.MAX_SAFE_INTEGER,
      skippedLines: 0,
    },
  },
  {
    name: "a repeated key (appended garbage) does not overwrite the first",
    text: "MemTotal: 1000 kB\nMemAvailable: 500 kB\nMemAvailable: 1 kB\n",
    check: { memAvailableBytes: 500 * KiB, skippedLines: 1 },
  },
  {
    name: "a future kernel's key is kept in raw",
    text: "MemTotal: 1000 kB\nFutureThing:   12 kB\nFutureCount:  3\n",
    check: { skippedLines: 0 },
    raw: { FutureThing: 12 * KiB, FutureCount: 3 },
  },
  {
    name: "no space after the colon, tabs as padding",
    text: "MemTotal:1000 kB\nMemFree:\t\t200\tkB\n",
    check: { memTotalBytes: 1000 * KiB, memFreeBytes: 200 * KiB, skippedLines: 0 },
  },
];

for (const c of cases) {
  test(`parseMeminfo: ${c.name}`, () => {
    const m = parseMeminfo(c.text);
    for (const [field, value] of Object.entries(c.check)) {
      assert.equal(m[field as keyof typeof c.check], value, field);
    }
    for (const [key, value] of Object.entries(c.raw ?? {})) assert.equal(m.raw.get(key), value, key);
  });
}

const failures: readonly { name: string; text: string; message: RegExp }[] = [
  { name: "empty", text: "", message: /MemTotal/ },
  { name: "not meminfo", text: "nr_free_pages 1120387\n", message: /saw "nr_free_pages 1120387\\n"/ },
  { name: "MemTotal garbled", text: "MemTotal: x kB\nMemFree: 5 kB\n", message: /MemTotal/ },
  { name: "MemTotal without unit", text: "MemTotal: 24684096\n", message: /MemTotal/ },
  { name: "only line unterminated", text: "MemTotal: 24684096 kB", message: /no newline/ },
];

for (const f of failures) {
  test(`parseMeminfo rejects: ${f.name}`, () => {
    assert.throws(
      () => parseMeminfo(f.text),
      (err: unknown) =>
        err instanceof OomkitError && err.code === "E_PARSE" && f.message.test(err.message),
    );
  });
}
