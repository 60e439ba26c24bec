/**
 * The structure drawn from imports (docs: shared DESIGN "The layers"): imports run one way,
 * os → engine → policy, report → config → daemon → cli, with errors.ts, log.ts, on-first-use.ts and iso-time.ts beneath
 * everything and index.ts (the public surface) above it. config sits above policy because it
 * compiles attachments into the built-in policies. No import runs from a lower layer to a higher
 * one or sideways between two folders of one layer, and no files import each other in a circle.
 * Type-only imports count too: a type is a contract, and a contract has one owner.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const SRC = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../../../src");

const RANK: Readonly<Record<string, number>> = {
  "errors.ts": 0,
  "log.ts": 0,
  "on-first-use.ts": 0,
  "iso-time.ts": 0,
  os: 1,
  engine: 2,
  policy: 3,
  report: 3,
  config: 4,
  // Timelines: read and written beside the os layer, played into an engine; used by testing, sim and cli.
  timeline: 4.5,
  daemon: 5,
  // The simulator drives the daemon (a later round) and is driven by the CLI.
  sim: 5.5,
  // Runs the daemon on the simulated machine (oomkit simulate, replay): above both, below the CLI.
  simulate: 5.7,
  testing: 5,
  cli: 6,
  "index.ts": 7,
};

/** The layer of a file under src/: its top folder, or its own name at the top. */
function layerOf(rel: string): string {
  const top = rel.split("/")[0] as string;
  if (!(top in RANK)) throw new Error(`src/${rel} is in no layer: add ${top} to RANK in this test and to the design`);
  return top;
}

function sources(dir = SRC): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith(".ts")) out.push(path.relative(SRC, p).split(path.sep).join("/"));
  }
  return out.sort();
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g;

/** Each file's imports of other files under src/ (relative specifiers, .js → .ts). */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const rel of sources()) {
    const text = fs.readFileSync(path.join(SRC, rel), "utf8");
    const deps = new Set<string>();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (!spec?.startsWith(".")) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)).replace(/\.js$/, ".ts");
      deps.add(target);
    }
    g.set(rel, [...deps]);
  }
  return g;
}

test("every import points down the layers (or within one folder)", () => {
  const wrong: string[] = [];
  for (const [from, deps] of graph()) {
    const a = layerOf(from);
    for (const to of deps) {
      const b = layerOf(to);
      if (a === b) continue;
      if ((RANK[b] as number) >= (RANK[a] as number)) wrong.push(`src/${from} → src/${to} (${a} may not import ${b})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("no files import each other in a circle", () => {
  const g = graph();
  const cycles: string[] = [];
  // Tarjan's strongly connected components: any component of more than one file is a circle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
        on.delete(w);
        comp.push(w);
      }
      if (comp.length > 1) cycles.push(comp.sort().join(" ⇄ "));
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  assert.deepEqual(cycles, []);
});

test("the walk sees the whole tree: every relative import names a file that exists", () => {
  const g = graph();
  const missing = [...g].flatMap(([from, deps]) => deps.filter((d) => !g.has(d)).map((d) => `src/${from} → src/${d}`));
  assert.deepEqual(missing, []);
  assert.ok(g.size > 50, `only ${g.size} files found under src/`);
});
