/**
 * What a policy author's mistakes do to the CLI: `check --root` runs the configured policies on a
 * fixture and fails on a throw, a timeout, an invalid plan or a refused target; `explain --strict`
 * exits non-zero on the same; explain warns about policies attached below the scope; check warns
 * about attachments no trigger reaches; `--options` and the configuration's options for --policy.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import type { CheckResult } from "../../../src/cli/check.js";
import { writeMachine } from "../../../src/testing/index.js";
import { policyDir } from "../../support/policy-files.js";

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

const head = `import { definePolicy } from "oomkit/policy";\n`;
const dir = policyDir({
  "throws.ts": `${head}export default definePolicy({ name: "thrower", handleOutOfMemory() { throw new Error("no idea what to do"); } });\n`,
  "loops.ts": `${head}export default definePolicy({ name: "looper", handleOutOfMemory() { for (;;) {} } });\n`,
  "garbage.ts": `${head}export default definePolicy({ name: "garbage", handleOutOfMemory() { return 42 as never; } });\n`,
  "refused.ts": `${head}export default definePolicy({ name: "refused", handleOutOfMemory(oc) { const t = oc.tasks().find((x) => x.comm === "keep"); return t ? oc.killTask(t, "wrong") : oc.pass("none"); } });\n`,
  "good.ts": `${head}export default definePolicy<{ comm: string }>({
  name: "good",
  parseOptions(raw) { const o = raw as { comm?: unknown }; if (typeof o.comm !== "string") throw new Error("comm must be a string"); return { comm: o.comm }; },
  handleOutOfMemory(oc) { const t = oc.tasks().find((x) => x.comm === oc.options.comm); return t ? oc.killTask(t, "named") : oc.pass("none named"); },
});\n`,
});
const root = writeMachine({
  cgroups: { "/jobs/a": {}, "/jobs/b": {} },
  tasks: [
    { pid: 10, comm: "a", cgroup: "/jobs/a", rss: "300M" },
    { pid: 11, comm: "b", cgroup: "/jobs/b", rss: "200M" },
    { pid: 12, comm: "keep", cgroup: "/jobs/b", rss: "100M", adj: -1000 },
  ],
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function config(name: string, body: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, body, { mode: 0o644 });
  return f;
}
// A generous deadline (the machine under test is shared and busy) except for the policy that loops.
const attachAt = (cgroup: string, file: string, options = "") =>
  `${file === "loops.ts" ? "" : "policy_deadline_ms = 5000\n"}[[attach]]\ncgroup = "${cgroup}"\nfile = "${path.join(dir, file)}"\n${options}\n[[trigger]]\ncgroup = "${cgroup}"\nmemory_events = ["oom"]\n`;

describe("oomkit check --root", () => {
  for (const [file, kind, what, words] of [
    ["throws.ts", "threw", "throws", /policy thrower \(attached to \/jobs\) threw: .*no idea what to do/],
    ["loops.ts", "timeout", "loops past its deadline", /policy looper \(attached to \/jobs\) timeout: ran past its deadline of 250 ms \(its own code was running, \d+ of \d+ ms reading the machine: a loop that does not end\? A longer deadline would not help\)/],
    ["garbage.ts", "invalid", "returns no plan", /policy garbage \(attached to \/jobs\) returned no valid plan/],
    ["refused.ts", "refused", "has a target refused", /policy refused \(attached to \/jobs\): the verifier refused kill pid 12/],
  ] as const) {
    test(`fails on a policy that ${what}`, async () => {
      const cfg = config(`${kind}.toml`, attachAt("/jobs", file));
      const r = await cli(["check", "--config", cfg, "--root", root]);
      assert.equal(r.code, EXIT.config, r.stderr);
      assert.match(r.stderr, words);
      const j = await cli(["check", "--config", cfg, "--root", root, "--json"]);
      const result = JSON.parse(j.stdout) as CheckResult;
      assert.equal(result.valid, false);
      assert.ok(result.runs?.some((run) => run.scope === "/jobs" && run.faults.some((f) => f.kind === kind)), j.stdout);
    });
  }

  test("passes a good policy and says what each scope's OOM would do", async () => {
    const cfg = config("good.toml", attachAt("/jobs", "good.ts", `[attach.options]\ncomm = "b"`));
    const r = await cli(["check", "--config", cfg, "--root", root]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /an OOM in \/jobs\s+good: kill pid 11/);
    assert.match(r.stdout, /an OOM in \/\s+kernel: kill pid 10/);
    // Without --root, nothing runs: the same file is valid and there are no runs.
    const plain = JSON.parse((await cli(["check", "--config", cfg, "--json"])).stdout) as CheckResult;
    assert.equal(plain.runs, null);
  });

  test("warns about an attachment no configured trigger reaches", async () => {
    const cfg = config("unreached.toml", `[[attach]]\ncgroup = "/jobs"\nfile = "${path.join(dir, "good.ts")}"\n[attach.options]\ncomm = "b"\n[[trigger]]\ncgroup = "/"\npsi = { stall = "full", threshold_ms = 200, window_ms = 2000 }\n`);
    const r = await cli(["check", "--config", cfg]);
    assert.equal(r.code, EXIT.ok);
    assert.match(r.stderr, /policy good is attached to \/jobs, but no configured trigger declares an OOM at or below \/jobs/);
    const reached = await cli(["check", "--config", config("reached.toml", attachAt("/jobs", "good.ts", `[attach.options]\ncomm = "b"`))]);
    assert.doesNotMatch(reached.stderr, /no configured trigger/);
  });
});

/** No attachments, a generous deadline: for explain --policy on a busy machine. */
const SLOW = config("slow.toml", "policy_deadline_ms = 5000\n");

