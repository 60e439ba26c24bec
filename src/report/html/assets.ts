/**
 * The charting library the page carries inside itself: uPlot (a runtime dependency), read from
 * its installed package when a page is rendered, so the page needs no network and the library's
 * files stay the package's own (no copy in this repository to fall out of date).
 */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import { OomkitError } from "../../errors.js";

export interface ChartAssets {
  readonly script: string;
  readonly style: string;
}

let cached: ChartAssets | undefined;

/** uPlot's minified browser build and its stylesheet; read once per process. */
export function chartAssets(): ChartAssets {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    cached = {
      script: fs.readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"),
      style: fs.readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8"),
    };
  } catch (e) {
    throw new OomkitError("E_INTERNAL", `the report's charting library (the uplot package) cannot be read: ${(e as Error).message}; reinstall oomkit`, { cause: e });
  }
  return cached;
}
