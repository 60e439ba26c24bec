/**
 * The OS layer is the bottom one: its modules import each other, the shared base (errors, log)
 * and packages, never a layer above (engine, policy, report, config, daemon, cli). The kill
 * port it implements is declared in its own terms (src/os/kill-port.ts) for that reason.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const SRC = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../../../src");
const OS = path.join(SRC, "os");
/** Below every layer: shared by all of them. */
const BASE = new Set([path.join(SRC, "errors.ts"), path.join(SRC, "log.ts")]);

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

/** Relative specifiers of every import and export-from, static or dynamic (a comment that looks like one counts too: it errs towards flagging). */
function relativeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)) out.push(m[1] as string);
  return out;
}

test("relativeImports finds static, type-only, re-exported and dynamic imports", () => {
  const text = [`import { a } from "../engine/a.js";`, `import type { B } from './b.js';`, `export { c } from "../c.js";`, `const d = await import("../daemon/d.js");`, `import "./side.js";`, `// see x from "../comment.js"`].join("\n");
  assert.deepEqual(relativeImports(text), ["../engine/a.js", "./b.js", "../c.js", "../daemon/d.js", "./side.js", "../comment.js"]);
});

test("src/os imports nothing from the layers above it", () => {
  const upward: string[] = [];
  const files = sources(OS);
  assert.ok(files.some((f) => f.endsWith("backend.ts")), `the OS sources are at ${OS}`);
  for (const file of files) {
    for (const spec of relativeImports(fs.readFileSync(file, "utf8"))) {
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, ".ts");
      if (target.startsWith(`${OS}${path.sep}`) || BASE.has(target)) continue;
      upward.push(`${path.relative(SRC, file)} → ${spec}`);
    }
  }
  assert.deepEqual(upward, []);
});