describe("where a policy threw", () => {
  const file = path.join(dir, "deep.ts");
  fs.writeFileSync(
    file,
    [
      `import { definePolicy, type TaskNode } from "oomkit/policy";`,
      ``,
      `function pick(tasks: readonly TaskNode[]): TaskNode {`,
      `  const t = tasks.find((x) => x.comm === "nobody");`,
      `  if (!t) throw new Error("no task named nobody");`,
      `  return t;`,
      `}`,
      ``,
      `export default definePolicy({`,
      `  name: "deep",`,
      `  handleOutOfMemory(oc) {`,
      `    return oc.killTask(pick(oc.tasks()), "x");`,
      `  },`,
      `});`,
      ``,
    ].join("\n"),
    { mode: 0o644 },
  );
  const at = `Error: no task named nobody (at ${file}:5 in pick, called from ${file}:12 in handleOutOfMemory)`;

  test("the text and the JSON name the policy's own file and lines, TypeScript types stripped", async () => {
    const text = await cli(["explain", "--root", root, "--config", SLOW, "--policy", file]);
    assert.ok(text.stdout.includes(`threw — ${at}`), text.stdout);
    const json = JSON.parse((await cli(["explain", "--root", root, "--config", SLOW, "--policy", file, "--json"])).stdout) as { chain: { error?: string }[] };
    assert.equal(json.chain[0]?.error, at);
  });

  test("top-level code that throws names its line", async () => {
    const top = path.join(dir, "top.ts");
    fs.writeFileSync(top, `${head}\nconst limit: number = 3;\nif (limit > 2) throw new RangeError("limit too high");\nexport default definePolicy({ name: "top", evaluateTask: () => "default" });\n`, { mode: 0o644 });
    const r = await cli(["explain", "--root", root, "--config", SLOW, "--policy", top]);
    assert.equal(r.code, EXIT.config);
    assert.ok(r.stderr.includes(`RangeError: limit too high (at ${top}:4)`), r.stderr);
  });
});

describe("oomkit explain", () => {
  test("--strict exits 4 on a policy fault; without it the fallback's answer exits 0", async () => {
    const loose = await cli(["explain", "--root", root, "--config", SLOW, "--policy", path.join(dir, "throws.ts"), "--scope", "/jobs"]);
    assert.equal(loose.code, EXIT.ok);
    const strict = await cli(["explain", "--root", root, "--config", SLOW, "--policy", path.join(dir, "throws.ts"), "--scope", "/jobs", "--strict"]);
    assert.equal(strict.code, EXIT.config);
    assert.match(strict.stderr, /policy thrower \(attached to \/jobs\) threw/);
    const fine = await cli(["explain", "--root", root, "--config", SLOW, "--policy", path.join(dir, "good.ts"), "--options", '{"comm":"a"}', "--strict"]);
    assert.equal(fine.code, EXIT.ok, fine.stderr);
    assert.match(fine.stdout, /kill pid 10/);
  });

  test("warns when a policy attached below the scope is not consulted", async () => {
    const cfg = config("below.toml", attachAt("/jobs", "good.ts", `[attach.options]\ncomm = "b"`));
    const r = await cli(["explain", "--root", root, "--config", cfg]);
    assert.equal(r.code, EXIT.ok);
    assert.match(r.stderr, /policy good is attached to \/jobs, below \/: .*never to it \(ask with --scope \/jobs\)/);
    const asked = await cli(["explain", "--root", root, "--config", cfg, "--scope", "/jobs"]);
    assert.doesNotMatch(asked.stderr, /below/);
  });

  test("--options: JSON for --policy; refused without one, when not JSON, or when parseOptions refuses", async () => {
    assert.equal((await cli(["explain", "--root", root, "--config", SLOW, "--options", "{}"])).code, EXIT.usage);
    assert.equal((await cli(["explain", "--root", root, "--config", SLOW, "--policy", path.join(dir, "good.ts"), "--options", "{comm"])).code, EXIT.usage);
    const bad = await cli(["explain", "--root", root, "--config", SLOW, "--policy", path.join(dir, "good.ts"), "--options", '{"comm":1}']);
    assert.equal(bad.code, EXIT.config);
    assert.match(bad.stderr, /parseOptions rejected --options: comm must be a string/);
  });

  test("--policy with --config keeps the configuration's options for that cgroup, and says so", async () => {
    const cfg = config("opts.toml", attachAt("/jobs", "good.ts", `[attach.options]\ncomm = "a"`));
    const r = await cli(["explain", "--root", root, "--config", cfg, "--policy", path.join(dir, "good.ts"), "--scope", "/jobs"]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /kill pid 10/);
    assert.match(r.stderr, /gets the configuration's options for it: \{"comm":"a"\}/);
    const replaced = await cli(["explain", "--root", root, "--config", cfg, "--policy", path.join(dir, "good.ts"), "--scope", "/jobs", "--options", '{"comm":"b"}']);
    assert.match(replaced.stdout, /kill pid 11/);
  });
});
