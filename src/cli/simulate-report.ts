/**
 * `oomkit simulate --report FILE.html`: the run (or comparison) as one self-contained page,
 * rendered by the report module (src/report/html/), one lane per configuration.
 */
import * as fs from "node:fs";
import { OomkitError } from "../errors.js";
import { reportInputOf } from "../report/html/from-sim.js";
import { renderReport } from "../report/html/render.js";
import type { SimComparison } from "../simulate/result.js";

export function writeReport(file: string, result: SimComparison): void {
  const html = renderReport(reportInputOf(result.runs));
  try {
    fs.writeFileSync(file, html);
  } catch (err) {
    throw new OomkitError("E_NO_SUCH_PATH", `--report ${file} cannot be written: ${(err as Error).message}`, { cause: err });
  }
}
