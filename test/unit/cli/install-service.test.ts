/** `oomkit install-service` under a temporary root: what it writes, and what it never overwrites. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { CONFIG_PATH, PACKAGE_DIR, UNIT_PATH, unitText } from "../../../src/cli/install-service.js";
import { DEFAULT_CONFIG_TOML } from "../../../src/config/defaults.js";

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

const freshRoot = () => fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-install-"));
const TEMPLATE = fs.readFileSync(path.join(PACKAGE_DIR, "deploy/oomkit.service"), "utf8");

/** ExecStart's words (the unit splits it at spaces). */
const execStart = (unit: string): string[] => (unit.split("\n").find((l) => l.startsWith("ExecStart=")) ?? "").slice("ExecStart=".length).split(" ");

describe("oomkit install-service", () => {
  test("writes the unit, naming this node and this oomkit, and the default configuration, which check accepts", async () => {
    const root = freshRoot();
    const r = await cli(["install-service", "--root", root]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /oomkit\.service: written\n.*oomkit\.toml: written\n$/);
    const unit = fs.readFileSync(path.join(root, UNIT_PATH), "utf8");
    const words = execStart(unit);
    const at = words.findIndex((w) => w.endsWith("/dist/src/cli/main.js"));
    const [node, ...flags] = words.slice(0, at);
    const [main, ...rest] = words.slice(at);
    assert.equal(node, process.execPath);
    // The template's V8 flags, whatever they are, pass through as they are.
    assert.deepEqual(flags, execStart(TEMPLATE).slice(1, at));
    assert.ok(flags.every((f) => f.startsWith("--")), flags.join(" "));
    assert.equal(main, path.join(PACKAGE_DIR, "dist/src/cli/main.js"));
    assert.ok(fs.existsSync(main as string), `${main} exists`);
    assert.deepEqual(rest, ["run", "--config", CONFIG_PATH]);
    assert.match(unit, new RegExp(`^Documentation=file://${PACKAGE_DIR}/docs/operations\\.md$`, "m"));
    // `systemctl reload` runs this oomkit's synchronous `oomkit reload`, with the same node.
    assert.equal(unit.split("\n").find((l) => l.startsWith("ExecReload=")), `ExecReload=${process.execPath} ${main} reload`);
    // Everything else is the package's unit as it is.
    assert.deepEqual(
      unit.split("\n").filter((l) => !/^(ExecStart|ExecReload|Documentation)=/.test(l)),
      TEMPLATE.split("\n").filter((l) => !/^(ExecStart|ExecReload|Documentation)=/.test(l)),
    );
    const config = path.join(root, CONFIG_PATH);
    assert.equal(fs.readFileSync(config, "utf8"), DEFAULT_CONFIG_TOML);
    assert.equal(fs.statSync(config).mode & 0o777, 0o644);
    assert.equal(fs.statSync(path.dirname(config)).mode & 0o777, 0o755);
    const check = await cli(["check", "--config", config]);
    assert.equal(check.code, EXIT.ok, check.stdout + check.stderr);
  });

  test("run again: both unchanged; a changed configuration is kept whatever --force says", async () => {
    const root = freshRoot();
    assert.equal((await cli(["install-service", "--root", root])).code, EXIT.ok);
    const again = await cli(["install-service", "--root", root]);
    assert.equal(again.code, EXIT.ok, again.stderr);
    assert.match(again.stdout, /oomkit\.service: unchanged\n.*oomkit\.toml: unchanged\n$/);
    const config = path.join(root, CONFIG_PATH);
    const mine = `${DEFAULT_CONFIG_TOML}\n[kill]\nmax_kills = 2\n`;
    fs.writeFileSync(config, mine);
    for (const argv of [["install-service", "--root", root], ["install-service", "--root", root, "--force"]]) {
      const r = await cli(argv);
      assert.equal(r.code, EXIT.ok, r.stderr);
      assert.match(r.stdout, /oomkit\.toml: kept \(a configuration is there already; it is never replaced\)/);
      assert.equal(fs.readFileSync(config, "utf8"), mine);
    }
  });

  test("a unit that differs is replaced only with --force", async () => {
    const root = freshRoot();
    assert.equal((await cli(["install-service", "--root", root])).code, EXIT.ok);
    const unit = path.join(root, UNIT_PATH);
    const edited = fs.readFileSync(unit, "utf8").replace("MemoryMin=96M", "MemoryMin=256M");
    fs.writeFileSync(unit, edited);
    const refused = await cli(["install-service", "--root", root]);
    assert.equal(refused.code, EXIT.path);
    assert.match(refused.stderr, /differs from this oomkit's unit; run again with --force/);
    assert.equal(fs.readFileSync(unit, "utf8"), edited);
    const forced = await cli(["install-service", "--root", root, "--force"]);
    assert.equal(forced.code, EXIT.ok, forced.stderr);
    assert.match(forced.stdout, /oomkit\.service: replaced \(--force\)/);
    assert.match(fs.readFileSync(unit, "utf8"), /^MemoryMin=96M$/m);
    assert.deepEqual(fs.readdirSync(path.dirname(unit)), ["oomkit.service"], "no temporary file is left behind");
  });

  test("a missing --root is exit 3, a bad flag exit 2; nothing is written", async () => {
    const root = path.join(freshRoot(), "nope");
    assert.equal((await cli(["install-service", "--root", root])).code, EXIT.path);
    assert.equal(fs.existsSync(root), false);
    assert.equal((await cli(["install-service", "--rot", "/tmp"])).code, EXIT.usage);
  });

  test("unitText refuses a path systemd would split or expand, and a template that names another oomkit", () => {
    assert.throws(() => unitText(TEMPLATE, "/usr/bin/node", "/opt/my oomkit"), /absolute path without spaces/);
    assert.throws(() => unitText(TEMPLATE, "/usr/bin/node", "/opt/%h"), /absolute path/);
    assert.throws(() => unitText(TEMPLATE, "node", "/opt/x"), /absolute path/);
    assert.throws(() => unitText(TEMPLATE.replace("/opt/oomkit/lib/node_modules/oomkit/dist", "/srv/dist"), "/usr/bin/node", "/opt/x"), /does not name/);
  });
});
