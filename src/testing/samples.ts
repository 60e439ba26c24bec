/**
 * Timelines shipped with oomkit, for policy authors with no machine to record on (they are in the
 * package's samples/timelines/ folder; docs/timelines.md says how each was made).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { OomkitError } from "../errors.js";

/** The shipped timelines by name, with what each shows. */
export const SAMPLE_TIMELINES: Readonly<Record<string, string>> = {
  leak:
    "recorded on a real kernel (6.12, no swap): under one memory.max of 160 MiB, jobs/leak grows by about 12 MiB/s beside jobs/steady " +
    "(16 MiB and page cache, which it pushes out) until the kernel's OOM killer kills it; a frame about every second for 16 s",
};

/** The folder of a shipped timeline ("leak" when no name is given), for Bench.play and `oomkit check --root`. */
export function sampleTimeline(name = "leak"): string {
  if (!Object.hasOwn(SAMPLE_TIMELINES, name)) {
    throw new OomkitError("E_USAGE", `no sample timeline ${JSON.stringify(name)} (${Object.keys(SAMPLE_TIMELINES).join(", ")})`);
  }
  // dist/src/testing/samples.js → the package's root, three folders up.
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../samples/timelines", name);
  if (!fs.existsSync(dir)) throw new OomkitError("E_NO_SUCH_PATH", `the sample timeline ${name} is missing from this install (${dir})`);
  return dir;
}
