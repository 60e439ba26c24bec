import { test } from "node:test";
import assert from "node:assert/strict";

import { OomkitError } from "../../../../src/errors.js";
import {
  parseCgroupEvents,
  parseControllers,
  parseFlag,
  parseMemoryEvents,
  parseMemoryStat,
  parseMemoryValue,
  parsePidList,
} from "../../../../src/os/parse/cgroup.js";

function assertParseError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OomkitError, "an OomkitError");
    assert.equal(err.code, "E_PARSE");
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

/**
 * cgroup v2 memory.stat in the Linux 6.x key order (mm/memcontrol.c `memory_stats[]`, then the
 * event counters). Written out here: the machine these tests were written on mounts the memory
 * controller on cgroup v1 only.
 */
const V2_MEMORY_STAT = [
  "anon 1056014336",
  "file 11877441536",
  "kernel 1672237056",
  "kernel_stack 158109696",
  "pagetables 52822016",
  "sec_pagetables 0",
  "percpu 2910720",
  "sock 13357056",
  "vmalloc 245760",
  "shmem 12419072",
  "zswap 0",
  "zswapped 0",
  "file_mapped 1073233920",
  "file_dirty 28925952",
  "file_writeback 4096",
  "swapcached 65536",
  "anon_thp 209715200",
  "file_thp 0",
  "shmem_thp 0",
  "inactive_anon 12128256",
  "active_anon 1006006272",
  "inactive_file 6990409728",
  "active_file 4981571584",
  "unevictable 8138752",
  "slab_reclaimable 815513600",
  "slab_unreclaimable 625459200",
  "slab 1440972800",
  "workingset_refault_anon 17",
  "workingset_refault_file 90321",
  "workingset_activate_anon 3",
  "workingset_activate_file 1200",
  "workingset_restore_anon 0",
  "workingset_restore_file 800",
  "workingset_nodereclaim 0",
  "pgscan 524288",
  "pgsteal 500000",
  "pgscan_kswapd 400000",
  "pgscan_direct 124288",
  "pgscan_khugepaged 0",
  "pgsteal_kswapd 390000",
  "pgsteal_direct 110000",
  "pgsteal_khugepaged 0",
  "pgfault 1225796781",
  "pgmajfault 259380",
  "pgrefill 0",
  "pgactivate 0",
  "pgdeactivate 0",
  "pglazyfree 0",
  "pglazyfreed 0",
  "zswpin 0",
  "zswpout 0",
  "zswpwb 0",
  "thp_fault_alloc 100",
  "thp_collapse_alloc 2",
  "thp_swpout 0",
  "thp_swpout_fallback 0",
].join("\n");

/** Captured from a cgroup v1 memory.stat on Linux 6.18. */
const REAL_V1_MEMORY_STAT = [
  "cache 11018240",
  "rss 5193728",
  "rss_huge 0",
  "shmem 8998912",
  "mapped_file 7520256",
  "dirty 32768",
  "writeback 0",
  "workingset_refault_anon 0",
  "workingset_refault_file 180",
  "swap 0",
  "swapcached 0",
  "pgpgin 36313",
  "pgpgout 32355",
  "pgfault 41670",
  "pgmajfault 0",
  "inactive_anon 0",
  "active_anon 1531904",
  "inactive_file 196608",
  "active_file 1822720",
  "unevictable 12660736",
  "hierarchical_memory_limit 9223372036854771712",
  "hierarchical_memsw_limit 9223372036854771712",
  "total_cache 794009600",
  "total_rss 189562880",
  "total_rss_huge 0",
  "total_shmem 8998912",
  "total_mapped_file 48021504",
  "total_dirty 83066880",
  "total_writeback 0",
  "total_workingset_refault_anon 0",
  "total_workingset_refault_file 58279",
  "total_swap 0",
  "total_swapcached 0",
  "total_pgpgin 2022039",
  "total_pgpgout 1823068",
  "total_pgfault 3096046",
  "total_pgmajfault 961",
  "total_inactive_anon 184229888",
  "total_active_anon 1576960",
  "total_inactive_file 540934144",
  "total_active_file 244076544",
  "total_unevictable 12660736",
].join("\n");

