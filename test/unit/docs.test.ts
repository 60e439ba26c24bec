/** The docs' examples, loaded and run as a policy author would: writing-a-policy.md's worked example, testing-a-policy.md's tests. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import ts from "typescript";
import { Engine } from "../../src/engine/engine.js";
import { takeSnapshot } from "../../src/engine/snapshot.js";
import { FixtureHost } from "../../src/os/fixture-host.js";
import { cgroupPath } from "../../src/os/paths.js";
import { kernelPolicy } from "../../src/policy/kernel.js";
import { loadPolicyFile } from "../../src/policy/loader.js";
import { buildFixture } from "../support/fixture.js";
import { docPolicyFile, workedExampleFile as example } from "../support/worked-example.js";
import { REPO } from "../support/pack.js";

const MB = 1024 * 1024;

test("the worked example in docs/writing-a-policy.md does what the doc says", async () => {
  const policy = loadPolicyFile(example(), { enforceOwnership: true, warn: () => {} });
  const options = policy.parseOptions?.({ marker: "/batch/" });
  const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy, options }], defaultPolicy: { policy: kernelPolicy, options: {} } });
  const cause = { kind: "system" as const, trigger: "test", message: "t", figures: {} };
  const machine = (batch: boolean) =>
    takeSnapshot(
      new FixtureHost(
        buildFixture({
          cgroups: {
            "/web": { current: 900 * MB, anon: 900 * MB },
            ...(batch
              ? {
                  "/batch": {},
                  "/batch/small": { anon: 8 * MB },
                  "/batch/big": { anon: 100 * MB, swapCurrent: 50 * MB },
                  "/batch/cached": { anon: 20 * MB, file: 500 * MB },
                }
              : {}),
          },
          tasks: [
            { pid: 10, comm: "web", cgroup: "/web", rssAnonKb: 900 * 1024 },
            ...(batch
              ? [
                  { pid: 20, comm: "small", cgroup: "/batch/small", rssAnonKb: 8 * 1024 },
                  { pid: 21, comm: "big", cgroup: "/batch/big", rssAnonKb: 100 * 1024 },
                  { pid: 22, comm: "cached", cgroup: "/batch/cached", rssAnonKb: 20 * 1024 },
                ]
              : []),
          ],
        }),
      ),
    );
  const r = await engine.explain(machine(true), "/", cause);
  assert.equal(r.policy, "batch-first");
  assert.deepEqual(r.plan.map((a) => a.kind === "kill-cgroup" && a.cgroup), ["/batch/big"], "anon + swap, not page cache");
  assert.match(r.candidates.find((c) => c.cgroup === "/batch/small")?.skipped ?? "", /only 8388608 bytes/);
  const none = await engine.explain(machine(false), "/", cause);
  assert.deepEqual(none.chain.map((c) => [c.policy, c.outcome]), [["batch-first", "passed"], ["kernel", "handled"]]);
  assert.deepEqual(none.plan.map((a) => a.kind === "kill-task" && a.pid), [10]);
});

test("the evaluateTask example in docs/writing-a-policy.md does what the doc says", async () => {
  const policy = loadPolicyFile(docPolicyFile("batch-tasks-first.ts"), { enforceOwnership: true, warn: () => {} });
  const options = policy.parseOptions?.({ spare: ["sshd"] });
  assert.throws(() => policy.parseOptions?.({ spare: "sshd" }), /spare must be a list/);
  const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy, options }], defaultPolicy: { policy: kernelPolicy, options: {} } });
  const cause = { kind: "system" as const, trigger: "test", message: "t", figures: {} };
  const machine = (batch: boolean) =>
    takeSnapshot(
      new FixtureHost(
        buildFixture({
          cgroups: { "/web": {}, "/system": {}, ...(batch ? { "/batch": {}, "/batch/a": {}, "/batch/b": {} } : {}) },
          tasks: [
            { pid: 10, comm: "web", cgroup: "/web", rssAnonKb: 900 * 1024, uid: 1000 },
            { pid: 11, comm: "sshd", cgroup: "/system", rssAnonKb: 1500 * 1024, uid: 0 },
            ...(batch
              ? [
                  { pid: 20, comm: "small", cgroup: "/batch/a", rssAnonKb: 8 * 1024, uid: 1000 },
                  { pid: 21, comm: "big", cgroup: "/batch/b", rssAnonKb: 60 * 1024, swapKb: 50 * 1024, uid: 1000 },
                  { pid: 22, comm: "mid", cgroup: "/batch/a", rssAnonKb: 100 * 1024, uid: 1000 },
                ]
              : []),
          ],
        }),
      ),
    );
  const r = await engine.explain(machine(true), "/", cause);
  assert.deepEqual(r.chain.map((c) => [c.policy, c.outcome]), [["batch-tasks-first", "handled"]]);
  assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [21], "rss + swap: 110 MiB beats 100 MiB of rss, and any badness outside batch");
  assert.match(r.plan[0]?.reason ?? "", /selected by evaluateTask/);
  assert.equal(r.candidates.find((c) => c.pid === 22)?.skipped, "evaluateTask: skip");
  assert.equal(r.candidates.find((c) => c.pid === 11)?.skipped, "evaluateTask: skip", "root's sshd is spared");
  const none = await engine.explain(machine(false), "/", cause);
  assert.deepEqual(none.chain.map((c) => [c.policy, c.outcome]), [["batch-tasks-first", "handled"]]);
  assert.deepEqual(none.plan.map((a) => a.kind === "kill-task" && a.pid), [10], "the web server, though sshd is larger");
  assert.match(none.plan[0]?.reason ?? "", /highest badness/);
});

/**
 * docs/testing-a-policy.md: every ```ts block that starts with a `// path` comment is a file of a
 * policy project; they are written into a folder outside the repository beside the worked example
 * (src/batch-first.ts), with "oomkit" resolving to this checkout, and the project's tests are run
 * with node --test, as npm test would run them once built. Every ```toml block that starts with a
 * `# path` comment is written there too, and each `oomkit check` line of a ```sh block whose
 * --root is not a DIR of the reader's own is run there with this checkout's CLI: it must pass.
 */
