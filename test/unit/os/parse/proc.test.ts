import { test } from "node:test";
import assert from "node:assert/strict";

import { OomkitError } from "../../../../src/errors.js";
import {
  PF_KTHREAD,
  compactProcStatus,
  isKernelThreadFlags,
  parseCmdline,
  parseExeLink,
  parseOomScore,
  parseOomScoreAdj,
  parseProcCgroup,
  parseProcStat,
  parseProcStatus,
} from "../../../../src/os/parse/proc.js";
import type { ProcStat } from "../../../../src/os/parse/proc.js";

const KiB = 1024;

function assertParseError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OomkitError, "an OomkitError");
    assert.equal(err.code, "E_PARSE");
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

/** The fields after comm of a captured `/proc/<pid>/stat` of `sleep 3` (Linux 6.18). */
const SLEEP_TAIL =
  "S 6661 6659 1941 0 -1 4194304 76 0 0 0 0 0 0 0 20 0 1 0 36750 2990080 397 18446744073709551615 " +
  "94510957281280 94510957299209 140736634864768 0 0 0 0 0 0 1 0 0 17 0 0 0 0 0 0 94510957313296 " +
  "94510957314560 94511666565120 140736634869874 140736634869882 140736634869882 140736634871785 0\n";

const SLEEP_STAT: ProcStat = {
  pid: 6702,
  comm: "sleep",
  state: "S",
  ppid: 6661,
  pgrp: 6659,
  session: 1941,
  flags: 4194304,
  minflt: 76,
  majflt: 0,
  utimeTicks: 0,
  stimeTicks: 0,
  numThreads: 1,
  startTimeTicks: 36750,
  vsizeBytes: 2990080,
  rssPages: 397,
};

const statCases: readonly { name: string; text: string; expected: Partial<ProcStat> }[] = [
  { name: "real: sleep", text: `6702 (sleep) ${SLEEP_TAIL}`, expected: SLEEP_STAT },
  {
    name: "real: kthreadd (kernel thread, rsslim 2^64-1 not read)",
    text: "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 8 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    expected: { pid: 2, comm: "kthreadd", ppid: 0, flags: 2129984, vsizeBytes: 0, rssPages: 0, startTimeTicks: 8 },
  },
  {
    name: "real: zombie",
    text: "7837 (python3) Z 7796 7794 1941 0 -1 4227148 221 0 0 0 0 0 0 0 20 0 1 0 44624 0 0 18446744073709551615 0 0 0 0 0 0 0 16781312 2 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    expected: { pid: 7837, comm: "python3", state: "Z", rssPages: 0 },
  },
  {
    name: "real: comm set by prctl to `a) b (c`",
    text: `6289 (a) b (c) ${SLEEP_TAIL}`,
    expected: { pid: 6289, comm: "a) b (c", state: "S", ppid: 6661 },
  },
  {
    name: "real: comm with a newline that imitates the next fields",
    text: `6290 (x\ny) R 1 2) ${SLEEP_TAIL}`,
    expected: { comm: "x\ny) R 1 2", state: "S", ppid: 6661 },
  },
  {
    name: "real: comm with a backslash and a tab (stat does not escape)",
    text: `6306 (back\\sl\tx) ${SLEEP_TAIL}`,
    expected: { comm: "back\\sl\tx" },
  },
  { name: "empty comm", text: `10 () ${SLEEP_TAIL}`, expected: { pid: 10, comm: "" } },
  { name: "comm of only parentheses", text: `10 ()()) ${SLEEP_TAIL}`, expected: { comm: ")()" } },
  { name: "no trailing newline", text: `6702 (sleep) ${SLEEP_TAIL.trimEnd()}`, expected: { rssPages: 397 } },
  { name: "CRLF", text: `6702 (sleep) ${SLEEP_TAIL.trimEnd()}\r\n`, expected: { rssPages: 397 } },
  {
    name: "exactly the 22 fields after comm that are needed",
    text: `6702 (sleep) ${SLEEP_TAIL.split(" ").slice(0, 22).join(" ")}`,
    expected: { rssPages: 397 },
  },
  {
    name: "vsize over 2^53 (5-level paging) clamps",
    text: `9 (big) ${SLEEP_TAIL.replace("2990080", "18446744073709551615")}`,
    expected: { vsizeBytes: Number.MAX_SAFE_INTEGER },
  },
];