test("parseMemoryStat: cgroup v2 memory.stat, every typed field", () => {
  const s = parseMemoryStat(`${V2_MEMORY_STAT}\n`);
  assert.deepEqual(
    { ...s, raw: undefined },
    {
      anonBytes: 1056014336,
      fileBytes: 11877441536,
      kernelBytes: 1672237056,
      kernelStackBytes: 158109696,
      pagetablesBytes: 52822016,
      sockBytes: 13357056,
      shmemBytes: 12419072,
      fileMappedBytes: 1073233920,
      fileDirtyBytes: 28925952,
      fileWritebackBytes: 4096,
      swapcachedBytes: 65536,
      slabReclaimableBytes: 815513600,
      slabUnreclaimableBytes: 625459200,
      anonThpBytes: 209715200,
      inactiveAnonBytes: 12128256,
      activeAnonBytes: 1006006272,
      inactiveFileBytes: 6990409728,
      activeFileBytes: 4981571584,
      unevictableBytes: 8138752,
      pgscan: 524288,
      pgsteal: 500000,
      pgfault: 1225796781,
      pgmajfault: 259380,
      workingsetRefaultAnon: 17,
      workingsetRefaultFile: 90321,
      raw: undefined,
      skippedLines: 0,
    },
  );
  assert.equal(s.raw.size, 56);
  assert.equal(s.raw.get("pgscan_direct"), 124288, "keys without a typed field are kept");
});

test("parseMemoryStat: real cgroup v1 memory.stat fills the keys both versions share", () => {
  const s = parseMemoryStat(`${REAL_V1_MEMORY_STAT}\n`);
  assert.equal(s.skippedLines, 0);
  assert.equal(s.raw.size, 42);
  assert.equal(s.activeAnonBytes, 1531904);
  assert.equal(s.unevictableBytes, 12660736);
  assert.equal(s.pgfault, 41670);
  assert.equal(s.workingsetRefaultFile, 180);
  assert.equal(s.anonBytes, undefined, "v1 says rss, not anon");
  assert.equal(s.raw.get("hierarchical_memory_limit"), Number.MAX_SAFE_INTEGER, "v1 unlimited, clamped");
});

const statCases: readonly {
  name: string;
  text: string;
  anonBytes: number | undefined;
  pgscan: number | undefined;
  skippedLines: number;
}[] = [
  { name: "empty file (a cgroup being removed)", text: "", anonBytes: undefined, pgscan: undefined, skippedLines: 0 },
  { name: "CRLF", text: "anon 4096\r\npgscan 7\r\n", anonBytes: 4096, pgscan: 7, skippedLines: 0 },
  {
    name: "truncated last line is not trusted",
    text: "anon 4096\npgscan 12",
    anonBytes: 4096,
    pgscan: undefined,
    skippedLines: 1,
  },
  {
    name: "garbage lines, extra fields, negative numbers",
    text: "anon 4096\nnonsense\nfile 1 2\npgscan -3\n\u00ff\u00fe 9 9\nsock\n",
    anonBytes: 4096,
    pgscan: undefined,
    skippedLines: 5,
  },
  {
    name: "huge numbers clamp",
    text: "anon 18446744073709551615\npgscan 9007199254740993\n",
    anonBytes: Number.MAX_SAFE_INTEGER,
    pgscan: Number.MAX_SAFE_INTEGER,
    skippedLines: 0,
  },
  {
    name: "a repeated key keeps the first",
    text: "anon 1\nanon 2\n",
    anonBytes: 1,
    pgscan: undefined,
    skippedLines: 1,
  },
];

for (const c of statCases) {
  test(`parseMemoryStat: ${c.name}`, () => {
    const s = parseMemoryStat(c.text);
    assert.equal(s.anonBytes, c.anonBytes);
    assert.equal(s.pgscan, c.pgscan);
    assert.equal(s.skippedLines, c.skippedLines);
  });
}

