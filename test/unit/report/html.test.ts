/**
 * The report page as text (the browser test, test/browser/report.test.ts, runs it): hostile
 * names cannot leave the data block, the page carries its charting library and allows only its
 * own scripts, a producer's inconsistent input is an E_USAGE, and the simulator's result becomes
 * the page's input as documented (src/report/html/from-sim.ts).
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { ReportInput } from "../../../src/report/html/input.js";
import { renderReport, scriptJson } from "../../../src/report/html/render.js";
import { type SimRunView, laneOf } from "../../../src/report/html/from-sim.js";
import { HOSTILE_CGROUP, HOSTILE_COMM, compareInput, compareRuns } from "../../support/report-run.js";

let input: ReportInput;
let html: string;

before(async () => {
  input = await compareInput();
  html = renderReport(input);
});

/** The page's <script> elements' bodies, in order. */
function scripts(page: string): { attrs: string; body: string }[] {
  return [...page.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].map((m) => ({ attrs: m[1] ?? "", body: m[2] ?? "" }));
}

describe("renderReport", () => {
  test("hostile names stay inside the data block, and it parses back to the input", () => {
    const s = scripts(html);
    assert.equal(s.length, 3, "the data, uPlot and the page's script: nothing closed a block early");
    const data = s.find((x) => x.attrs.includes("report-data"));
    assert.ok(data && !/[<>]/.test(data.body));
    assert.deepEqual(JSON.parse(data.body), JSON.parse(JSON.stringify({ lanes: input.lanes })));
    assert.ok(!html.includes(HOSTILE_COMM) && !html.includes(HOSTILE_CGROUP.slice(7)));
    assert.equal(scriptJson({ a: "</script>\u2028&" }), '{"a":"\\u003c/script\\u003e\\u2028\\u0026"}');
  });

  test("the title is escaped and the page needs no network: CSP allows only its own scripts by hash", () => {
    const page = renderReport({ ...input, title: `<img src=x onerror="alert(1)">`, subtitle: "a & b" });
    assert.ok(page.includes("<h1>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</h1>") && page.includes("a &amp; b"));
    const csp = /Content-Security-Policy" content="([^"]+)"/.exec(page)?.[1] ?? "";
    assert.match(csp, /default-src 'none'/);
    const code = scripts(page).filter((x) => !x.attrs.includes("application/json"));
    assert.equal(code.length, 2);
    for (const c of code) assert.ok(csp.includes(`'sha256-${createHash("sha256").update(c.body).digest("base64")}'`), "each script allowed by its hash");
    const markup = page.replace(/<script[^>]*>[\s\S]*?<\/script>/g, "");
    assert.ok(!/<[a-z][^>]*\b(src|href)=/i.test(markup), "no element loads anything");
  });

  test("uPlot is inlined from its package, and the page is small", () => {
    assert.ok(html.includes("uPlot"), "the library's code");
    assert.ok(html.includes(".u-legend"), "its stylesheet");
    // Two lanes of 30 s at 250 ms with their records: about 80 KB, of which uPlot 53 KB.
    assert.ok(html.length < 150_000, `${html.length} bytes`);
  });

  test("inconsistent input is an E_USAGE naming lane and field", () => {
    const lane = input.lanes[0]!;
    const cases: [ReportInput, RegExp][] = [
      [{ title: "t", lanes: [] }, /lanes must hold at least one lane/],
      [{ title: "t", lanes: [{ ...lane, swapUsedBytes: lane.swapUsedBytes.slice(1) }] }, /lane 0 .*swapUsedBytes has \d+ samples where the lane has \d+ times/],
      [{ title: "t", lanes: [{ ...lane, timesMs: [...lane.timesMs].reverse() }] }, /timesMs\[1\] does not increase/],
      [{ title: "t", lanes: [{ ...lane, cgroups: [{ cgroup: "/x", currentBytes: lane.timesMs.map(() => Number.NaN) }] }] }, /cgroups\[0\] \("\/x"\)\[0\] is NaN/],
      [{ title: "t", lanes: [{ ...lane, thresholds: [{ chart: "cpu" as "psi", value: 1, label: "x" }] }] }, /thresholds\[0\]\.chart/],
    ];
    for (const [bad, message] of cases) assert.throws(() => renderReport(bad), (e: Error & { code?: string }) => e.code === "E_USAGE" && message.test(e.message));
  });
});

describe("reportInputOf: oomkit simulate's result as the page's input", () => {
  let runs: SimRunView[];
  before(async () => {
    runs = await compareRuns();
  });

  test("leaves are stacked, and the rest of the machine's use tops them up to the machine's", () => {
    const run = runs[1]!;
    const lane = laneOf(run);
    assert.deepEqual(lane.cgroups.map((c) => c.cgroup).slice(0, -1), [HOSTILE_CGROUP, "/system/db", "/web"], "parents are not stacked over their children");
    const root = run.series[0]!;
    root.memoryBytes.forEach((used, i) => {
      const stacked = lane.cgroups.reduce((sum, c) => sum + (c.currentBytes[i] ?? 0), 0);
      assert.ok(Math.abs(stacked - used) < 1 || stacked > used, `sample ${i}`);
    });
    assert.deepEqual(lane.memUnavailableBytes, run.memAvailableBytes.map((a) => run.scenario.memTotalBytes - a));
    assert.deepEqual(lane.swapUsedBytes, root.swapBytes);
  });

  test("PSI percent per interval survives the trip through cumulative counters", () => {
    const run = runs[0]!;
    const lane = laneOf(run);
    const pct = run.series[0]!.psiSomePct;
    assert.ok(pct.some((p) => p > 1), "the kernel-only run stalls");
    for (let i = 1; i < pct.length; i++) {
      const back = (((lane.psiSomeTotalUsec[i] ?? 0) - (lane.psiSomeTotalUsec[i - 1] ?? 0)) / (((lane.timesMs[i] ?? 0) - (lane.timesMs[i - 1] ?? 0)) * 1000)) * 100;
      assert.ok(Math.abs(back - (pct[i] ?? 0)) < 1e-9, `sample ${i}`);
    }
  });

  test("thresholds become lines in the chart's unit and notes; each kill a marker with its record", () => {
    const run = runs[1]!;
    const lane = laneOf(run);
    const below = run.thresholds[0]?.memAvailableBelowBytes ?? 0;
    assert.deepEqual(lane.thresholds.map((t) => [t.chart, t.value]), [["memory", run.scenario.memTotalBytes - below]]);
    assert.ok(lane.notes?.some((n) => n.includes("MemAvailable <")));
    const all = runs.flatMap((r) => laneOf(r).markers);
    assert.equal(all.length, runs.reduce((n, r) => n + r.kills.length, 0));
    const k = all.find((m) => m.by === "kernel");
    assert.equal(k?.label, `kill ${HOSTILE_COMM} (pid ${k?.episode?.kernelKill?.pid}) in ${HOSTILE_CGROUP}`);
    assert.equal(k?.episode?.kind, "kernel");
    const o = all.find((m) => m.by === "oomkit");
    assert.equal(o?.episode?.kind, "system");
    assert.equal(o?.episode?.actions[0]?.action.kind, "kill-task");
  });

  test("a kill whose record is missing still gets its marker", () => {
    const run = runs[0]!;
    const lane = laneOf({ ...run, episodes: [] });
    assert.equal(lane.markers.length, run.kills.length);
    assert.equal(lane.markers[0]?.episode, undefined);
  });
});
