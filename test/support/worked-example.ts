/** The worked examples of docs/writing-a-policy.md, written out as policy files a test can load. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const DOC = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../../../docs/writing-a-policy.md");

/** Writes the example whose block starts `// /etc/oomkit/policies/<name>` into a fresh temporary folder; returns its path. */
export function docPolicyFile(name: string): string {
  const doc = fs.readFileSync(DOC, "utf8");
  const header = `// /etc/oomkit/policies/${name}`;
  const m = new RegExp("```ts\\n(" + header.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&") + "\\n[\\s\\S]*?)```").exec(doc);
  assert.ok(m, `the worked example ${name} is in docs/writing-a-policy.md`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-doc-"));
  fs.writeFileSync(path.join(dir, name), m[1] as string);
  return path.join(dir, name);
}

/** The handleOutOfMemory example (batch-first.ts). */
export function workedExampleFile(): string {
  return docPolicyFile("batch-first.ts");
}