const eventCases: readonly {
  name: string;
  text: string;
  expected: Record<string, number | undefined>;
  skippedLines: number;
}[] = [
  {
    name: "memory.events (5.17+: oom_group_kill)",
    text: "low 0\nhigh 1523\nmax 87\noom 3\noom_kill 2\noom_group_kill 1\n",
    expected: { low: 0, high: 1523, max: 87, oom: 3, oomKill: 2, oomGroupKill: 1, fail: undefined },
    skippedLines: 0,
  },
  {
    name: "memory.events before 5.17",
    text: "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
    expected: { low: 0, oomKill: 0, oomGroupKill: undefined },
    skippedLines: 0,
  },
  {
    name: "memory.swap.events",
    text: "high 0\nmax 4\nfail 2\n",
    expected: { high: 0, max: 4, fail: 2, low: undefined, oom: undefined },
    skippedLines: 0,
  },
  {
    name: "a future key is kept in raw (checked below), garbage counted",
    text: "low 0\nsock_throttled 5\noom_kill x\n#\n",
    expected: { low: 0, oomKill: undefined },
    skippedLines: 2,
  },
  {
    name: "truncated mid-number",
    text: "oom 3\noom_kill 12",
    expected: { oom: 3, oomKill: undefined },
    skippedLines: 1,
  },
  { name: "empty", text: "", expected: { oom: undefined }, skippedLines: 0 },
];

for (const c of eventCases) {
  test(`parseMemoryEvents: ${c.name}`, () => {
    const e = parseMemoryEvents(c.text);
    for (const [k, v] of Object.entries(c.expected)) assert.equal(e[k as keyof typeof e], v, k);
    assert.equal(e.skippedLines, c.skippedLines);
  });
}

test("parseMemoryEvents keeps unknown keys", () => {
  assert.equal(parseMemoryEvents("low 0\nsock_throttled 5\n").raw.get("sock_throttled"), 5);
});

const valueCases: readonly [string, string, number][] = [
  ["memory.current", "1442394112\n", 1442394112],
  ["memory.max unlimited", "max\n", Number.POSITIVE_INFINITY],
  ["memory.swap.max unlimited, no newline", "max", Number.POSITIVE_INFINITY],
  ["memory.min zero", "0\n", 0],
  ["CRLF", "4096\r\n", 4096],
  ["v1 limit_in_bytes 'unlimited' clamps", "9223372036854771712\n", Number.MAX_SAFE_INTEGER],
  ["2^64-1 clamps", "18446744073709551615\n", Number.MAX_SAFE_INTEGER],
  ["exactly MAX_SAFE_INTEGER", "9007199254740991\n", Number.MAX_SAFE_INTEGER],
  ["surrounding whitespace", "  123  \n", 123],
];

for (const [name, text, expected] of valueCases) {
  test(`parseMemoryValue: ${name}`, () => assert.equal(parseMemoryValue(text), expected));
}

const badValues: readonly [string, string][] = [
  ["empty", ""],
  ["newline only", "\n"],
  ["negative", "-1\n"],
  ["float", "1.5\n"],
  ["Max is not max", "Max\n"],
  ["infinity", "Infinity\n"],
  ["hex", "0x10\n"],
  ["two values", "1 2\n"],
  ["trailing garbage line", "4096\ngarbage\n"],
  ["unit suffix", "4096 kB\n"],
  ["NaN", "NaN\n"],
];

