#!/usr/bin/env node
// Bundles the command line into one file: dist/src/cli/main.js, as tsc just wrote it, is
// replaced by itself and everything it imports (oomkit's modules, zod, smol-toml), so the
// `oomkit` command, the systemd unit and the DaemonSet, which all run that file, load one module
// instead of about 240. Measured (BENCHMARKS.md "Footprint: builds side by side"): the
// daemon's anonymous memory fell by 3.8 MiB and its start-up by about half, because the bundle
// keeps only the parts of zod oomkit uses (its index loads every locale) and drops the command
// line's graph of module records.
//
// Left out, loaded at run time from node_modules as before: koffi (a native addon), sucrase
// (loaded only for a TypeScript policy file) and prom-client (CommonJS, loaded from its own
// files, src/report/metrics.ts). The rest of dist/src stays as tsc wrote it: the library
// (`oomkit`, `oomkit/policy`, `oomkit/testing`) is imported file by file, as before.
//
// Run by `npm run build` after tsc. Without esbuild installed (a devDependency) it says so and
// leaves main.js unbundled, which works the same with a larger footprint; `npm pack` (prepack)
// sets OOMKIT_BUNDLE=required, so a tarball is never made unbundled.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MAIN = path.join(REPO, "dist/src/cli/main.js");
const MARK = "// oomkit: bundled by scripts/bundle.mjs";
const EXTERNAL = ["koffi", "koffi/*", "sucrase", "sucrase/*", "prom-client", "prom-client/*"];

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  const msg = "bundle: esbuild is not installed (npm install): dist/src/cli/main.js left unbundled";
  if (process.env.OOMKIT_BUNDLE === "required") {
    console.error(`${msg}, and OOMKIT_BUNDLE=required`);
    process.exit(1);
  }
  console.error(msg);
  process.exit(0);
}

if (readFileSync(MAIN, "utf8").includes(MARK)) {
  console.error(`bundle: ${path.relative(REPO, MAIN)} is a bundle already: run tsc first (npm run build)`);
  process.exit(1);
}
const tmp = `${MAIN}.bundle-tmp`;
const r = await esbuild.build({
  entryPoints: [MAIN],
  outfile: tmp,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: EXTERNAL,
  banner: { js: MARK },
  logLevel: "warning",
  metafile: true,
});
// esbuild escapes every non-ASCII character in code (its default charset), but copies comments as
// they are, and oomkit's comments hold arrows and dashes. One such character makes V8 keep the whole source
// (which it holds for lazy compilation) as two bytes per character: 0.9 MiB more anonymous memory
// for the life of the daemon (BENCHMARKS.md, "Footprint: builds side by side"). Escaping what is
// left keeps the source one byte per character; an escape means the same in a comment (nothing), in
// a string, an identifier or a regular expression, so nothing else changes.
writeFileSync(tmp, readFileSync(tmp, "utf8").replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
renameSync(tmp, MAIN);
const inputs = Object.keys(r.metafile.inputs).length;
const bytes = Object.values(r.metafile.outputs)[0].bytes;
console.error(`bundle: ${path.relative(REPO, MAIN)}: ${inputs} modules in one file, ${(bytes / 1024).toFixed(0)} KiB`);
