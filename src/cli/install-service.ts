/**
 * `oomkit install-service`: puts the systemd unit and a configuration in place, for the oomkit
 * this command runs from. The unit is the package's deploy/oomkit.service with its ExecStart and
 * Documentation pointed at this node binary and this package (wherever `npm install -g` put it);
 * the configuration is the built-in default (src/config/defaults.ts), written only where none is.
 *
 * Never loses an operator's work: a configuration that is there is kept whatever it holds (said
 * on stderr), and a unit that differs from the one this oomkit would write is replaced only with
 * --force (local changes belong in a drop-in). Files are written whole (a temporary file renamed
 * over), 0644, in folders made 0755; the real machine's paths are used under --root.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { OomkitError } from "../errors.js";
import { DEFAULT_CONFIG_TOML } from "../config/defaults.js";
import type { Command } from "./command.js";
import { EXIT } from "./command.js";
import { parseFlags } from "./args.js";

const USAGE = `usage: oomkit install-service [--root DIR] [--force]

Writes the systemd unit to /etc/systemd/system/oomkit.service, its ExecStart naming this node
binary and this installed oomkit, and the built-in default configuration to
/etc/oomkit/oomkit.toml unless a configuration is there already (it is kept). Then run
  systemctl daemon-reload && systemctl enable --now oomkit

  --root DIR   write under DIR instead of / (an image, a staging root)
  --force      replace a unit that differs from this oomkit's (a configuration is never replaced)`;

/** The installed package: dist/src/cli/install-service.js is three folders below it. */
export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export const UNIT_PATH = "/etc/systemd/system/oomkit.service";
export const CONFIG_PATH = "/etc/oomkit/oomkit.toml";

/** The places deploy/oomkit.service names, as the unit's install line lays them out. */
const TEMPLATE_NODE = "/usr/bin/node";
const TEMPLATE_PACKAGE = "/opt/oomkit/lib/node_modules/oomkit";

/**
 * The unit for an oomkit installed at `packageDir`, run by `node`: the package's template with
 * its node and package paths replaced. Throws when the template no longer names them (a unit
 * that would start another oomkit must not be written).
 */
export function unitText(template: string, node: string, packageDir: string): string {
  const exec = template.split("\n").find((l) => l.startsWith("ExecStart="));
  if (!exec?.startsWith(`ExecStart=${TEMPLATE_NODE} `) || !exec.includes(`${TEMPLATE_PACKAGE}/dist/src/cli/main.js`)) {
    throw new OomkitError("E_INTERNAL", `deploy/oomkit.service's ExecStart does not name ${TEMPLATE_NODE} and ${TEMPLATE_PACKAGE}: ${exec ?? "(none)"}`);
  }
  for (const p of [node, packageDir]) {
    // systemd splits ExecStart at spaces and expands % and $: such a path needs quoting we do not do.
    if (!path.isAbsolute(p) || /[\s%$"'\\]/.test(p)) throw new OomkitError("E_UNSUPPORTED", `cannot name ${JSON.stringify(p)} in a unit: it must be an absolute path without spaces, quotes, % or $`);
  }
  return template
    .split("\n")
    .map((l) => (l.startsWith("ExecStart=") || l.startsWith("ExecReload=") || l.startsWith("Documentation=") ? l.replace(TEMPLATE_NODE, node).replaceAll(TEMPLATE_PACKAGE, packageDir) : l))
    .join("\n");
}

type Outcome = "written" | "unchanged" | "kept" | "differs" | "replaced";

/** Writes `text` to `file` as a whole (temporary file, then rename), creating its folders. */
function writeWhole(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.oomkit-${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o644, flag: "wx" });
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function existing(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new OomkitError("E_HOST_IO", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Puts `text` at `file` unless something else is there; `replace` says whether a different file may be replaced. */
function place(file: string, text: string, replace: boolean): Outcome {
  const now = existing(file);
  if (now === text) return "unchanged";
  if (now !== undefined && !replace) return "differs";
  try {
    writeWhole(file, text);
  } catch (err) {
    throw new OomkitError("E_HOST_IO", `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  return now === undefined ? "written" : "replaced";
}

export const installServiceCommand: Command = {
  name: "install-service",
  summary: "put the systemd unit and a default configuration in place",
  usage: USAGE,
  run(args, ctx) {
    const { values } = parseFlags("install-service", args, { root: { type: "string" }, force: { type: "boolean" } });
    const root = path.resolve(values.root ?? "/");
    if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new OomkitError("E_NO_SUCH_PATH", `--root ${root}: no such folder`);
    const at = (p: string) => path.join(root, p);
    const templateFile = path.join(PACKAGE_DIR, "deploy/oomkit.service");
    const template = existing(templateFile);
    if (template === undefined) throw new OomkitError("E_NO_SUCH_PATH", `${templateFile} is missing: this oomkit was installed without its deploy folder`);
    const unit = place(at(UNIT_PATH), unitText(template, process.execPath, PACKAGE_DIR), values.force === true);
    const config = place(at(CONFIG_PATH), DEFAULT_CONFIG_TOML, false);
    const say: Record<Outcome, string> = { written: "written", unchanged: "unchanged", replaced: "replaced (--force)", kept: "kept", differs: "differs" };
    ctx.stdout(`${at(UNIT_PATH)}: ${unit === "differs" ? "not replaced" : say[unit]}\n`);
    ctx.stdout(`${at(CONFIG_PATH)}: ${config === "differs" ? "kept (a configuration is there already; it is never replaced)" : say[config]}\n`);
    if (unit === "differs") {
      ctx.stderr(`oomkit install-service: ${at(UNIT_PATH)} differs from this oomkit's unit; run again with --force to replace it (local changes belong in a drop-in: systemctl edit oomkit)\n`);
      return EXIT.path;
    }
    if (root === "/") ctx.stdout("next: systemctl daemon-reload && systemctl enable --now oomkit\n");
    return EXIT.ok;
  },
};
