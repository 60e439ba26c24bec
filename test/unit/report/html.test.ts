/**
 * The report page as text (the browser test, test/browser/report.test.ts, runs it): hostile
 * names cannot leave the data block, the page carries its charting library and allows only its
 * own scripts, a producer's inconsistent input is an E_USAGE, and the sampler reads a simulated
 * machine's figures as its files show them.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { ReportInput } from "../../../src/report/html/input.js";
import { renderReport, scriptJson } from "../../../src/report/html/render.js";
import { LaneSampler, markerFor } from "../../../src/report/html/sampler.js";
import { SimMachine } from "../../../src/sim/machine.js";
import { SimHost } from "../../../src/sim/sim-host.js";
import { HOSTILE_CGROUP, HOSTILE_COMM, compareInput } from "../../support/report-run.js";

const MiB = 1024 * 1024;
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

describe("LaneSampler", () => {
  test("samples the model's figures through the Host; cgroups appear and vanish as zeros", () => {
    const m = new SimMachine({ memTotalBytes: 512 * MiB, swap: { kind: "disk", totalBytes: 64 * MiB } });
    m.addTask({ comm: "a", cgroup: "/a", curve: { kind: "steady", bytes: 50 * MiB } });
    const h = new SimHost(m);
    const s = new LaneSampler(h);
    s.sample();
    h.advance(500);
    s.sample();
    s.sample(); // same instant: ignored
    const b = m.addTask({ comm: "b", cgroup: "/b", curve: { kind: "steady", bytes: 20 * MiB } });
    h.advance(500);
    s.sample();
    m.signal(b.pid, "SIGKILL");
    h.advance(500);
    m.removeCgroup("/b");
    s.sample();
    const lane = s.lane({ name: "x" });
    assert.deepEqual(lane.timesMs, [0, 500, 1000, 1500]);
    assert.equal(lane.cgroups[1]?.currentBytes[3], 0, "a cgroup gone holds nothing");
    assert.deepEqual(lane.cgroups.map((c) => c.cgroup), ["/a", "/b"]);
    assert.equal(lane.cgroups[1]?.currentBytes[0], 0);
    assert.equal(lane.cgroups[0]?.currentBytes[3], (m.cgroup("/a")?.usage ?? 0) * 4096);
    assert.ok((lane.cgroups[1]?.currentBytes[2] ?? 0) >= 20 * MiB);
    assert.equal(lane.memTotalBytes, 512 * MiB);
    assert.equal(lane.swapTotalBytes, 64 * MiB);
  });

  test("markers: the kernel's kills by the victim, oomkit's by what its plan did", () => {
    const kills = input.lanes.flatMap((l) => l.markers);
    const k = kills.find((x) => x.by === "kernel");
    const o = kills.find((x) => x.by === "oomkit");
    assert.ok(k?.episode && o?.episode);
    assert.equal(markerFor(k.episode, 1).label, `kill ${HOSTILE_COMM} (pid ${k.episode.kernelKill?.pid})`);
    assert.match(markerFor(o.episode, 1).label, /^kill pid \d+ \(/);
  });
});
