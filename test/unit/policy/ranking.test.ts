/**
 * The rules each ranking policy states: rules' names and marks, pressure's pgscan order (with
 * History samples), growth's phases, swap's largest user.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { History, type Sample } from "../../../src/engine/history.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { growth, phases } from "../../../src/policy/growth.js";
import { pressure } from "../../../src/policy/pressure.js";
import { rules } from "../../../src/policy/rules.js";
import { swap } from "../../../src/policy/swap.js";
import { markValue } from "../../../src/engine/marks.js";
import { NO_PROTECTIONS } from "../../../src/engine/verify.js";
import type { FixtureSpec } from "../../support/fixture.js";
import { HYBRID, KB_PER_MB, MB, cause, chainOf, engineWith, machine, snapshotNotingReads, snapshotOf } from "./machines.js";

const pids = (plan: readonly { kind: string }[]) => plan.map((a) => ("pid" in a ? a.pid : "cgroup" in a ? a.cgroup : a.kind));

/** Three apps of different sizes in their own cgroups, for marks and names. */
function apps(marks: Readonly<Record<string, Readonly<Record<string, string>>>> = {}): FixtureSpec {
  return {
    cgroups: {
      "/apps": {},
      "/apps/big": { anon: 600 * MB, xattrs: marks["/apps/big"] },
      "/apps/mid": { anon: 300 * MB, xattrs: marks["/apps/mid"] },
      "/apps/small": { anon: 100 * MB, xattrs: marks["/apps/small"] },
    },
    tasks: [
      { pid: 1, comm: "init", cgroup: "/" },
      { pid: 10, comm: "java", cgroup: "/apps/big", uid: 0, rssAnonKb: 600 * KB_PER_MB, cmdline: ["java", "-jar", "billing.jar", "--important"], exe: "/usr/lib/jvm/java-17/bin/java" },
      { pid: 20, comm: "chrome", cgroup: "/apps/mid", uid: 1000, rssAnonKb: 300 * KB_PER_MB, cmdline: ["chrome", "--type=renderer"], exe: "/opt/google/chrome/chrome" },
      { pid: 30, comm: "vim", cgroup: "/apps/small", uid: 1000, rssAnonKb: 100 * KB_PER_MB, exe: "/usr/bin/vim" },
    ],
  };
}

async function choose(policy: Parameters<typeof engineWith>[0], spec: FixtureSpec, options: unknown = {}, scope = "/apps", history?: History) {
  return engineWith(policy, scope, options, history ? { history } : {}).explain(snapshotOf(machine(spec)), scope, cause);
}

/** The pids whose /proc files a decision read, and its record. */
async function reads(policy: Parameters<typeof engineWith>[0], spec: FixtureSpec, options: unknown, scope: string, history?: History) {
  const { snapshot, pidsRead } = snapshotNotingReads(machine(spec));
  const record = await engineWith(policy, scope, options, history ? { history } : {}).explain(snapshot, scope, cause);
  return { record, pids: pidsRead() };
}