for (const c of statCases) {
  test(`parseProcStat: ${c.name}`, () => {
    const s = parseProcStat(c.text);
    for (const [k, v] of Object.entries(c.expected)) assert.equal(s[k as keyof ProcStat], v, k);
  });
}

const badStats: readonly [string, string][] = [
  ["empty", ""],
  ["no comm", "6702 sleep S 1 2 3\n"],
  ["no closing parenthesis", "6702 (sleep S 6661 6659\n"],
  ["truncated after comm", "6702 (sleep) S 6661 6659 1941 0 -1 4194304 76 0"],
  ["truncated to 21 fields", `6702 (sleep) ${SLEEP_TAIL.split(" ").slice(0, 21).join(" ")}`],
  ["pid missing", `(sleep) ${SLEEP_TAIL}`],
  ["pid garbage", `67x2 (sleep) ${SLEEP_TAIL}`],
  ["pid 0", `0 (sleep) ${SLEEP_TAIL}`],
  ["pid negative", `-5 (sleep) ${SLEEP_TAIL}`],
  ["pid above PID_MAX_LIMIT", `4194304 (sleep) ${SLEEP_TAIL}`],
  ["state is a word", `1 (sleep) Sleeping ${SLEEP_TAIL.slice(2)}`],
  ["negative ppid", `1 (sleep) S -6661 ${SLEEP_TAIL.slice(7)}`],
  ["garbage flags", `1 (sleep) ${SLEEP_TAIL.replace("4194304", "0x400000")}`],
];

