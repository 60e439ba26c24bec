/**
 * `oomkit simulate --report FILE.html`: the page is rendered by the report module (another
 * branch); until it lands here the flag says so and writes nothing.
 */
import { OomkitError } from "../errors.js";
import type { SimComparison } from "../simulate/result.js";

export function writeReport(file: string, _result: SimComparison): void {
  throw new OomkitError("E_UNSUPPORTED", `--report ${file}: the HTML report is not built into this oomkit yet (use --json for the data it would show)`);
}