describe("rules", () => {
  test("with {} and no marks it is the kernel's choice", async () => {
    const r = await choose(rules, apps());
    assert.equal(r.policy, "rules");
    assert.deepEqual(pids(r.plan), [10]);
    const k = await choose(undefined, apps());
    assert.deepEqual(pids(k.plan), pids(r.plan));
  });

  test("with {} it honours oomd's trusted.oomd_prefer: the marked task goes first", async () => {
    const r = await choose(rules, apps({ "/apps/small": { "trusted.oomd_prefer": "1" } }));
    assert.deepEqual(pids(r.plan), [30]);
    assert.match(r.plan[0]?.reason ?? "", /trusted\.oomd_prefer/);
  });

  test("with {} it honours avoid marks (systemd-oomd's user.oomd_avoid, oomd's trusted.oomd_avoid): avoided go last", async () => {
    const r = await choose(rules, apps({ "/apps/big": { "user.oomd_avoid": "1" }, "/apps/mid": { "trusted.oomd_avoid": "yes" } }));
    assert.deepEqual(pids(r.plan), [30]);
    const all = await choose(rules, apps({ "/apps/big": { "user.oomd_avoid": "1" }, "/apps/mid": { "user.oomd_avoid": "1" }, "/apps/small": { "user.oomd_avoid": "1" } }));
    assert.deepEqual(pids(all.plan), [10], "when everything is avoided, badness decides among them");
  });

  test("a mark on a parent covers the cgroups below it; 0 or a stray value is no mark", async () => {
    const r = await choose(rules, { ...apps(), cgroups: { ...apps().cgroups, "/apps": { xattrs: { "trusted.oomd_avoid": "1" } }, "/apps/small": { anon: 100 * MB, xattrs: { "trusted.oomd_prefer": "1" } } } });
    assert.deepEqual(pids(r.plan), [30], "the nearest mark wins");
    const z = await choose(rules, apps({ "/apps/big": { "user.oomd_avoid": "0" }, "/apps/mid": { "user.oomd_avoid": "maybe" } }));
    assert.deepEqual(pids(z.plan), [10]);
    assert.equal(markValue("on"), true);
    assert.equal(markValue(""), false);
  });

  test("omit marks: user.oomd_omit (the verifier's) and trusted.oomd_omit (rules') are never candidates, with the reason recorded", async () => {
    const r = await choose(rules, apps({ "/apps/big": { "user.oomd_omit": "1" }, "/apps/mid": { "trusted.oomd_omit": "1" } }));
    assert.deepEqual(pids(r.plan), [30]);
    const skipped = Object.fromEntries(r.candidates.filter((c) => c.policy === "rules" && c.skipped).map((c) => [c.pid, c.skipped]));
    assert.match(skipped[10] ?? "", /omit: .*\/apps\/big has user\.oomd_omit=1/);
    assert.match(skipped[20] ?? "", /omit: \/apps\/mid has trusted\.oomd_omit=1/);
  });

  test("xattrs: false ignores the marks", async () => {
    const r = await choose(rules, apps({ "/apps/small": { "trusted.oomd_prefer": "1" } }), { xattrs: false });
    assert.deepEqual(pids(r.plan), [10]);
  });

  test("name rules: command, cmdline, cgroup and user", async () => {
    assert.deepEqual(pids((await choose(rules, apps(), { prefer: { command: ["^chrome$"] } })).plan), [20]);
    assert.deepEqual(pids((await choose(rules, apps(), { avoid: { cmdline: ["--important"] } })).plan), [20]);
    assert.deepEqual(pids((await choose(rules, apps(), { prefer: { cgroup: ["/small$"] } })).plan), [30]);
    assert.deepEqual(pids((await choose(rules, apps(), { omit: { user: ["^0$"] }, avoid: { cgroup: ["/mid$"] } })).plan), [30]);
    const both = await choose(rules, apps(), { prefer: { command: ["vim"] }, avoid: { cgroup: ["small"] } });
    assert.deepEqual(pids(both.plan), [10], "prefer and avoid on one task cancel");
    const omitted = await choose(rules, apps(), { omit: { command: ["^java$"] } });
    assert.match(omitted.candidates.find((c) => c.pid === 10)?.skipped ?? "", /omit: command ~ \/\^java\$\//);
  });

  test("exe: matched against the executable's path, for prefer, avoid and omit alike when the task is root's", async () => {
    assert.deepEqual(pids((await choose(rules, apps(), { prefer: { exe: ["^/usr/bin/vim$"] } })).plan), [30]);
    assert.deepEqual(pids((await choose(rules, apps(), { avoid: { exe: ["/java$"] } })).plan), [20]);
    const omitted = await choose(rules, apps(), { omit: { exe: ["^/usr/lib/jvm/"] } });
    assert.equal(omitted.candidates.find((c) => c.pid === 10)?.skipped, "omit: exe ~ /^\\/usr\\/lib\\/jvm\\//");
    assert.deepEqual(pids(omitted.plan), [20]);
  });

  test("from a user's side: omit and avoid by command, cmdline or exe do not count for a task of an untrusted uid; prefer does", async () => {
    // chrome and vim are uid 1000's: whatever they are called, run or given as arguments.
    for (const by of [{ command: ["^chrome$"] }, { cmdline: ["^chrome"] }, { exe: ["^/opt/google/chrome/chrome$"] }]) {
      const omit = await choose(rules, apps(), { omit: { user: ["^0$"], ...by } });
      assert.deepEqual(pids(omit.plan), [20], `omit ${JSON.stringify(by)}: chrome is still a candidate`);
      assert.match(omit.plan[0]?.reason ?? "", /omit: \w+ ~ .* not counted: uid 1000 is not trusted/);
      const avoid = await choose(rules, apps(), { omit: { user: ["^0$"] }, avoid: by });
      assert.deepEqual(pids(avoid.plan), [20], `avoid ${JSON.stringify(by)}: chrome is not put last`);
    }
    // The same names on root's task count: java is omitted, or avoided so that chrome goes first.
    assert.deepEqual(pids((await choose(rules, apps(), { omit: { command: ["^java$"] } })).plan), [20]);
    assert.deepEqual(pids((await choose(rules, apps(), { avoid: { cmdline: ["billing"] } })).plan), [20]);
    // Preferring your own task harms no one else: it counts for uid 1000.
    assert.deepEqual(pids((await choose(rules, apps(), { prefer: { command: ["^vim$"] } })).plan), [30]);
  });

  test("from a user's side: trusted uids (oc.trustedUids, from [protect] trusted_uids) let a service's names count", async () => {
    const trusted = (uids: number[]) => ({ protections: { ...NO_PROTECTIONS, trustedUids: uids } });
    const run = (uids: number[]) => engineWith(rules, "/apps", { omit: { user: ["^0$"] }, avoid: { command: ["^chrome$"] } }, trusted(uids)).explain(snapshotOf(machine(apps())), "/apps", cause);
    assert.deepEqual(pids((await run([0])).plan), [20]);
    assert.deepEqual(pids((await run([0, 1000])).plan), [30], "with uid 1000 trusted, chrome is avoided");
  });

  test("options are validated with their place named", () => {
    assert.throws(() => rules.parseOptions?.({ prefer: { command: ["("] } }), /policy rules: options\.prefer\.command\.0: not a valid regular expression/);
    assert.throws(() => rules.parseOptions?.({ avoid: { name: ["x"] } }), /options\.avoid: Unrecognized key/);
    assert.throws(() => rules.parseOptions?.({ prefer: { command: [""] } }), /empty pattern/);
  });

  test("system-level mode: name rules still apply, by v1 cgroup path too", async () => {
    const r = await engineWith(rules, "/", { prefer: { cgroup: ["editor"] } }).explain(snapshotOf(machine(HYBRID)), "/", cause);
    assert.deepEqual(pids(r.plan), [21]);
  });
});

/** A sample for History.add: only the figures a test cares about. */
const sample = (monoMs: number, fig: Partial<Sample>): Sample => ({
  monoMs,
  currentBytes: undefined,
  pgscan: undefined,
  someTotalUsec: undefined,
  fullTotalUsec: undefined,
  swapCurrentBytes: undefined,
  ...fig,
});

/** pgscan went from 0 to `perSec * 10` over 10 s. */
function withPgscan(rates: Readonly<Record<string, number>>): History {
  const h = new History();
  for (const [p, perSec] of Object.entries(rates)) {
    h.add(cgroupPath(p), sample(0, { pgscan: 0 }));
    h.add(cgroupPath(p), sample(10_000, { pgscan: perSec * 10 }));
  }
  return h;
}

const WORK: FixtureSpec = {
  cgroups: {
    "/work": {},
    "/work/big": { anon: 1000 * MB, pgscan: 100 },
    "/work/small": { anon: 100 * MB, pgscan: 900 },
    "/work/avoided": { anon: 50 * MB, pgscan: 500, xattrs: { "user.oomd_avoid": "1" } },
    "/work/omitted": { anon: 10 * MB, pgscan: 800, xattrs: { "user.oomd_omit": "1" } },
    "/work/idle": {},
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "big", cgroup: "/work/big", rssAnonKb: 1000 * KB_PER_MB },
    { pid: 20, comm: "small", cgroup: "/work/small", rssAnonKb: 100 * KB_PER_MB },
    { pid: 30, comm: "avoided", cgroup: "/work/avoided", rssAnonKb: 50 * KB_PER_MB },
    { pid: 40, comm: "omitted", cgroup: "/work/omitted", rssAnonKb: 10 * KB_PER_MB },
    { pid: 50, comm: "idle", cgroup: "/work/idle" },
  ],
};

