/** Writing the benches' tables into BENCHMARKS.md, where each bench owns one "## " section. */
import * as fs from "node:fs";

/** Replaces one "## " section of a Markdown file (or appends it), leaving the others alone. */
export function replaceSection(file: string, heading: string, body: string): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "# Benchmarks\n\n";
  const start = text.indexOf(`${heading}\n`);
  const next = start < 0 ? -1 : text.indexOf("\n## ", start + heading.length);
  const out =
    start < 0 ? `${text.trimEnd()}\n\n${body}\n` : `${text.slice(0, start)}${body}${next < 0 ? "\n" : text.slice(next)}`;
  fs.writeFileSync(file, out);
}
