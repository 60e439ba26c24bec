/**
 * Policy files: `.ts`, `.mts`, `.js` and `.mjs` modules loaded at run time from anywhere on disk
 * (e.g. /etc/oomkit/policies), written against `import { definePolicy } from "oomkit/policy"`.
 *
 * - Trust: oomkit runs as root and runs this code, so a file (or the folder holding it) that is
 *   not owned by root or the daemon's user, or that group or others may write, is refused before
 *   any of its code runs — by `run`, `check` and `explain` alike (src/cli/setup.ts).
 * - Each file gets a realm of its own (src/engine/realm.ts): a vm context that can reach neither
 *   the OS nor the engine's objects nor the engine's intrinsics, entered only under a deadline.
 *   What it returns is the engine's policy whose hooks call into that realm.
 * - TypeScript is transpiled on load (sucrase: types stripped, imports turned into require
 *   calls); no type checking happens at run time — authors run tsc themselves. The JavaScript
 *   that results may not use async functions or import() (./realm-source.ts).
 * - Each load compiles the code afresh into a new realm, outside Node's module cache, so a
 *   reload leaves the old realm to the garbage collector (ES modules can never be unloaded).
 * - A policy imports only the policy face and other policy files beside it (relative paths,
 *   checked the same way, loaded into the same realm): a policy reads snapshots and returns
 *   plans; it has no business with fs, child_process, a Host or the daemon. "oomkit/policy" is
 *   the face, and "oomkit" inside a policy file is its alias, never the package's whole API. A
 *   name the face lacks fails the load (`import { LinuxHost } from "oomkit"` is a config error,
 *   not an undefined at OOM time).
 * - The module body runs under a deadline like policy calls: a file with a top-level
 *   `while (true) {}` fails to load instead of hanging the daemon.
 * - A policy may not take a built-in policy's name: records name the policy that decided.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import { OomkitError } from "../errors.js";
import { trustProblems } from "../os/trust.js";
import { isOomkitError } from "../engine/describe.js";
import type { Policy } from "../engine/policy.js";
import { PolicyRealm } from "../engine/realm.js";
import { PolicyThrew } from "../engine/select.js";
import { BUILTIN_POLICIES } from "./builtins.js";
import * as face from "./face.js";
import { refuseUnsafeSyntax } from "./realm-source.js";

export interface LoadPolicyOptions {
  /** Refuse files that root (or this process's user) does not own, or that others may write. */
  readonly enforceOwnership: boolean;
  /** Where problems go when they are not enforced. */
  readonly warn: (message: string) => void;
  /** Deadline for running the module's top-level code. */
  readonly deadlineMs?: number;
}

const EXTENSIONS = [".ts", ".mts", ".js", ".mjs"] as const;

/** What a policy file may import by name; both give the face. */
const FACE_SPECIFIERS: ReadonlySet<string> = new Set(["oomkit/policy", "oomkit"]);
const FACE_NAMES: ReadonlySet<string> = new Set(Object.keys(face));

type Transform = (code: string, options: { transforms: string[]; filePath: string; production: boolean }) => { code: string };
let transform: Transform | undefined;

/** sucrase, loaded on the first policy file: a daemon with built-in policies only never pays for it. */
function transpiler(): Transform {
  transform ??= (createRequire(import.meta.url)("sucrase") as { transform: Transform }).transform;
  return transform;
}
const MODULE_DEADLINE_MS = 1000;


function problem(file: string, message: string, opts: LoadPolicyOptions): void {
  if (opts.enforceOwnership) throw new OomkitError("E_PERMISSION", `${file}: ${message}; refusing to run it as root`);
  opts.warn(`${file}: ${message} (the daemon would refuse it)`);
}

/** Ownership and permission checks on a policy file and every folder above it up to / (src/os/trust.ts). */
export function checkTrust(file: string, opts: LoadPolicyOptions): void {
  const problems = trustProblems(file);
  // One message for all: each names the file or folder and what is wrong with it.
  if (problems.length > 0) problem(file, problems.map((p) => p.replace(/^the (file|folder) /, "the policy $1 ")).join("; "), opts);
}

/**
 * Loads a policy file into a realm of its own (src/engine/realm.ts) and returns its default
 * export, which must be a policy made with definePolicy(), as the engine's policy whose hooks
 * call into that realm. Throws OomkitError: E_NO_SUCH_PATH (missing), E_PERMISSION (untrusted,
 * when enforced), E_CONFIG (syntax, bad import, async code, no policy exported, a built-in's
 * name, top-level code that throws or runs past its deadline).
 */
