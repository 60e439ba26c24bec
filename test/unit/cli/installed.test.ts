/**
 * oomkit installed as a system tool, by the install line of deploy/oomkit.service: `npm pack`'s
 * tarball, `npm install -g --prefix /opt/oomkit` (under a scratch root), with a PATH of node and
 * sh alone. Then `oomkit` works from the prefix's bin: doctor, check, install-service. One pack
 * and one install from the registry's cache (about 15 s on the development machine).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO, type ToolInstall, installAsTool } from "../../support/pack.js";

const UNIT = fs.readFileSync(path.join(REPO, "deploy/oomkit.service"), "utf8");
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
const OPT = "/opt/oomkit";

/** The unit's install line: `npm install -g --prefix /opt/oomkit ./oomkit-X.tgz`, as words after "npm". */
function installLine(): string[] {
  const line = UNIT.split("\n").find((l) => /^#\s+npm install -g /.test(l));
  assert.ok(line, "deploy/oomkit.service says how to install");
  return line.replace(/^#\s+npm\s+/, "").trim().split(/\s+/);
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { env, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

describe("installed like a system tool: npm install -g of the packed tarball", () => {
  let tool: ToolInstall;
  let prefix: string;
  let oomkit: (args: readonly string[]) => ReturnType<typeof run>;

  before(async () => {
    const words = installLine();
    assert.deepEqual(words.slice(0, 4), ["install", "-g", "--prefix", OPT]);
    assert.equal(words[4], `./oomkit-${VERSION}.tgz`, "the line names this version's tarball");
    tool = await installAsTool((tarball, root) => {
      assert.equal(path.basename(tarball), path.basename(words[4] as string));
      return words.map((w) => (w === OPT ? path.join(root, OPT) : w === words[4] ? tarball : w));
    });
    prefix = path.join(tool.root, OPT);
    const env = { HOME: process.env.HOME, PATH: `${path.join(prefix, "bin")}${path.delimiter}${tool.toolPath}` };
    oomkit = (args) => run("oomkit", args, env);
  });
  after(() => tool?.cleanup());

  test("the tarball holds the build and deploy/, and nothing installs or builds on the user's machine", () => {
    for (const f of ["dist/src/cli/main.js", "dist/src/cli/install-service.js", "deploy/oomkit.service", "deploy/oomkit.toml"]) assert.ok(tool.files.includes(f), f);
    const pkg = JSON.parse(fs.readFileSync(path.join(prefix, "lib/node_modules/oomkit/package.json"), "utf8")) as { scripts?: Record<string, string> };
    for (const s of ["preinstall", "install", "postinstall", "prepare"]) assert.equal(pkg.scripts?.[s], undefined, `a ${s} script would run at install`);
    assert.equal(fs.existsSync(path.join(prefix, "lib/node_modules/oomkit/node_modules/typescript")), false, "no TypeScript installed with it");
  });

  test("oomkit is on PATH from the prefix's bin and runs", async () => {
    const r = await oomkit(["--version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `oomkit ${VERSION}\n`);
  });

  test("oomkit doctor", async () => {
    const r = await oomkit(["doctor"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^oomkit doctor: live machine\n/);
    assert.match(r.stdout, /\[ok {2}\] pidfd_open: works/, "koffi's native part loads from the installed package");
  });

  test("oomkit check: the built-in default, and the example shipped in deploy/", async () => {
    const d = await oomkit(["check"]);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const example = path.join(prefix, "lib/node_modules/oomkit/deploy/oomkit.toml");
    const e = await oomkit(["check", "--config", example]);
    assert.equal(e.code, 0, e.stdout + e.stderr);
    assert.match(e.stdout, /is valid/);
  });

  test("the unit's ExecStart names the installed main.js; install-service writes it for this install", async () => {
    const exec = (UNIT.split("\n").find((l) => l.startsWith("ExecStart=")) ?? "").split(" ");
    const main = exec.find((w) => w.endsWith("/main.js")) ?? "";
    assert.ok(main.startsWith(`${OPT}/`), main);
    const installed = path.join(tool.root, main);
    assert.ok(fs.existsSync(installed), `${main} is where the install line puts it`);
    const sysroot = path.join(tool.root, "sysroot");
    fs.mkdirSync(sysroot);
    const r = await oomkit(["install-service", "--root", sysroot]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const unit = fs.readFileSync(path.join(sysroot, "etc/systemd/system/oomkit.service"), "utf8");
    assert.ok(unit.includes(` ${fs.realpathSync(installed)} run --config /etc/oomkit/oomkit.toml`), unit);
    const c = await oomkit(["check", "--config", path.join(sysroot, "etc/oomkit/oomkit.toml")]);
    assert.equal(c.code, 0, c.stdout + c.stderr);
  });
});