for (const [name, text] of badValues) {
  test(`parseMemoryValue rejects: ${name}`, () =>
    assertParseError(() => parseMemoryValue(text), /expected a byte count or "max", saw "/));
}

test("parseMemoryValue quotes at most 60 chars of what it saw", () => {
  assertParseError(() => parseMemoryValue(`${"9".repeat(30)} ${"z".repeat(100)}`), /saw "9{30} z{29}…"$/);
});

test("parseFlag", () => {
  assert.equal(parseFlag("0\n"), false);
  assert.equal(parseFlag("1\n"), true);
  assert.equal(parseFlag("1"), true);
  for (const bad of ["", "2\n", "true\n", "-1\n", "01\n", "1\n1\n"]) {
    assertParseError(() => parseFlag(bad), /expected "0" or "1"/);
  }
});

const pidCases: readonly {
  name: string;
  text: string;
  pids: number[];
  hiddenPids: number;
  skippedLines: number;
}[] = [
  {
    name: "real cgroup.procs excerpt",
    text: "1\n2\n3\n452\n1816\n6314\n1062\n",
    pids: [1, 2, 3, 452, 1816, 6314, 1062],
    hiddenPids: 0,
    skippedLines: 0,
  },
  { name: "empty (no processes)", text: "", pids: [], hiddenPids: 0, skippedLines: 0 },
  {
    name: "tasks outside the reader's pid namespace are printed as 0",
    text: "0\n0\n17\n",
    pids: [17],
    hiddenPids: 2,
    skippedLines: 0,
  },
  { name: "v1 duplicates are dropped", text: "5\n6\n5\n", pids: [5, 6], hiddenPids: 0, skippedLines: 0 },
  {
    name: "garbage, negative, too large, float",
    text: "5\nabc\n-6\n4194304\n18446744073709551615\n7.0\n4194303\n",
    pids: [5, 4194303],
    hiddenPids: 0,
    skippedLines: 5,
  },
  {
    name: "truncated last pid is not trusted (it could be a prefix of another pid)",
    text: "100\n200\n30",
    pids: [100, 200],
    hiddenPids: 0,
    skippedLines: 1,
  },
  { name: "CRLF and padding", text: " 10 \r\n20\r\n", pids: [10, 20], hiddenPids: 0, skippedLines: 0 },
];

for (const c of pidCases) {
  test(`parsePidList: ${c.name}`, () => {
    assert.deepEqual(parsePidList(c.text), {
      pids: c.pids,
      hiddenPids: c.hiddenPids,
      skippedLines: c.skippedLines,
    });
  });
}

const controllerCases: readonly [string, string, string[]][] = [
  ["real v2 root (hybrid)", "hugetlb\n", ["hugetlb"]],
  ["real empty subtree_control", "\n", []],
  ["empty text", "", []],
  ["typical v2", "cpuset cpu io memory hugetlb pids rdma misc\n", ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]],
  ["CRLF", "cpu memory\r\n", ["cpu", "memory"]],
];

for (const [name, text, expected] of controllerCases) {
  test(`parseControllers: ${name}`, () => assert.deepEqual(parseControllers(text), expected));
}

for (const bad of ["memory +cpu\n", "cpu\u0000\n", "memory;rm\n", "Memory\n"]) {
  test(`parseControllers rejects ${JSON.stringify(bad)}`, () =>
    assertParseError(() => parseControllers(bad), /expected controller names/));
}

const cgroupEventCases: readonly {
  name: string;
  text: string;
  populated: boolean | undefined;
  frozen: boolean | undefined;
  skippedLines: number;
}[] = [
  { name: "populated, not frozen", text: "populated 1\nfrozen 0\n", populated: true, frozen: false, skippedLines: 0 },
  { name: "empty and frozen", text: "populated 0\nfrozen 1\n", populated: false, frozen: true, skippedLines: 0 },
  { name: "before 5.2: no frozen key", text: "populated 1\n", populated: true, frozen: undefined, skippedLines: 0 },
  { name: "a value other than 0/1", text: "populated 2\nfrozen 0\n", populated: undefined, frozen: false, skippedLines: 1 },
  { name: "garbage", text: "populated yes\nfrozen\n", populated: undefined, frozen: undefined, skippedLines: 2 },
  { name: "truncated", text: "populated 1\nfroz", populated: true, frozen: undefined, skippedLines: 1 },
  { name: "empty", text: "", populated: undefined, frozen: undefined, skippedLines: 0 },
];

for (const c of cgroupEventCases) {
  test(`parseCgroupEvents: ${c.name}`, () => {
    const e = parseCgroupEvents(c.text);
    assert.equal(e.populated, c.populated);
    assert.equal(e.frozen, c.frozen);
    assert.equal(e.skippedLines, c.skippedLines);
  });
}
