/**
 * The report page in a real browser (Debian's chromium through playwright-core): it renders
 * without console errors or network requests, every chart draws, each kill has its marker and
 * the marker opens that kill's episode record, and hostile names stay text. The input comes from
 * real simulated runs (test/support/report-run.ts).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import type { ReportInput } from "../../src/report/html/input.js";
import { renderReport } from "../../src/report/html/render.js";
import { launchChromium } from "../support/browser.js";
import { HOSTILE_CGROUP, HOSTILE_COMM, compareInput } from "../support/report-run.js";

/**
 * In-page: a copy of a canvas to read pixels from. Reading the page's own canvases repeatedly
 * makes Chromium warn (willReadFrequently), and a warning fails the console check.
 */
const READ = `((c) => { const k = document.createElement("canvas"); k.width = c.width; k.height = c.height;
  const x = k.getContext("2d", { willReadFrequently: true }); x.drawImage(c, 0, 0); return x; })`;

let browser: Browser | undefined;
let skip: string | undefined;
let input: ReportInput;
let page: Page;
const problems: string[] = [];
const requests: string[] = [];

before(async () => {
  const r = await launchChromium();
  if ("skip" in r) {
    skip = r.skip;
    return;
  }
  browser = r.browser;
  input = await compareInput();
  const dir = fs.mkdtempSync(path.join(process.env.OOMKIT_TEST_SCRATCH ?? os.tmpdir(), "report-"));
  const file = path.join(dir, "report.html");
  fs.writeFileSync(file, renderReport(input));
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    problems.push(`a script opened a ${d.type()} dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on("request", (req) => requests.push(req.url()));
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector("body[data-ready='1']", { timeout: 15_000 });
});

after(async () => {
  await browser?.close();
});

describe("the report page in chromium", () => {
  test("renders without console errors and fetches nothing", (t) => {
    if (skip) return t.skip(skip);
    assert.deepEqual(problems, []);
    assert.equal(requests.length, 1, `only the page itself is loaded: ${requests.join(", ")}`);
  });

  test("every chart is drawn: each canvas has coloured pixels", async (t) => {
    if (skip) return t.skip(skip);
    // A string, evaluated in the page: the build has no DOM types.
    const counts = (await page.evaluate(`[...document.querySelectorAll("canvas")].map((c) => {
      const px = ${READ}(c).getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 40) coloured++;
      }
      return coloured;
    })`)) as number[];
    const expected = input.lanes.reduce((n, l) => n + (l.swapTotalBytes > 0 ? 3 : 2), 0);
    assert.equal(counts.length, expected, "memory, swap and PSI charts per lane");
    // The memory chart's stacked bands fill much of its plot; the others draw at least their lines.
    counts.forEach((n, i) => assert.ok(n > 200, `canvas ${i} has ${n} coloured pixels`));
  });

  test("each lane shows its cgroups, hostile names as text", async (t) => {
    if (skip) return t.skip(skip);
    const legend = await page.locator(".u-legend").allTextContents();
    assert.equal(legend.length, (await page.locator("canvas").count()));
    assert.ok(legend[0]?.includes(HOSTILE_CGROUP) && legend[0].includes("/system/db"), legend[0]);
    assert.equal(await page.locator("img").count(), 0, "no element was made from a name");
    assert.equal(await page.locator("main b").count(), 0);
  });

  test("each marker stands over its kill's line on the lane's memory chart", async (t) => {
    if (skip) return t.skip(skip);
    // For each marker button: the colour of the memory chart's canvas in the column under the
    // button's centre (the kill line is drawn there, at the same time on the axis).
    const found = (await page.evaluate(`[...document.querySelectorAll("section.lane")].flatMap((lane) => {
      const canvas = lane.querySelector("canvas");
      const box = canvas.getBoundingClientRect();
      const ctx = ${READ}(canvas);
      const scale = canvas.width / box.width;
      return [...lane.querySelectorAll("button.marker")].map((b) => {
        const r = b.getBoundingClientRect();
        const x = Math.round((r.left + r.width / 2 - box.left) * scale);
        const col = ctx.getImageData(Math.max(0, x - 2), 0, 5, canvas.height).data;
        const want = b.classList.contains("kernel") ? [106, 27, 154] : [214, 39, 40];
        let hits = 0;
        for (let i = 0; i < col.length; i += 4) if (Math.abs(col[i] - want[0]) < 8 && Math.abs(col[i + 1] - want[1]) < 8 && Math.abs(col[i + 2] - want[2]) < 8) hits++;
        return hits;
      });
    })`)) as number[];
    assert.equal(found.length, input.lanes.reduce((n, l) => n + l.markers.length, 0));
    found.forEach((hits, i) => assert.ok(hits > 20, `marker ${i}: its kill line under it (${hits} pixels)`));
  });

  test("each kill has its marker, and the marker opens its episode record", async (t) => {
    if (skip) return t.skip(skip);
    const markers = input.lanes.flatMap((l) => l.markers);
    assert.ok(markers.some((m) => m.by === "kernel") && markers.some((m) => m.by === "oomkit"), "the run has both kinds of kill");
    const buttons = page.locator("button.marker");
    assert.equal(await buttons.count(), markers.length);
    for (let i = 0; i < markers.length; i++) {
      const m = markers[i]!;
      const ep = m.episode!;
      const b = buttons.nth(i);
      assert.ok((await b.textContent())?.endsWith(m.label));
      assert.ok(await b.isVisible());
      await b.click();
      const body = page.locator("#record-body");
      await page.waitForSelector("dialog#record[open]");
      const text = (await body.textContent()) ?? "";
      assert.ok(text.includes(ep.id), `record ${ep.id} shown`);
      assert.ok(text.includes(ep.cause.message));
      assert.ok(text.includes(HOSTILE_COMM), "the victim's comm, as text");
      if (m.by === "oomkit") {
        assert.ok(ep.chain.length > 0 && ep.candidates.length > 0);
        for (const c of ep.chain) assert.ok(text.includes(c.policy) && text.includes(c.outcome));
        const rows = await body.locator("table").nth(1).locator("tr").count();
        assert.equal(rows, ep.candidates.length + 1, "one row per candidate");
        assert.ok(text.includes(ep.actions[0]!.action.reason), "the action's reason");
      } else {
        assert.ok(text.includes("Kernel OOM kill"));
      }
      await page.click("#record-close");
      await page.waitForSelector("dialog#record:not([open])", { state: "attached" });
    }
    assert.deepEqual(problems, []);
  });
});