describe("pressure", () => {
  test("the highest pgscan rate goes first, whatever the size; avoid-marked last; omit-marked never", async () => {
    const h = withPgscan({ "/work/big": 10, "/work/small": 1000, "/work/avoided": 5000, "/work/omitted": 9000 });
    const r = await choose(pressure, WORK, {}, "/work", h);
    assert.equal(r.policy, "pressure");
    assert.deepEqual(pids(r.plan), ["/work/small"]);
    const own = r.candidates.filter((c) => c.policy === "pressure");
    assert.match(own.find((c) => c.cgroup === "/work/omitted")?.skipped ?? "", /omit: \/work\/omitted has user\.oomd_omit=1/);
    assert.match(own.find((c) => c.cgroup === "/work/idle")?.skipped ?? "", /no reclaim and no usage/);
    assert.match(own.find((c) => c.cgroup === "/work/avoided")?.note ?? "", /^avoid; pgscan 5000\/s/);
    // The record lists them in the policy's order (avoid last despite the highest rate), not by score.
    assert.deepEqual(
      own.filter((c) => c.skipped === undefined).map((c) => [c.cgroup, c.rank]),
      [["/work/small", 1], ["/work/big", 2], ["/work/avoided", 3]],
    );
  });

  test("units are examined from the first in its order down to the victim: the tasks of those ranked after it are not read", async () => {
    const h = withPgscan({ "/work/big": 10, "/work/small": 1000, "/work/avoided": 5000, "/work/omitted": 9000 });
    const { record, pids: read } = await reads(pressure, WORK, {}, "/work", h);
    assert.deepEqual(pids(record.plan), ["/work/small"]);
    // omitted (9000/s) ranks first and is refused; small is the victim; big and avoided rank after it.
    assert.ok(read.has(20) && !read.has(10) && !read.has(30), `read: ${[...read].join(", ")}`);
    assert.match(record.candidates.find((c) => c.cgroup === "/work/big")?.note ?? "", /ranks after the choice \(its tasks not examined\)/);
  });

  test("equal rates fall back to usage", async () => {
    const equal = await choose(pressure, WORK, {}, "/work", withPgscan({ "/work/big": 300, "/work/small": 300 }));
    assert.deepEqual(pids(equal.plan), ["/work/big"]);
    const none = await choose(pressure, { ...WORK, cgroups: { ...WORK.cgroups, "/work/small": { anon: 100 * MB, pgscan: 100 } } }, {}, "/work");
    assert.deepEqual(pids(none.plan), ["/work/big"], "the same counters, none measured yet");
  });

  test("a cgroup not measured yet counts its pgscan counter over the history's window (systemd-oomd's first sight): a hog started moments ago goes before a quiet sibling's measured trickle", async () => {
    // TEST-55-OOMD in the systemd guest: the hog's first sample against the sibling's 1 pgscan/s.
    const spec: FixtureSpec = {
      cgroups: { "/slice": {}, "/slice/chill": { anon: 1 * MB, pgscan: 10 }, "/slice/bloat": { anon: 48 * MB, pgscan: 40_000 } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 10, comm: "sleep", cgroup: "/slice/chill", rssAnonKb: 200 },
        { pid: 20, comm: "hog", cgroup: "/slice/bloat", rssAnonKb: 48 * KB_PER_MB },
      ],
    };
    const r = await choose(pressure, spec, {}, "/slice", withPgscan({ "/slice/chill": 1 }));
    assert.deepEqual(pids(r.plan), ["/slice/bloat"]);
    const bloat = r.candidates.find((c) => c.policy === "pressure" && c.cgroup === "/slice/bloat");
    assert.match(bloat?.note ?? "", /^pgscan 40000 since first seen \(4000\/s over 10 s; not yet measured\), 48\.0 MiB in use$/);
    assert.match(r.plan[0]?.reason ?? "", /4000 pgscan\/s, its counter since first seen/);
  });

  test("only avoid-marked cgroups left: one of them is killed", async () => {
    const spec: FixtureSpec = { ...WORK, tasks: (WORK.tasks ?? []).map((t) => (t.pid === 10 || t.pid === 20 ? { ...t, oomScoreAdj: -1000 } : t)) };
    const r = await choose(pressure, spec, {}, "/work", withPgscan({ "/work/avoided": 1 }));
    assert.deepEqual(pids(r.plan), ["/work/avoided"]);
    assert.match(r.plan[0]?.reason ?? "", /only avoid-marked/);
  });

  test("a memory.oom.group cgroup is one candidate, its children are not", async () => {
    const spec: FixtureSpec = {
      cgroups: { "/svc": { anon: 300 * MB, pgscan: 10, oomGroup: true }, "/svc/w1": { anon: 200 * MB }, "/svc/w2": { anon: 100 * MB }, "/other": { anon: 250 * MB } },
      tasks: [
        { pid: 1, comm: "init", cgroup: "/" },
        { pid: 11, comm: "w1", cgroup: "/svc/w1", rssAnonKb: 200 * KB_PER_MB },
        { pid: 12, comm: "w2", cgroup: "/svc/w2", rssAnonKb: 100 * KB_PER_MB },
        { pid: 20, comm: "other", cgroup: "/other", rssAnonKb: 250 * KB_PER_MB },
      ],
    };
    const r = await choose(pressure, spec, {}, "/", withPgscan({ "/svc": 100, "/svc/w1": 10_000, "/other": 50 }));
    assert.deepEqual(pids(r.plan), ["/svc"]);
    assert.equal(r.candidates.some((c) => c.cgroup === "/svc/w1"), false);
  });
});

