/**
 * oomkit init-policy: the project it makes, and that project's own `npm test` passing from a
 * folder outside the repository against the packed oomkit (test/support/pack.ts). The project's
 * node_modules is linked, not installed: oomkit and TypeScript from the packed install, @types/node
 * from this checkout's node_modules, so no network is needed beyond the packed install's.
 *
 * The project's own npm test (two tsc runs over @types/node, skipLibCheck off, then node --test)
 * takes 25-35 s on the shared 2-core machine, so that part runs when OOMKIT_PACKED_PROJECT=1
 * (.ci/run sets it) and is skipped, saying so, in a plain `npm test`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT, VERSION, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { TEMPLATE_DEV_DEPENDENCIES } from "../../../src/cli/policy-template.js";
import { REPO, type PackedInstall, packAndInstall } from "../../support/pack.js";

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<{ code: number; output: string }> {
  // Without the runner's own variables: a child `node --test` that sees them runs nothing.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NODE_TEST")));
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, output: `${stdout}\n${stderr}` });
    });
  });
}

const PKG = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string; devDependencies: Record<string, string> };

describe("oomkit init-policy", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-init-"));
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  test("makes the project; its pins are oomkit's own", async () => {
    const dir = path.join(scratch, "My Policy");
    const r = await cli(["init-policy", dir]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const files = ["package.json", "tsconfig.json", "tsconfig.test.json", ".gitignore", "src/policy.ts", "test/policy.test.ts", "oomkit.toml", "README.md"];
    for (const f of files) assert.ok(fs.existsSync(path.join(dir, f)), f);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name: string; devDependencies: Record<string, string>; scripts: Record<string, string> };
    assert.equal(pkg.name, "my-policy");
    assert.equal(VERSION, PKG.version, "the CLI's version is the package's");
    assert.deepEqual(pkg.devDependencies, { oomkit: `^${PKG.version}`, typescript: PKG.devDependencies.typescript, "@types/node": PKG.devDependencies["@types/node"] });
    assert.deepEqual(TEMPLATE_DEV_DEPENDENCIES, { typescript: PKG.devDependencies.typescript, "@types/node": PKG.devDependencies["@types/node"] });
    assert.match(fs.readFileSync(path.join(dir, "src/policy.ts"), "utf8"), /name: "my-policy"/);
    const tsconfig = JSON.parse(fs.readFileSync(path.join(dir, "tsconfig.json"), "utf8")) as { compilerOptions: Record<string, unknown> };
    assert.deepEqual([tsconfig.compilerOptions.types, tsconfig.compilerOptions.moduleResolution, tsconfig.compilerOptions.skipLibCheck], [[], "NodeNext", false]);
  });

  test("refuses a folder that is not empty, a bad name, and a missing DIR", async () => {
    const full = path.join(scratch, "full");
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, "keep.txt"), "mine");
    const r = await cli(["init-policy", full]);
    assert.equal(r.code, EXIT.path);
    assert.match(r.stderr, /is not empty \(keep\.txt\)/);
    assert.equal(fs.readFileSync(path.join(full, "keep.txt"), "utf8"), "mine", "nothing is lost");
    assert.equal((await cli(["init-policy", path.join(scratch, "x"), "--name", "Bad Name"])).code, EXIT.usage);
    assert.equal((await cli(["init-policy"])).code, EXIT.usage);
  });
});

const PACKED_PROJECT = process.env.OOMKIT_PACKED_PROJECT === "1";
const skip = PACKED_PROJECT ? false : "set OOMKIT_PACKED_PROJECT=1 (as .ci/run does): the project's npm test takes about 30 s";

describe("a project made by init-policy, against the packed oomkit, outside the repository", { skip }, () => {
  let install: PackedInstall;
  let dir: string;
  before(async () => {
    install = await packAndInstall();
    dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-project-")), "fresh-policy");
  });
  after(() => {
    install?.cleanup();
    if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  /** The project's node_modules as `npm install` would make it, linked from what is already installed. */
  function link(project: string): void {
    const nm = path.join(project, "node_modules");
    fs.mkdirSync(path.join(nm, "@types"), { recursive: true });
    fs.mkdirSync(path.join(nm, ".bin"));
    fs.symlinkSync(path.join(install.dir, "node_modules/oomkit"), path.join(nm, "oomkit"));
    fs.symlinkSync(path.join(install.dir, "node_modules/typescript"), path.join(nm, "typescript"));
    fs.symlinkSync(path.join(REPO, "node_modules/@types/node"), path.join(nm, "@types/node"));
    fs.symlinkSync("../typescript/bin/tsc", path.join(nm, ".bin/tsc"));
  }

  test("npm test type-checks the policy without @types/node and passes its tests, one over the shipped timeline", async () => {
    const made = await run(process.execPath, [path.join(REPO, "dist/src/cli/main.js"), "init-policy", dir], os.tmpdir());
    assert.equal(made.code, 0, made.output);
    link(dir);
    const r = await run("npm", ["test", "--silent"], dir);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /# pass 5\n/);
    assert.match(r.output, /# fail 0\n/);
    assert.match(r.output, /ok \d+ - over a recorded timeline it decides at every frame/);
  });

  test("the packed oomkit records a timeline, and check accepts the project's configuration over it and over the shipped one", async () => {
    // The packed package's own CLI, as `npx oomkit` would run it in the project.
    const oomkit = path.join(dir, "node_modules/oomkit/dist/src/cli/main.js");
    const fixture = path.join(path.dirname(dir), "machine");
    const machine = await run(process.execPath, ["--input-type=module", "-e", `import { writeMachine } from "oomkit/testing"; writeMachine({ tasks: [{ pid: 10, comm: "app", rss: "300M" }] }, ${JSON.stringify(fixture)});`], dir);
    assert.equal(machine.code, 0, machine.output);
    const recorded = await run(process.execPath, [oomkit, "record", "--timeline", "recorded", "--every", "1s", "--for", "3s", "--root", fixture], dir);
    assert.equal(recorded.code, 0, recorded.output);
    assert.match(recorded.output, /recorded 4 frames/);
    for (const root of ["recorded", "node_modules/oomkit/samples/timelines/leak"]) {
      const r = await run(process.execPath, [oomkit, "check", "--config", "oomkit.toml", "--root", root], dir);
      assert.equal(r.code, 0, `${root}: ${r.output}`);
      assert.match(r.output, /over the timeline: \d+ frames/);
      assert.match(r.output, /fresh-policy: kill pid \d+/);
    }
  });

  test("a policy that needs Node's types fails the type-check; a wrong expectation fails the test", async () => {
    // After npm test: the built tests load src/policy.ts when they run, so a changed policy needs no rebuild.
    const policy = path.join(dir, "src/policy.ts");
    const good = fs.readFileSync(policy, "utf8");
    fs.writeFileSync(policy, `${good}\nexport const leaked: NodeJS.Signals = "SIGKILL";\n`);
    const typed = await run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], dir);
    assert.notEqual(typed.code, 0);
    assert.match(typed.output, /src\/policy\.ts.*Cannot find namespace 'NodeJS'/);
    fs.writeFileSync(policy, good.replace("bytes > freeable(best)", "bytes < freeable(best)"));
    const wrong = await run(process.execPath, ["--test", "--test-reporter=tap", "build/test/policy.test.js"], dir);
    assert.notEqual(wrong.code, 0, "the example's tests catch a policy that picks the smallest");
    assert.match(wrong.output, /# fail [1-9]/);
  });
});
