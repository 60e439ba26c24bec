import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError, errnoCode } from "../errors.js";
import { type Command, EXIT } from "./command.js";
import { parseFlags } from "./args.js";
import { policyProject } from "./policy-template.js";
import { VERSION } from "./version.js";

const USAGE = `usage: oomkit init-policy DIR [--name NAME]

Makes a policy project in DIR (absent or empty): package.json depending on oomkit, a tsconfig
(NodeNext), an example policy with options (src/policy.ts), its test (test/policy.test.ts, on
node:test and oomkit/testing), and \`npm test\` that type-checks the policy and runs the test.
Then: cd DIR && npm install && npm test (docs/testing-a-policy.md).

  --name NAME   the package's and the policy's name (default: DIR's name)

Exit status: 0 made, 2 bad arguments, 3 DIR is not empty or cannot be written.`;

/** An npm package name that is also a fine policy name: lower case, digits, - . _ */
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const initPolicyCommand: Command = {
  name: "init-policy",
  summary: "make a policy project: a policy with options, its test, npm test",
  usage: USAGE,
  run(args, ctx) {
    const { values, positionals } = parseFlags("init-policy", args, { name: { type: "string" } }, true);
    if (positionals.length !== 1) throw new OomkitError("E_USAGE", "give one folder: oomkit init-policy DIR (see --help)");
    const dir = path.resolve(positionals[0] as string);
    const name = values.name ?? path.basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "");
    if (!NAME.test(name)) throw new OomkitError("E_USAGE", `"${name}" cannot name a package: use lower-case letters, digits, "-", "." and "_" (--name NAME)`);
    let existing: string[] = [];
    try {
      existing = fs.readdirSync(dir);
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw new OomkitError("E_HOST_IO", `cannot read ${dir}: ${errnoCode(err) ?? (err as Error).message}`, { cause: err });
    }
    if (existing.length > 0) throw new OomkitError("E_NO_SUCH_PATH", `${dir} is not empty (${existing.slice(0, 3).join(", ")}${existing.length > 3 ? ", ..." : ""}): give a new or empty folder`);
    const files = policyProject(name, VERSION);
    try {
      for (const [rel, text] of Object.entries(files)) {
        const f = path.join(dir, rel);
        fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
        fs.writeFileSync(f, text, { mode: 0o644, flag: "wx" });
      }
    } catch (err) {
      throw new OomkitError("E_HOST_IO", `cannot write the project in ${dir}: ${errnoCode(err) ?? (err as Error).message}`, { cause: err });
    }
    ctx.stdout(`made policy project ${name} in ${dir}:\n${Object.keys(files).map((f) => `  ${f}\n`).join("")}next: cd ${dir} && npm install && npm test\n`);
    return EXIT.ok;
  },
};
