import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { CHECK_SCHEMA, type CheckResult } from "../../../src/cli/check.js";

const EXAMPLE_FILE = fileURLToPath(new URL("../../../../deploy/oomkit.toml", import.meta.url));

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-check-"));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const BAD = [
  "dry_run = false", // 1
  "[[attach]]", // 2
  'cgroup = "/"', // 3
  'policy = "larget-leaf"', // 4
  "[[trigger]]", // 5
  'cgroup = "/"', // 6
  'psi = { stall = "full", threshold_ms = 100, window_ms = 60000 }', // 7
].join("\n");

describe("oomkit check", () => {
  test("without --config: the built-in default is valid", async () => {
    const r = await cli(["check"]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^oomkit check: <built-in default> is valid\n/);
    assert.match(r.stdout, /^ {2}\/ +rules$/m);
    assert.match(r.stdout, /^ {2}\(default\) +kernel$/m);
    assert.match(r.stdout, /memory-threshold: memory-low/);
    assert.match(r.stdout, /psi: machine-full-stall/);
  });

  test("the example in deploy/ is valid; --json gives the summary", async () => {
    const r = await cli(["check", "--config", EXAMPLE_FILE, "--json"]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const result = JSON.parse(r.stdout) as CheckResult;
    assert.equal(result.schema, CHECK_SCHEMA);
    assert.equal(result.valid, true);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.summary?.attachments.map((a) => [a.cgroup, a.policy]), [["/", "rules"], ["/batch.slice", "largest-leaf"]]);
    assert.deepEqual(result.summary?.triggers.map((t) => t.kind), ["memory-threshold", "psi", "psi", "guard-band", "memory-events"]);
    assert.equal(result.summary?.kill.rateLimit.maxKills, 5);
    assert.deepEqual(result.summary?.protections, {
      cgroups: ["/system.slice/sshd.service"],
      commands: ["^systemd"],
      executables: ["/usr/sbin/sshd", "/usr/lib/openssh/sshd-session"],
      trustedUids: [0],
      xattrs: ["user.oomd_omit", "trusted.oomd_omit", "user.oomkit.omit", "trusted.oomkit.omit"],
      tmpfsRoots: ["/dev/shm"],
    });
    const text = await cli(["check", "--config", EXAMPLE_FILE]);
    assert.match(text.stdout, /^protected: cgroups \/system\.slice\/sshd\.service; commands \^systemd; executables \/usr\/sbin\/sshd, \/usr\/lib\/openssh\/sshd-session \(tasks of uid 0 only\); xattrs /m);
  });

  test("each trigger is shown with its thresholds, in the text and as data in --json", async () => {
    const conf = file(
      "triggers.toml",
      [
        `[[trigger]]\ncgroup = "/"\nname = "low"\nsustained_ms = 1500\nmem_available = { below_percent = 7, below_bytes = "512M" }\nswap_free = { below_bytes = "1G" }`,
        `[[trigger]]\ncgroup = "/jobs/*"\npsi = { stall = "some", threshold_ms = 150, window_ms = 1000 }`,
        `[[trigger]]\ncgroup = "/jobs"\nguard_band = { margin_percent = 5 }`,
        `[[trigger]]\ncgroup = "/jobs/**"\nmemory_events = ["oom", "oom_kill"]`,
      ].join("\n") + "\n",
    );
    const j = await cli(["check", "--config", conf, "--json"]);
    assert.equal(j.code, EXIT.ok, j.stderr);
    const triggers = (JSON.parse(j.stdout) as CheckResult).summary?.triggers;
    assert.deepEqual(
      triggers?.map((t) => [t.cgroup, t.thresholds, t.sustainedMs]),
      [
        ["/", { kind: "memory-threshold", memAvailable: { belowPercent: 7, belowBytes: 512 * 1024 * 1024 }, swapFree: { belowPercent: null, belowBytes: 1024 * 1024 * 1024 } }, 1500],
        ["/jobs/*", { kind: "psi", stall: "some", thresholdMs: 150, windowMs: 1000 }, null],
        ["/jobs", { kind: "guard-band", marginBytes: null, marginPercent: 5 }, null],
        ["/jobs/**", { kind: "memory-events", events: ["oom", "oom_kill"] }, null],
      ],
    );
    const t = await cli(["check", "--config", conf]);
    assert.match(t.stdout, /^ {2}\/ +memory-threshold: low: MemAvailable ≤ 7% of MemTotal and ≤ 512 MiB \(the lower applies\) and SwapFree ≤ 1\.0 GiB, for 1500 ms$/m);
    assert.match(t.stdout, /^ {2}\/jobs\/\* +psi: .+: some stall ≥ 150 ms within 1000 ms$/m);
    assert.match(t.stdout, /^ {2}\/jobs +guard-band: .+: memory\.high 5% of memory\.max below memory\.max; fires when memory\.events high rises$/m);
    assert.match(t.stdout, /^ {2}\/jobs\/\*\* +memory-events: .+: memory\.events oom or oom_kill rises$/m);
  });

  test("errors: each with its place, exit 4 (the policy name is checked against the built-ins)", async () => {
    const bad = file("bad.toml", BAD);
    const r = await cli(["check", "--config", bad]);
    assert.equal(r.code, EXIT.config);
    assert.equal(r.stdout, "");
    assert.ok(r.stderr.includes(`${bad}:7:`), r.stderr);
    assert.match(r.stderr, /trigger\[0\]\.psi\.window_ms: must be at most 10000/);
    assert.match(r.stderr, /oomkit check: .*bad\.toml: 1 error\n$/);
  });

  test("an unknown option key of a built-in policy is placed at its own line, once per key, with a near known key", async () => {
    const typo = file("typo.toml", ['[[attach]]', 'cgroup = "/"', 'policy = "rules"', "[attach.options]", "xattrs = true", 'prefer_comands = ["x"]', 'avod = ["y"]'].join("\n"));
    const r = await cli(["check", "--config", typo]);
    assert.equal(r.code, EXIT.config);
    assert.ok(r.stderr.includes(`${typo}:6:1: attach[0].options.prefer_comands: policy "rules": unknown option "prefer_comands" (did you mean "prefer"?)`), r.stderr);
    assert.ok(r.stderr.includes(`${typo}:7:1: attach[0].options.avod: policy "rules": unknown option "avod" (did you mean "avoid"?)`), r.stderr);
  });

  test("a missing policy file is named once", async () => {
    const missing = path.join(dir, "no-such-policy.ts");
    const r = await cli(["check", "--config", file("missing.toml", `[[attach]]\ncgroup = "/"\nfile = "${missing}"\n`)]);
    assert.equal(r.code, EXIT.config);
    assert.equal(r.stderr.split(missing).length - 1, 1, r.stderr);
    assert.match(r.stderr, /policy file \S+no-such-policy\.ts does not exist/);
  });

  test("compile errors once the file itself is valid", async () => {
    const bad = file("bad-policy.toml", BAD.replace("60000", "2000"));
    const r = await cli(["check", "--config", bad]);
    assert.equal(r.code, EXIT.config);
    assert.ok(r.stderr.includes(`${bad}:4:1: attach[0].policy: unknown policy "larget-leaf" (did you mean "largest-leaf"?)`), r.stderr);
  });

  test("--json on errors: structured issues, exit 4", async () => {
    const bad = file("bad2.toml", `${BAD}\nbogus = 1\n`);
    const r = await cli(["check", "--config", bad, "--json"]);
    assert.equal(r.code, EXIT.config);
    const result = JSON.parse(r.stdout) as CheckResult;
    assert.equal(result.valid, false);
    assert.equal(result.summary, null);
    assert.deepEqual(result.errors.map((e) => [e.line, e.path]), [[7, "trigger[0].psi.window_ms"], [8, "trigger[0].bogus"]]);
  });

  test("warnings do not fail the check", async () => {
    const warned = file("warned.toml", BAD.replace('"larget-leaf"', '"largest-leaf"').replace("60000", "1000"));
    const r = await cli(["check", "--config", warned]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stderr, /^warning: .*warned\.toml:7:\d+: trigger\[0\]\.psi\.window_ms: window 1000 ms/m);
    assert.match(r.stdout, /is valid \(1 warning\)/);
  });

  test("a policy file that does not load is an error placed at its key", async () => {
    const notPolicy = file("not-a-policy.mjs", "export default { name: 'x' };\n");
    const cfg = file("with-file.toml", ["[[attach]]", 'cgroup = "/work"', `file = "${path.basename(notPolicy)}"`, ""].join("\n"));
    const r = await cli(["check", "--config", cfg]);
    assert.equal(r.code, EXIT.config, r.stderr);
    assert.ok(r.stderr.includes(`${cfg}:3:1: attach[0].file: ${notPolicy}: `), r.stderr);
  });

  test("a policy file loads (relative to the configuration), its options are checked, ownership is the daemon's rule", async () => {
    const policy = file("batch-first.ts", 'import { definePolicy } from "oomkit";\nexport default definePolicy({ name: "batch-first", handleOutOfMemory: (oc) => oc.pass("none") });\n');
    fs.chmodSync(policy, 0o664);
    const cfg = file("policy-file.toml", ["[[attach]]", 'cgroup = "/work"', 'file = "batch-first.ts"', "[[trigger]]", 'cgroup = "/work"', 'memory_events = ["oom"]', ""].join("\n"));
    const refused = await cli(["check", "--config", cfg]);
    assert.equal(refused.code, EXIT.config, refused.stderr);
    assert.ok(refused.stderr.includes(`${cfg}:3:1: attach[0].file: `), refused.stderr);
    assert.match(refused.stderr, /writable by its group.*refusing to run it as root/);
    fs.chmodSync(policy, 0o644);
    const r = await cli(["check", "--config", cfg]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /^ {2}\/work +batch-first \(.*batch-first\.ts\)$/m);

    fs.appendFileSync(cfg, ["[attach.options]", "x = 1", ""].join("\n").replace("[attach.options]", "[[attach]]\ncgroup = \"/b\"\nfile = \"batch-first.ts\"\n[attach.options]"));
    const r2 = await cli(["check", "--config", cfg]);
    assert.equal(r2.code, EXIT.config);
    assert.match(r2.stderr, /attach\[1\]\.options: policy "batch-first" takes no options/);
  });

  test("a missing file is exit 3; a bad flag exit 2", async () => {
    assert.equal((await cli(["check", "--config", path.join(dir, "nope.toml")])).code, EXIT.path);
    assert.equal((await cli(["check", "--bogus"])).code, EXIT.usage);
  });
});
