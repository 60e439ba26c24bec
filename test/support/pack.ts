/**
 * The package as its users get it: `npm pack` of this checkout, installed with its dependencies
 * and TypeScript into a folder outside the repository, as a policy author's project has it.
 *
 * - One install per test run: scripts/run-tests.mjs hands every test file one scratch folder for
 *   the run (OOMKIT_TEST_SCRATCH) and removes it at the end; the first file to ask installs there
 *   and later ones reuse it. A file run on its own installs once for itself; cleanup() removes it.
 * - installAsTool (below) installs it as an operator does, with `npm install -g`, and nothing else.
 * - Packing skips `prepack` (the build): tests run from dist/, so dist/src is this checkout's build
 *   already, and building again would rewrite files that other test files are loading. The
 *   tarball's file list is checked instead.
 * - The only network is the package registry, which npm reaches as configured. When npm cannot
 *   reach it this throws, with npm's own words: a test that needs the package fails, never skips.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout: dist/test/support/pack.js is three folders below it. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export interface PackedInstall {
  /** A folder outside the repository whose node_modules holds oomkit (from the tarball) and typescript. */
  readonly dir: string;
  /** The files the tarball holds, as `npm pack` listed them (paths inside the package). */
  readonly files: readonly string[];
  /** Removes a private install; a no-op for one shared by the test run (the runner removes it). */
  cleanup(): void;
}

/** Files the package cannot work without: a tarball lacking one was packed from a stale or partial build. */
const REQUIRED = ["package.json", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/policy/face.js", "dist/src/policy/face.d.ts", "dist/src/cli/main.js", "dist/src/testing/index.js", "samples/timelines/leak/oomkit-timeline.json"];

function run(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { output: `${stdout}\n${stderr}`.trim() }));
      else resolve(stdout);
    });
  });
}

function failure(what: string, err: unknown): Error {
  const output = (err as { output?: string }).output ?? String(err);
  const tail = output.split("\n").slice(-25).join("\n");
  return new Error(`${what} failed (the test needs the package registry, which npm reaches as configured):\n${tail}`, { cause: err });
}