for (const [name, text] of badStats) {
  test(`parseProcStat rejects: ${name}`, () => assertParseError(() => parseProcStat(text), /expected "pid \(comm\)/));
}

test("isKernelThreadFlags", () => {
  assert.equal(PF_KTHREAD, 0x00200000);
  assert.equal(isKernelThreadFlags(2129984), true, "kthreadd");
  assert.equal(isKernelThreadFlags(4194304), false, "sleep");
  assert.equal(isKernelThreadFlags(0), false);
  assert.equal(isKernelThreadFlags(0xffffffff), true);
});

/** Captured: /proc/<pid>/status of `sleep 3` on Linux 6.18. */
const SLEEP_STATUS = [
  "Name:\tsleep",
  "Umask:\t0022",
  "State:\tS (sleeping)",
  "Tgid:\t6702",
  "Ngid:\t0",
  "Pid:\t6702",
  "PPid:\t6661",
  "TracerPid:\t0",
  "Uid:\t0\t0\t0\t0",
  "Gid:\t0\t0\t0\t0",
  "FDSize:\t256",
  "Groups:\t ",
  "NStgid:\t6702",
  "NSpid:\t6702",
  "NSpgid:\t6659",
  "NSsid:\t1941",
  "Kthread:\t0",
  "VmPeak:\t    2920 kB",
  "VmSize:\t    2920 kB",
  "VmLck:\t       0 kB",
  "VmPin:\t       0 kB",
  "VmHWM:\t    1764 kB",
  "VmRSS:\t    1764 kB",
  "RssAnon:\t     112 kB",
  "RssFile:\t    1652 kB",
  "RssShmem:\t       0 kB",
  "VmData:\t     224 kB",
  "VmStk:\t     132 kB",
  "VmExe:\t      20 kB",
  "VmLib:\t    1528 kB",
  "VmPTE:\t      44 kB",
  "VmSwap:\t       0 kB",
  "HugetlbPages:\t       0 kB",
  "CoreDumping:\t0",
  "THP_enabled:\t1",
  "untag_mask:\t0xffffffffffffffff",
  "Threads:\t1",
  "SigQ:\t0/96365",
  "SigPnd:\t0000000000000000",
  "ShdPnd:\t0000000000000000",
  "SigBlk:\t0000000000000000",
  "SigIgn:\t0000000000000000",
  "SigCgt:\t0000000000000000",
  "CapInh:\t0000000000000000",
  "CapPrm:\t000001fffeffffff",
  "CapEff:\t000001fffeffffff",
  "CapBnd:\t000001fffeffffff",
  "CapAmb:\t0000000000000000",
  "NoNewPrivs:\t0",
  "Seccomp:\t0",
  "Seccomp_filters:\t0",
  "Speculation_Store_Bypass:\tthread vulnerable",
  "SpeculationIndirectBranch:\tconditional enabled",
  "Cpus_allowed:\t3",
  "Cpus_allowed_list:\t0-1",
  "Mems_allowed:\t00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001",
  "Mems_allowed_list:\t0",
  "voluntary_ctxt_switches:\t7",
  "nonvoluntary_ctxt_switches:\t0",
].join("\n");

/** Captured: /proc/2/status (kthreadd): a kernel thread has no Vm* lines. */
const KTHREADD_STATUS = [
  "Name:\tkthreadd",
  "Umask:\t0022",
  "State:\tS (sleeping)",
  "Tgid:\t2",
  "Ngid:\t0",
  "Pid:\t2",
  "PPid:\t0",
  "TracerPid:\t0",
  "Uid:\t0\t0\t0\t0",
  "Gid:\t0\t0\t0\t0",
  "FDSize:\t64",
  "Groups:\t ",
  "NStgid:\t2",
  "NSpid:\t2",
  "NSpgid:\t0",
  "NSsid:\t0",
  "Kthread:\t1",
  "Threads:\t1",
  "SigQ:\t0/96365",
  "SigPnd:\t0000000000000000",
  "ShdPnd:\t0000000000000000",
  "SigBlk:\t0000000000000000",
  "SigIgn:\tffffffffffffffff",
  "SigCgt:\t0000000000000000",
  "CapInh:\t0000000000000000",
  "CapPrm:\t000001ffffffffff",
  "CapEff:\t000001ffffffffff",
  "CapBnd:\t000001ffffffffff",
  "CapAmb:\t0000000000000000",
  "NoNewPrivs:\t0",
  "Seccomp:\t0",
  "Seccomp_filters:\t0",
  "Speculation_Store_Bypass:\tthread vulnerable",
  "SpeculationIndirectBranch:\tconditional enabled",
  "Cpus_allowed:\t3",
  "Cpus_allowed_list:\t0-1",
  "Mems_allowed:\t00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000001",
  "Mems_allowed_list:\t0",
  "voluntary_ctxt_switches:\t61",
  "nonvoluntary_ctxt_switches:\t0",
].join("\n");

test("parseProcStatus: real user process", () => {
  const s = parseProcStatus(`${SLEEP_STATUS}\n`);
  assert.equal(s.name, "sleep");
  assert.equal(s.state, "S");
  assert.equal(s.tgid, 6702);
  assert.equal(s.pid, 6702);
  assert.equal(s.ppid, 6661);
  assert.deepEqual(s.uid, { real: 0, effective: 0, saved: 0, fs: 0 });
  assert.equal(s.vmRssBytes, 1764 * KiB);
  assert.equal(s.rssAnonBytes, 112 * KiB);
  assert.equal(s.rssFileBytes, 1652 * KiB);
  assert.equal(s.rssShmemBytes, 0);
  assert.equal(s.vmSwapBytes, 0);
  assert.equal(s.vmPteBytes, 44 * KiB);
  assert.equal(s.vmSizeBytes, 2920 * KiB);
  assert.equal(s.threads, 1);
  assert.equal(s.kthread, false);
  assert.equal(s.capEff, 0x000001fffeffffffn);
  assert.equal(s.skippedLines, 0);
  assert.equal(s.raw.get("Cpus_allowed_list"), "0-1");
  assert.equal(s.raw.get("Groups"), " ", "the value as printed, leading tab removed");
  assert.equal(s.raw.size, 59);
});

/** A parsed status without `raw` and `skippedLines`: every figure oomkit reads. */
function figuresOf(text: string): Record<string, unknown> {
  const { raw: _raw, skippedLines: _skipped, ...figures } = parseProcStatus(text);
  return figures;
}

test("compactProcStatus keeps the lines parseProcStatus reads, and it reads the same figures from them", () => {
  const hostile = `${SLEEP_STATUS.replace("Name:\tsleep", "Name:\tx: (y) z\\n")}\n`;
  for (const text of [`${SLEEP_STATUS}\n`, `${KTHREADD_STATUS}\n`, hostile]) {
    const compact = compactProcStatus(text);
    assert.ok(compact.length < text.length / 3, `${compact.length} of ${text.length} characters`);
    assert.deepEqual(figuresOf(compact), figuresOf(text));
    assert.equal(compactProcStatus(compact), compact, "compacting twice changes nothing");
  }
  const compact = compactProcStatus(`${SLEEP_STATUS}\n`);
  assert.deepEqual(
    compact.split("\n").map((l) => l.slice(0, l.indexOf(":"))),
    ["Name", "State", "Tgid", "Pid", "PPid", "Uid", "Kthread", "VmSize", "VmRSS", "RssAnon", "RssFile", "RssShmem", "VmPTE", "VmSwap", "Threads", "CapEff", ""],
  );
  assert.equal(figuresOf(hostile).name, "x: (y) z\\n");
});

test("parseProcStatus: processes of one user share one frozen uid; mixed ids get their own", () => {
  const a = parseProcStatus(`${SLEEP_STATUS}\n`).uid;
  const b = parseProcStatus(`${SLEEP_STATUS.replace("Pid:\t6702", "Pid:\t6703")}\n`).uid;
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
  const mixed = parseProcStatus(`${SLEEP_STATUS.replace(/^Uid:.*$/m, "Uid:\t1000\t0\t0\t0")}\n`).uid;
  assert.deepEqual(mixed, { real: 1000, effective: 0, saved: 0, fs: 0 });
});

test("compactProcStatus keeps a malformed or truncated status whole: it fails to parse as it would", () => {
  const truncated = SLEEP_STATUS.slice(0, SLEEP_STATUS.indexOf("VmRSS") + 8);
  const garbage = `${SLEEP_STATUS}\nnot a key line\n`;
  const blank = `${SLEEP_STATUS}\n\n`;
  const noUid = `${SLEEP_STATUS.replace(/^Uid:.*\n/m, "")}\nUid-ish line\n`;
  for (const text of [truncated, garbage, blank, noUid, "", "\n"]) assert.equal(compactProcStatus(text), text);
  assertParseError(() => parseProcStatus(compactProcStatus(noUid)), /Uid/);
});

test("parseProcStatus: real kernel thread has no memory figures", () => {
  const s = parseProcStatus(`${KTHREADD_STATUS}\n`);
  assert.equal(s.name, "kthreadd");
  assert.equal(s.pid, 2);
  assert.equal(s.ppid, 0);
  assert.equal(s.kthread, true);
  assert.equal(s.vmRssBytes, undefined);
  assert.equal(s.vmSwapBytes, undefined);
  assert.equal(s.vmSizeBytes, undefined);
  assert.equal(s.threads, 1);
  assert.equal(s.capEff, 0x000001ffffffffffn);
  assert.equal(s.skippedLines, 0);
});

/** Rebuilds the captured status with some lines replaced (`undefined` drops a line). */
function statusWith(replace: Readonly<Record<string, string | undefined>>): string {
  const out: string[] = [];
  for (const line of SLEEP_STATUS.split("\n")) {
    const key = line.slice(0, line.indexOf(":"));
    if (!(key in replace)) out.push(line);
    else if (replace[key] !== undefined) out.push(`${key}:${replace[key]}`);
  }
  return `${out.join("\n")}\n`;
}

const statusCases: readonly {
  name: string;
  text: string;
  expected: Readonly<Record<string, unknown>>;
}[] = [
  {
    name: "real zombie: no Umask, no Vm lines",
    text:
      "Name:\tpython3\nState:\tZ (zombie)\nTgid:\t7837\nNgid:\t0\nPid:\t7837\nPPid:\t7796\nTracerPid:\t0\n" +
      "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t0\nGroups:\t \nKthread:\t0\nThreads:\t1\n" +
      "CapEff:\t000001fffeffffff\n",
    expected: { name: "python3", state: "Z", vmRssBytes: undefined, threads: 1, skippedLines: 0 },
  },
  {
    name: "real: comm `a) b (c`",
    text: statusWith({ Name: "\ta) b (c" }),
    expected: { name: "a) b (c" },
  },
  {
    name: "real: the kernel escapes a newline in Name; kept as printed",
    text: statusWith({ Name: "\tx\\ny) R 1 2" }),
    expected: { name: "x\\ny) R 1 2" },
  },
  {
    name: "real: backslash escaped, tab raw",
    text: statusWith({ Name: "\tback\\\\sl\tx" }),
    expected: { name: "back\\\\sl\tx" },
  },
  {
    name: "a name with colons, and one that imitates a key",
    text: statusWith({ Name: "\tkworker/0:1H VmRSS: 1 kB" }),
    expected: { name: "kworker/0:1H VmRSS: 1 kB", vmRssBytes: 1764 * KiB },
  },
  { name: "an empty name", text: statusWith({ Name: "\t" }), expected: { name: "" } },
  { name: "a name of spaces", text: statusWith({ Name: "\t  " }), expected: { name: "  " } },
  { name: "a name starting with a tab", text: statusWith({ Name: "\t\tx" }), expected: { name: "\tx" } },
  { name: "uids differ", text: statusWith({ Uid: "\t1000\t0\t1000\t4294967295" }), expected: { uid: { real: 1000, effective: 0, saved: 1000, fs: 4294967295 } } },
  {
    name: "CRLF",
    text: statusWith({}).replaceAll("\n", "\r\n"),
    expected: { name: "sleep", vmRssBytes: 1764 * KiB, state: "S", skippedLines: 0 },
  },
  {
    name: "truncated mid-file: later fields undefined, the cut line skipped",
    text: statusWith({}).slice(0, statusWith({}).indexOf("VmRSS:") + 10),
    expected: { vmSizeBytes: 2920 * KiB, vmRssBytes: undefined, threads: undefined, skippedLines: 1 },
  },
  {
    name: "garbage lines and malformed known values are counted",
    text: statusWith({ VmRSS: "\tlots kB", VmSwap: "\t-4 kB", Threads: "\t1 kB", CapEff: "\tzzzz" }) + "garbage\n",
    expected: { vmRssBytes: undefined, vmSwapBytes: undefined, threads: undefined, capEff: undefined, skippedLines: 4 },
  },
  {
    name: "a memory figure without its kB unit is not trusted",
    text: statusWith({ VmRSS: "\t1764" }),
    expected: { vmRssBytes: undefined, skippedLines: 1 },
  },
  {
    name: "huge figures clamp",
    text: statusWith({ VmSwap: "\t18446744073709551615 kB" }),
    expected: { vmSwapBytes: Number.MAX_SAFE_INTEGER },
  },
  { name: "old kernel: no Kthread line", text: statusWith({ Kthread: undefined }), expected: { kthread: undefined } },
  { name: "State without description", text: statusWith({ State: "\tR" }), expected: { state: "R" } },
];

for (const c of statusCases) {
  test(`parseProcStatus: ${c.name}`, () => {
    const s = parseProcStatus(c.text);
    for (const [k, v] of Object.entries(c.expected)) assert.deepEqual(s[k as keyof typeof s], v, k);
  });
}

const badStatuses: readonly [string, string, RegExp][] = [
  ["empty", "", /"Name:"/],
  ["not a status file", "MemTotal: 5 kB\n", /"Name:"/],
  ["no Pid", statusWith({ Pid: undefined }), /"Pid:"/],
  ["Pid garbage", statusWith({ Pid: "\tabc" }), /"Pid:"/],
  ["Pid 0", statusWith({ Pid: "\t0" }), /"Pid:"/],
  ["Pid with a unit", statusWith({ Pid: "\t5 kB" }), /"Pid:"/],
  ["negative PPid", statusWith({ PPid: "\t-1" }), /"PPid:"/],
  ["Tgid above PID_MAX_LIMIT", statusWith({ Tgid: "\t99999999" }), /"Tgid:"/],
  ["State garbage", statusWith({ State: "\tsleeping" }), /"State:"/],
  ["Uid with three ids", statusWith({ Uid: "\t0\t0\t0" }), /"Uid:"/],
  ["Uid negative", statusWith({ Uid: "\t-1\t0\t0\t0" }), /"Uid:"/],
  ["Uid above 2^32-1", statusWith({ Uid: "\t4294967296\t0\t0\t0" }), /"Uid:"/],
  ["truncated before Uid", statusWith({}).slice(0, statusWith({}).indexOf("Uid:") + 2), /"Uid:".*no newline/],
];

for (const [name, text, message] of badStatuses) {
  test(`parseProcStatus rejects: ${name}`, () => assertParseError(() => parseProcStatus(text), message));
}

const scoreCases: readonly [string, string, number][] = [
  ["real", "666\n", 666],
  ["zero", "0\n", 0],
  ["after 5.9 the range reaches 2000", "2000\n", 2000],
  ["no newline", "12", 12],
];
for (const [name, text, expected] of scoreCases) {
  test(`parseOomScore: ${name}`, () => assert.equal(parseOomScore(text), expected));
}
for (const bad of ["", "\n", "-1\n", "1.5\n", "abc\n", "99999999999999999999\n", "1 2\n", "1\n2\n"]) {
  test(`parseOomScore rejects ${JSON.stringify(bad)}`, () => assertParseError(() => parseOomScore(bad)));
}

const adjCases: readonly [string, number][] = [
  ["0\n", 0],
  ["-1000\n", -1000],
  ["1000\n", 1000],
  ["-17\n", -17],
  ["300\r\n", 300],
  ["-0\n", 0],
];
for (const [text, expected] of adjCases) {
  test(`parseOomScoreAdj ${JSON.stringify(text)}`, () => assert.equal(parseOomScoreAdj(text), expected));
}
for (const bad of ["", "-1001\n", "1001\n", "+5\n", "--5\n", "5 kB\n", "0x10\n", "-9223372036854775808\n", "NaN\n"]) {
  test(`parseOomScoreAdj rejects ${JSON.stringify(bad)}`, () =>
    assertParseError(() => parseOomScoreAdj(bad), /expected an integer in -1000\.\.1000, saw "/));
}

const cmdlineCases: readonly [string, string, string[]][] = [
  ["real: sleep 3", "sleep\u00003\u0000", ["sleep", "3"]],
  ["real: kernel thread", "", []],
  ["real: zombie", "", []],
  ["rewritten argv with spaces and no NUL", "postgres: checkpointer ", ["postgres: checkpointer "]],
  ["setproctitle padding", "nginx: worker process\u0000\u0000\u0000\u0000", ["nginx: worker process"]],
  ["an empty argument in the middle is kept", "printf\u0000\u0000x\u0000", ["printf", "", "x"]],
  ["arguments with newlines and spaces", "sh\u0000-c\u0000echo a\nb c\u0000", ["sh", "-c", "echo a\nb c"]],
  ["no trailing NUL", "a\u0000b", ["a", "b"]],
];
for (const [name, text, expected] of cmdlineCases) {
  test(`parseCmdline: ${name}`, () => assert.deepEqual(parseCmdline(text), expected));
}

const exeCases: readonly [string, string, string | undefined][] = [
  ["real: a daemon", "/usr/sbin/sshd", "/usr/sbin/sshd"],
  ["real: a path with spaces", "/opt/My App/bin/app", "/opt/My App/bin/app"],
  ["real: replaced by a package upgrade", "/usr/sbin/sshd (deleted)", undefined],
  ["real: run from a memfd", "/memfd:payload (deleted)", undefined],
  ["a file really named so cannot be told from a deleted one", "/home/u/x (deleted)", undefined],
  ["a name that only contains the suffix is a live file", "/home/u/x (deleted) y", "/home/u/x (deleted) y"],
  ["not a path (an anonymous inode)", "anon_inode:[eventfd]", undefined],
  ["empty", "", undefined],
];
for (const [name, text, expected] of exeCases) {
  test(`parseExeLink: ${name}`, () => assert.equal(parseExeLink(text), expected));
}

/** Captured /proc/self/cgroup on a hybrid v1/v2 host (the memory path shortened). */
const REAL_HYBRID_CGROUP =
  "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/job/7d301a70\n" +
  "3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

const cgroupCases: readonly {
  name: string;
  text: string;
  v2Path: string | undefined;
  v1: Readonly<Record<string, string>>;
  deleted?: boolean;
  skippedLines?: number;
}[] = [
  {
    name: "real hybrid",
    text: REAL_HYBRID_CGROUP,
    v2Path: "/",
    v1: {
      "name=systemd": "/",
      pids: "/",
      blkio: "/",
      freezer: "/",
      devices: "/",
      memory: "/job/7d301a70",
      cpuset: "/",
      cpuacct: "/",
      cpu: "/",
    },
  },
  {
    name: "pure v2",
    text: "0::/user.slice/user-1000.slice/session-2.scope\n",
    v2Path: "/user.slice/user-1000.slice/session-2.scope",
    v1: {},
  },
  {
    name: "combined v1 controllers",
    text: "3:cpu,cpuacct:/x\n2:net_cls,net_prio:/\n",
    v2Path: undefined,
    v1: { cpu: "/x", cpuacct: "/x", net_cls: "/", net_prio: "/" },
  },
  {
    name: "paths containing colons",
    text: "0::/system.slice/docker-abc.scope/a:b:c\n4:memory:/k8s/pod:1\n",
    v2Path: "/system.slice/docker-abc.scope/a:b:c",
    v1: { memory: "/k8s/pod:1" },
  },
  {
    name: "removed cgroup",
    text: "0::/system.slice/gone.service (deleted)\n",
    v2Path: "/system.slice/gone.service",
    v1: {},
    deleted: true,
  },
  {
    name: "outside the reader's cgroup namespace",
    text: "0::/../../other.slice\n",
    v2Path: "/../../other.slice",
    v1: {},
  },
  {
    name: "paths with spaces",
    text: "0::/my app.slice/a b\n",
    v2Path: "/my app.slice/a b",
    v1: {},
  },
  {
    name: "garbage, truncated, repeated v2 line, relative path, empty controller list",
    text: "garbage\n0::/a\n0::/b\nx:memory:/c\n5::/d\n4:memory:relative\n1:cpu:/tr",
    v2Path: "/a",
    v1: {},
    skippedLines: 6,
  },
  { name: "empty", text: "", v2Path: undefined, v1: {} },
  { name: "CRLF", text: "4:memory:/m\r\n0::/v\r\n", v2Path: "/v", v1: { memory: "/m" } },
];

for (const c of cgroupCases) {
  test(`parseProcCgroup: ${c.name}`, () => {
    const p = parseProcCgroup(c.text);
    assert.equal(p.v2Path, c.v2Path);
    assert.deepEqual(Object.fromEntries(p.v1), c.v1);
    assert.equal(p.deleted, c.deleted ?? false);
    assert.equal(p.skippedLines, c.skippedLines ?? 0);
  });
}