test("every example in docs/testing-a-policy.md runs and passes", async () => {
  const doc = fs.readFileSync(path.join(REPO, "docs/testing-a-policy.md"), "utf8");
  const blocks = [...doc.matchAll(/```ts\n\/\/ (\S+)\n([\s\S]*?)```/g)].map((m) => ({ file: m[1] as string, text: m[2] as string }));
  assert.ok(blocks.some((b) => b.file.startsWith("test/")) && blocks.some((b) => b.file.startsWith("src/")), "the doc has policies and tests");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-doc-project-"));
  try {
    fs.mkdirSync(path.join(dir, "src"));
    fs.mkdirSync(path.join(dir, "test"));
    fs.mkdirSync(path.join(dir, "node_modules"));
    fs.symlinkSync(REPO, path.join(dir, "node_modules/oomkit"));
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ private: true, type: "module" }));
    fs.copyFileSync(example(), path.join(dir, "src/batch-first.ts"));
    const tests: string[] = [];
    for (const b of blocks) {
      if (b.file.startsWith("src/")) {
        fs.writeFileSync(path.join(dir, b.file), b.text);
        continue;
      }
      const js = ts.transpileModule(b.text, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false } }).outputText;
      const out = path.join(dir, b.file.replace(/\.ts$/, ".mjs"));
      fs.writeFileSync(out, js);
      tests.push(out);
    }
    const r = await run(process.execPath, ["--test", "--test-reporter=tap", ...tests], dir);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, new RegExp(`# pass ${blocks.filter((b) => b.file.startsWith("test/")).reduce((n, b) => n + (b.text.match(/^test\(/gm)?.length ?? 0), 0)}\\n`));
    for (const m of doc.matchAll(/```toml\n# (\S+)\n([\s\S]*?)```/g)) fs.writeFileSync(path.join(dir, m[1] as string), m[2] as string);
    const checks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => (m[1] as string).split("\n")).filter((l) => /^oomkit check .*--root (?!DIR)/.test(l));
    assert.ok(checks.length > 0, "the doc checks a configuration over a timeline");
    for (const line of checks) {
      const argv = line.replace(/#.*$/, "").trim().split(/\s+/).slice(1);
      const c = await run(process.execPath, [path.join(REPO, "dist/src/cli/main.js"), ...argv], dir);
      assert.equal(c.code, 0, `${line}\n${c.output}`);
      assert.match(c.output, /over the timeline: \d+ frames/);
      // The output the doc shows for the shipped sample is what check prints.
      const shown = /```\n(over the timeline:[\s\S]*?)```/.exec(doc)?.[1];
      if (line.includes("samples/timelines/leak")) assert.ok(shown !== undefined && c.output.includes(shown), `the doc shows:\n${shown}\ncheck printed:\n${c.output}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function run(cmd: string, args: readonly string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    // Without the runner's own variables: a child `node --test` that sees them runs nothing.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NODE_TEST")));
    execFile(cmd, args, { cwd, encoding: "utf8", env }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, output: `${stdout}\n${stderr}` });
    });
  });
}