/** Packs the checkout into `into`; returns the tarball's path and its file list. */
async function pack(into: string): Promise<{ tarball: string; files: string[] }> {
  if (!fs.existsSync(path.join(REPO, "dist/src/policy/face.js"))) throw new Error(`${REPO}/dist/src is not built: run npm run build first`);
  let out: string;
  try {
    out = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", into], REPO);
  } catch (err) {
    throw failure("npm pack", err);
  }
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed no package: ${out.slice(0, 500)}`);
  const files = info.files.map((f) => f.path).sort();
  const missing = REQUIRED.filter((f) => !files.includes(f));
  if (missing.length > 0) throw new Error(`the packed package lacks ${missing.join(", ")}`);
  return { tarball: path.join(into, info.filename), files };
}

/** The TypeScript a policy author would use: the version this checkout builds with. */
function typescriptSpec(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { devDependencies?: Record<string, string> };
  return `typescript@${pkg.devDependencies?.typescript ?? "latest"}`;
}

async function install(dir: string, tarball: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), `${JSON.stringify({ name: "oomkit-packed-check", private: true, type: "module" }, null, 2)}\n`);
  try {
    // No install scripts: nothing here runs native code, and the face needs none.
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--no-save", tarball, typescriptSpec()], dir);
  } catch (err) {
    throw failure(`npm install of ${path.basename(tarball)} and ${typescriptSpec()}`, err);
  }
  if (!fs.existsSync(path.join(dir, "node_modules/oomkit/dist/src/policy/face.js"))) throw new Error(`npm install left no oomkit in ${dir}/node_modules`);
}

let made: Promise<PackedInstall> | undefined;

/** The packed package installed outside the repository; made once and shared (see above). */
export function packAndInstall(): Promise<PackedInstall> {
  made ??= make();
  made.catch(() => {
    made = undefined;
  });
  return made;
}

async function make(): Promise<PackedInstall> {
  const scratch = process.env.OOMKIT_TEST_SCRATCH;
  const work = fs.mkdtempSync(path.join(scratch ?? os.tmpdir(), "oomkit-pack-"));
  try {
    const { tarball, files } = await pack(work);
    if (scratch === undefined) {
      const dir = path.join(work, "install");
      await install(dir, tarball);
      return { dir, files, cleanup: () => removeOnce(work) };
    }
    // Shared by the run: named by what was packed and which TypeScript, so every file gets the same.
    const key = createHash("sha256").update(fs.readFileSync(tarball)).update(typescriptSpec()).digest("hex").slice(0, 16);
    const shared = path.join(scratch, `packed-${key}`);
    if (!fs.existsSync(path.join(shared, "ready"))) {
      const mine = path.join(work, "install");
      await install(mine, tarball);
      fs.writeFileSync(path.join(mine, "ready"), "");
      try {
        fs.renameSync(mine, shared);
      } catch (err) {
        // Another file of this run finished the same install first: use that one.
        if (!fs.existsSync(path.join(shared, "ready"))) throw err;
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
    return { dir: shared, files, cleanup: () => {} };
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

function removeOnce(dir: string): void {
  made = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface TypeCheck {
  /** tsc's exit status: 0 when the project type-checks. */
  readonly status: number;
  /** What tsc printed (its diagnostics). */
  readonly output: string;
}

/**
 * Type-checks a small project beside the install (so `import … from "oomkit/policy"` finds the
 * packed package) with the installed TypeScript. `files` are written into a fresh folder with a
 * tsconfig.json of `compilerOptions` that lists them all; `packageJson` is that folder's.
 */
export async function typeCheck(
  install: PackedInstall,
  project: { readonly files: Readonly<Record<string, string>>; readonly compilerOptions: Readonly<Record<string, unknown>>; readonly packageJson?: Readonly<Record<string, unknown>> },
): Promise<TypeCheck> {
  const dir = fs.mkdtempSync(path.join(install.dir, "project-"));
  try {
    for (const [name, text] of Object.entries(project.files)) fs.writeFileSync(path.join(dir, name), text);
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(project.packageJson ?? { private: true, type: "module" }));
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { ...project.compilerOptions, noEmit: true }, files: Object.keys(project.files) }));
    try {
      const output = await run(process.execPath, [path.join(install.dir, "node_modules/typescript/bin/tsc"), "-p", dir, "--pretty", "false"], dir);
      return { status: 0, output };
    } catch (err) {
      const status = (err as { code?: unknown }).code;
      if (typeof status !== "number") throw err;
      return { status, output: (err as { output?: string }).output ?? "" };
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The package installed as a system tool, from its tarball, in a scratch folder standing for `/`. */
export interface ToolInstall {
  /** Stands for the machine's `/`: the install's prefix lies inside it. */
  readonly root: string;
  readonly tarball: string;
  /** The files the tarball holds. */
  readonly files: readonly string[];
  /** A PATH holding node and sh alone: what the install ran with (append it to the install's bin). */
  readonly toolPath: string;
  /** Removes the scratch folder. */
  cleanup(): void;
}

/** npm's own script, run by this node: `npm` on PATH, links resolved. */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const p = path.join(dir, "npm");
    if (!fs.existsSync(p)) continue;
    const real = fs.realpathSync(p);
    if (real.endsWith(".js")) return real;
    const beside = path.join(path.dirname(real), "npm-cli.js");
    if (fs.existsSync(beside)) return beside;
  }
  throw new Error("npm's npm-cli.js was not found from PATH");
}

/** The environment without what `npm run` adds for the test run's own package (its lifecycle and package fields). */
function plainEnv(pathValue: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_lifecycle_|npm_package_|INIT_CWD$|PATH$)/.test(k)) env[k] = v;
  env.PATH = pathValue;
  return env;
}

/**
 * Packs the checkout (as packAndInstall does) and runs `npm ...args(tarball, root)` in a fresh
 * scratch folder `root`, as an operator would install oomkit: install scripts as npm runs them
 * by default, and a PATH that holds node and sh and nothing else, so no compiler, make or
 * TypeScript can take part. Throws npm's own words when the install fails.
 */
export async function installAsTool(args: (tarball: string, root: string) => readonly string[]): Promise<ToolInstall> {
  const root = fs.mkdtempSync(path.join(process.env.OOMKIT_TEST_SCRATCH ?? os.tmpdir(), "oomkit-tool-"));
  try {
    const { tarball, files } = await pack(root);
    const bin = path.join(root, ".tools");
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    fs.symlinkSync("/bin/sh", path.join(bin, "sh"));
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, [npmCli(), ...args(tarball, root), "--no-audit", "--no-fund", "--prefer-offline"], { cwd: root, env: plainEnv(bin), encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(failure(`npm ${args(tarball, root).join(" ")}`, Object.assign(err, { output: `${stdout}\n${stderr}`.trim() })));
        else resolve();
      });
    });
    return { root, tarball, files, toolPath: bin, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