describe("growth", () => {
  test("phases as oomd computes them (size threshold, growth among the largest, the rest)", () => {
    const f = (mb: number, ratio?: number) => ({ currentBytes: mb * MB, effectiveBytes: mb * MB, ratio });
    const opts = { sizeThresholdPercent: 50, growingSizePercentile: 50, minGrowthRatio: 1.25 };
    assert.deepEqual(phases([f(600), f(200, 3), f(200)], opts), ["size", "growth", "rest"]);
    // Five candidates, P50: the growth cut is the 3rd largest (index ceil(5 × 0.5) - 1 = 2).
    assert.deepEqual(phases([f(300), f(250, 2), f(200, 1.3), f(150, 5), f(100)], opts), ["rest", "growth", "growth", "rest", "rest"]);
    assert.deepEqual(phases([f(300), f(250, 2), f(200, 1.3), f(150, 5), f(100)], { ...opts, growingSizePercentile: 80 }), ["rest", "rest", "rest", "rest", "rest"]);
  });

  /** Five jobs; `history` gives each one's memory.current 10 s ago. */
  function jobs(prefer?: string): FixtureSpec {
    const sizes: Record<string, number> = { a: 300, b: 250, c: 200, d: 150, e: 100 };
    return {
      cgroups: Object.fromEntries([
        ["/jobs", {}],
        ...Object.entries(sizes).map(([n, mb]) => [`/jobs/${n}`, { current: mb * MB, anon: mb * MB, xattrs: prefer === n ? { "trusted.oomd_prefer": "1" } : undefined }]),
      ]),
      tasks: [{ pid: 1, comm: "init", cgroup: "/" }, ...Object.entries(sizes).map(([n, mb], i) => ({ pid: 10 + i, comm: n, cgroup: `/jobs/${n}`, rssAnonKb: mb * KB_PER_MB }))],
    };
  }
  function grewFrom(earlierMb: Readonly<Record<string, number>>, nowMb: Readonly<Record<string, number>>): History {
    const h = new History();
    for (const [n, mb] of Object.entries(earlierMb)) {
      h.add(cgroupPath(`/jobs/${n}`), sample(0, { currentBytes: mb * MB }));
      h.add(cgroupPath(`/jobs/${n}`), sample(10_000, { currentBytes: (nowMb[n] ?? 0) * MB }));
    }
    return h;
  }
  const NOW = { a: 300, b: 250, c: 200, d: 150, e: 100 };

  test("with no cgroup above the size share, the fastest grower among the largest goes first", async () => {
    const h = grewFrom({ a: 300, b: 125, c: 190, d: 30, e: 100 }, NOW);
    const r = await choose(growth, jobs(), { growingSizePercentile: 50 }, "/jobs", h);
    assert.deepEqual(pids(r.plan), ["/jobs/b"], "b doubled; d grew ×5 but is not among the largest");
    assert.match(r.plan[0]?.reason ?? "", /grew ×2\.00/);
  });

  test("defaults (P80): only the largest may be killed for growth; a steady largest falls to the size order", async () => {
    const h = grewFrom({ a: 300, b: 125, c: 190, d: 30, e: 100 }, NOW);
    const r = await choose(growth, jobs(), {}, "/jobs", h);
    assert.deepEqual(pids(r.plan), ["/jobs/a"]);
  });

  test("a cgroup at or above sizeThresholdPercent of the total goes first, growth or not", async () => {
    const h = grewFrom({ a: 300, b: 125 }, NOW);
    const r = await choose(growth, jobs(), { sizeThresholdPercent: 25, growingSizePercentile: 50 }, "/jobs", h);
    assert.deepEqual(pids(r.plan), ["/jobs/a"], "a is 300 of 1000 MB, above 25 %");
  });

  test("a prefer mark outranks every phase, as in oomd", async () => {
    const r = await choose(growth, jobs("e"), {}, "/jobs");
    assert.deepEqual(pids(r.plan), ["/jobs/e"]);
  });

  test("options are validated", () => {
    assert.throws(() => growth.parseOptions?.({ minGrowthRatio: 0.5 }), /options\.minGrowthRatio/);
    assert.throws(() => growth.parseOptions?.({ sizeThresholdPercent: 150 }), /options\.sizeThresholdPercent/);
  });
});