export function loadPolicyFile(file: string, opts: LoadPolicyOptions): Policy {
  const abs = path.resolve(file);
  const deadlineMs = opts.deadlineMs ?? MODULE_DEADLINE_MS;
  const realm = new PolicyRealm({ name: abs, deadlineMs, sources: { resolve: resolveImport, source: (f) => moduleSource(f, opts) } });
  let policy: Policy;
  try {
    policy = realm.load(abs);
  } catch (err) {
    if (isOomkitError(err, "E_TIMEOUT")) throw new OomkitError("E_CONFIG", `${abs}: its top-level code ${(err as OomkitError).message}`);
    if (err instanceof OomkitError) throw err;
    throw new OomkitError("E_CONFIG", `${abs}: ${err instanceof PolicyThrew ? err.description : "failed to load"}`);
  }
  if (BUILTIN_POLICIES.has(policy.name)) {
    throw new OomkitError(
      "E_CONFIG",
      `${abs}: a policy file may not be named ${JSON.stringify(policy.name)}: the built-in policies' names are reserved (${[...BUILTIN_POLICIES.keys()].join(", ")})`,
    );
  }
  return policy;
}

/** The file an import names, from the file that imports it: the face is the realm's own. */
function resolveImport(from: string, spec: string): string {
  if (spec.startsWith("./") || spec.startsWith("../")) {
    const base = path.resolve(path.dirname(from), spec);
    const target = [base, ...EXTENSIONS.map((e) => base + e), ...(base.endsWith(".js") ? [base.replace(/\.js$/, ".ts")] : [])].find(
      (p) => fs.existsSync(p) && fs.statSync(p).isFile(),
    );
    if (!target) throw new OomkitError("E_CONFIG", `${from}: cannot find "${spec}"`);
    return target;
  }
  throw new OomkitError("E_CONFIG", `${from}: policies may import only "oomkit/policy" (or its alias "oomkit") and other policy files ("./..."); "${spec}" is not allowed`);
}

/** A module's code as the realm runs it: trusted, transpiled, its face names and syntax checked. */
function moduleSource(abs: string, opts: LoadPolicyOptions): string {
  if (!EXTENSIONS.some((e) => abs.endsWith(e))) {
    throw new OomkitError("E_CONFIG", `${abs}: a policy file must end in ${EXTENSIONS.join(", ")}`);
  }
  let source: string;
  try {
    if (!fs.statSync(abs).isFile()) throw new OomkitError("E_NO_SUCH_PATH", `${abs} is not a file`);
    checkTrust(abs, opts);
    source = fs.readFileSync(abs, "utf8");
  } catch (err) {
    if (err instanceof OomkitError) throw err;
    // Node's message repeats the path: the errno alone says what went wrong.
    const errno = (err as { code?: unknown }).code;
    const why = errno === "ENOENT" ? "does not exist" : `cannot be read: ${typeof errno === "string" ? errno : (err as Error).message}`;
    throw new OomkitError("E_NO_SUCH_PATH", `policy file ${abs} ${why}`, { cause: err });
  }
  let code: string;
  try {
    const isTs = abs.endsWith(".ts") || abs.endsWith(".mts");
    code = transpiler()(source, { transforms: isTs ? ["typescript", "imports"] : ["imports"], filePath: abs, production: true }).code;
  } catch (err) {
    throw new OomkitError("E_CONFIG", `${abs}: ${(err as Error).message}`, { cause: err });
  }
  checkFaceNames(abs, code);
  refuseUnsafeSyntax(abs, code);
  return code;
}

/**
 * Refuses a file that uses a name the face does not export. Sucrase turns
 * `import { x } from "oomkit"` into `var _oomkit = require('oomkit')` and each use of x into
 * `_oomkit.x` (a re-export into `_createNamedExportFrom(_oomkit, 'y', 'x')`), choosing a variable
 * name the file does not use; those are checked here, so a policy reaching for LinuxHost fails to
 * load instead of failing during an OOM. A namespace import (`import * as o`) is not seen here;
 * it reads undefined for such names.
 */
function checkFaceNames(abs: string, code: string): void {
  const requires = /\bvar ([A-Za-z_$][\w$]*) = require\((["'])([^"']+)\2\);/g;
  for (const [, binding, , spec] of code.matchAll(requires)) {
    if (binding === undefined || spec === undefined || !FACE_SPECIFIERS.has(spec)) continue;
    const b = binding.replace(/\$/g, "\\$");
    const uses = new RegExp(`(?<![\\w$.])${b}\\.([A-Za-z_$][\\w$]*)|_createNamedExportFrom\\(${b}, '[^']*', '([^']*)'\\)`, "g");
    for (const [, member, reexported] of code.matchAll(uses)) {
      const name = member ?? reexported;
      if (name === undefined || FACE_NAMES.has(name)) continue;
      throw new OomkitError(
        "E_CONFIG",
        `${abs}: "${spec}" has no export ${name}: a policy file sees only the policy face, "oomkit/policy" (${[...FACE_NAMES].sort().join(", ")})`,
      );
    }
  }
}
