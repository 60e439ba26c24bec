/** The worked example of docs/writing-a-policy.md, written out as a policy file a test can load. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const DOC = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../../../docs/writing-a-policy.md");

/** Writes the example (batch-first.ts) into a fresh temporary folder; returns its path. */
export function workedExampleFile(): string {
  const doc = fs.readFileSync(DOC, "utf8");
  const m = /```ts\n(\/\/ \/etc\/oomkit\/policies\/batch-first\.ts\n[\s\S]*?)```/.exec(doc);
  assert.ok(m, "the worked example is in docs/writing-a-policy.md");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-doc-"));
  fs.writeFileSync(path.join(dir, "batch-first.ts"), m[1] as string);
  return path.join(dir, "batch-first.ts");
}
