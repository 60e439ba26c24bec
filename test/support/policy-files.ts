/**
 * Policy files for tests and benchmarks: written into fresh folders with the modes the daemon
 * accepts, loaded the daemon's way (each in its own realm), and — for comparisons only — loaded
 * the way oomkit did before realms, as a function in the engine's own realm.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vm from "node:vm";
import { createRequire } from "node:module";
import { definePolicy, isPolicy, type Policy } from "../../src/engine/policy.js";
import { type LoadPolicyOptions, loadPolicyFile } from "../../src/policy/loader.js";
import * as face from "../../src/policy/face.js";

export const strict: LoadPolicyOptions = { enforceOwnership: true, warn: () => {} };

/** A new folder (mode 0755) holding these files (mode 0644). */
export function policyDir(files: Readonly<Record<string, string>>, mode = 0o755): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-pol-"));
  fs.chmodSync(dir, mode);
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), text);
    fs.chmodSync(path.join(dir, name), 0o644);
  }
  return dir;
}

/** Writes `source` as p.ts (or `name`) in a new folder; returns the file. */
export function policyFile(source: string, name = "p.ts"): string {
  return path.join(policyDir({ [name]: source }), name);
}

/** Loads `source` as a policy file, the daemon's way. */
export function loadSource(source: string, opts: Partial<LoadPolicyOptions> = {}): Policy {
  return loadPolicyFile(policyFile(source), { ...strict, ...opts });
}

type Transform = (code: string, options: { transforms: string[]; filePath: string; production: boolean }) => { code: string };

/**
 * The loader as it was before policy realms: the file's code compiled as a function of the
 * engine's own realm, handed the engine's face. Only to compare against (parity tests, the realm
 * benchmark); it checks nothing and isolates nothing.
 */
export function loadInMainRealm(file: string): Policy {
  const transform = (createRequire(import.meta.url)("sucrase") as { transform: Transform }).transform;
  const loaded = new Map<string, { exports: unknown }>();
  const load = (abs: string): unknown => {
    const known = loaded.get(abs);
    if (known) return known.exports;
    const isTs = abs.endsWith(".ts");
    const code = transform(fs.readFileSync(abs, "utf8"), { transforms: isTs ? ["typescript", "imports"] : ["imports"], filePath: abs, production: true }).code;
    const fn = vm.compileFunction(code, ["exports", "require", "module"], { filename: abs }) as (...a: unknown[]) => void;
    const module = { exports: {} as unknown };
    loaded.set(abs, module);
    const req = (spec: string): unknown => {
      if (spec === "oomkit" || spec === "oomkit/policy") return face;
      const base = path.resolve(path.dirname(abs), spec);
      return load([base, `${base}.ts`, `${base}.js`].find((p) => fs.existsSync(p) && fs.statSync(p).isFile()) ?? base);
    };
    fn(module.exports, req, module);
    return module.exports;
  };
  const exported = load(path.resolve(file));
  const p = isPolicy(exported) ? exported : (exported as { default?: unknown }).default;
  if (!isPolicy(p)) throw new Error(`${file}: no policy`);
  return definePolicy({ ...p });
}