describe("swap", () => {
  const SWAPPY: FixtureSpec = {
    swapTotalKb: 1_000_000,
    swapFreeKb: 400_000,
    cgroups: {
      "/s": {},
      "/s/a": { anon: 500 * MB, swapCurrent: 100 * MB },
      "/s/b": { anon: 100 * MB, swapCurrent: 300 * MB, xattrs: { "user.oomd_avoid": "1" } },
      "/s/c": { anon: 100 * MB, swapCurrent: 200 * MB },
      "/s/d": { anon: 900 * MB },
    },
    tasks: [
      { pid: 1, comm: "init", cgroup: "/" },
      { pid: 10, comm: "a", cgroup: "/s/a", rssAnonKb: 500 * KB_PER_MB, swapKb: 100 * KB_PER_MB },
      { pid: 20, comm: "b", cgroup: "/s/b", rssAnonKb: 100 * KB_PER_MB, swapKb: 300 * KB_PER_MB },
      { pid: 30, comm: "c", cgroup: "/s/c", rssAnonKb: 100 * KB_PER_MB, swapKb: 200 * KB_PER_MB },
      { pid: 40, comm: "d", cgroup: "/s/d", rssAnonKb: 900 * KB_PER_MB },
    ],
  };

  test("the cgroup with the most memory.swap.current goes, avoid-marked last", async () => {
    const r = await choose(swap, SWAPPY, {}, "/s");
    assert.deepEqual(pids(r.plan), ["/s/c"]);
    const min = await choose(swap, SWAPPY, { minBytes: 250 * MB }, "/s");
    assert.deepEqual(pids(min.plan), ["/s/b"], "only b uses more than 250 MB; avoided, but the only one");
  });

  test("only the units down to the victim are examined: the tasks of those ranked after it are not read", async () => {
    const { record, pids: read } = await reads(swap, SWAPPY, {}, "/s");
    assert.deepEqual(pids(record.plan), ["/s/c"]);
    assert.ok(read.has(30) && !read.has(10) && !read.has(20), `read: ${[...read].join(", ")}`);
  });

  test("nothing in swap: it passes and the next policy decides", async () => {
    const dry: FixtureSpec = { ...SWAPPY, cgroups: { "/s": {}, "/s/d": { anon: 900 * MB } }, tasks: (SWAPPY.tasks ?? []).filter((t) => t.pid === 1 || t.pid === 40) };
    const r = await choose(swap, dry, {}, "/s");
    assert.deepEqual(chainOf(r), ["swap:passed", "kernel:handled"]);
  });

  test("system-level mode: the task with the most VmSwap", async () => {
    const r = await engineWith(swap, "/").explain(snapshotOf(machine(HYBRID)), "/", cause);
    assert.deepEqual(pids(r.plan), [20]);
  });

  test("no swap accounting (no memory.swap.current): the tasks' VmSwap is summed", async () => {
    const spec: FixtureSpec = { ...SWAPPY, cgroups: Object.fromEntries(Object.entries(SWAPPY.cgroups ?? {}).map(([p, c]) => [p, { ...c, omit: ["memory.swap.current"] }])) };
    const r = await choose(swap, spec, {}, "/s");
    assert.deepEqual(pids(r.plan), ["/s/c"]);
  });
});
