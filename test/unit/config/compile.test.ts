import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { type CompileDeps, type LoadPolicyFile, compileConfig } from "../../../src/config/compile.js";
import { DEFAULT_CONFIG_NAME, defaultConfig } from "../../../src/config/defaults.js";
import { ConfigError, type ConfigIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/load.js";
import { OomkitError } from "../../../src/errors.js";
import { type Policy, definePolicy } from "../../../src/engine/policy.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { Engine } from "../../../src/engine/engine.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { buildFixture } from "../../support/fixture.js";

const MiB = 1024 * 1024;
const EXAMPLE = fs.readFileSync(fileURLToPath(new URL("../../../../deploy/oomkit.toml", import.meta.url)), "utf8");

/** A policy with strict options, as built-ins write them. */
const sized = definePolicy({
  name: "largest-leaf",
  parseOptions: (raw) => z.strictObject({ min_bytes: z.number().int().nonnegative().default(0) }).parse(raw),
  handleOutOfMemory: (oc) => oc.pass("test"),
});
/** A policy that rejects its options with a plain Error. */
const picky = definePolicy({
  name: "rules",
  parseOptions: (raw) => {
    if ((raw as { prefer?: unknown }).prefer === "nothing") throw new Error("prefer must name something");
    return raw;
  },
  evaluateTask: () => "default",
});
/** A policy that takes no options at all. */
const plain = definePolicy({ name: "priority", handleOutOfMemory: (oc) => oc.pass("test") });

const BUILTINS: ReadonlyMap<string, Policy> = new Map<string, Policy>([
  ["kernel", kernelPolicy],
  ["largest-leaf", sized as Policy],
  ["rules", picky as Policy],
  ["priority", plain],
]);

const fromFile = definePolicy({ name: "batch-first", handleOutOfMemory: (oc) => oc.pass("test") });

/** A stub loader: files under /ok load (warning about ownership when not enforced); others fail. */
function stubLoader(calls: { file: string; enforceOwnership: boolean }[] = []): LoadPolicyFile {
  return (file, opts) => {
    calls.push({ file, enforceOwnership: opts.enforceOwnership });
    if (file.startsWith("/ok/")) {
      if (!opts.enforceOwnership) opts.warn(`${file} is writable by group (the daemon would refuse it)`);
      return fromFile as Policy;
    }
    throw new OomkitError("E_CONFIG", "its default export is not a policy made with definePolicy()");
  };
}

function compile(text: string, deps: Partial<CompileDeps> = {}) {
  const parsed = parseConfig(text, "oomkit.toml");
  return compileConfig(parsed.config, { builtins: BUILTINS, loadPolicyFile: stubLoader(), enforceOwnership: true, source: parsed.source, ...deps });
}

function compileIssues(text: string, deps: Partial<CompileDeps> = {}): readonly ConfigIssue[] {
  try {
    compile(text, deps);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, "E_CONFIG");
    return err.issues;
  }
  assert.fail("expected a configuration error");
}

const lines = (...ls: string[]) => `${ls.join("\n")}\n`;
const TRIGGER = ["[[trigger]]", 'cgroup = "/"', 'psi = { stall = "full", threshold_ms = 200, window_ms = 2000 }'].join("\n");

describe("compileConfig", () => {
  test("the example's protections, from a user's side: their systemd-hog and their sshd are killed, root's are not", async () => {
    const dir = buildFixture({
      tasks: [
        { pid: 300, comm: "systemd-journal", exe: "/usr/lib/systemd/systemd-journald", rssAnonKb: 900 * 1024 },
        { pid: 400, comm: "sshd", exe: "/usr/sbin/sshd", rssAnonKb: 800 * 1024 },
        { pid: 1000, comm: "systemd-hog", exe: "/home/u/systemd-hog", uid: 1000, rssAnonKb: 300 * 1024 },
        { pid: 1001, comm: "sshd", exe: "/usr/sbin/sshd", uid: 1000, rssAnonKb: 200 * 1024 },
      ],
    });
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, protections: compile(EXAMPLE).engine.protections });
    const r = await engine.explain(takeSnapshot(new FixtureHost(dir)), "/", { kind: "system", trigger: "test", message: "t", figures: {} });
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [1000]);
    const skipped = Object.fromEntries(r.candidates.filter((c) => c.skipped).map((c) => [c.pid, c.skipped]));
    assert.deepEqual(skipped, { 300: "omit: command matches /^systemd/", 400: "omit: executable /usr/sbin/sshd is protected by configuration" });
  });

  test("the example: engine options, triggers and kill settings", () => {
    const c = compile(EXAMPLE);
    assert.deepEqual(c.engine.attachments.map((a) => [a.cgroup, a.policy.name, a.options, a.origin.kind]), [
      ["/", "rules", { prefer: { cgroup: ["^/batch\\.slice/"] } }, "builtin"],
      ["/batch.slice", "largest-leaf", { min_bytes: 0 }, "builtin"],
    ]);
    assert.equal(c.engine.defaultPolicy.policy, kernelPolicy);
    assert.equal(c.engine.policyDeadlineMs, 250);
    const p = c.engine.protections;
    assert.deepEqual(p.omitCgroups, ["/system.slice/sshd.service"]);
    assert.ok(p.omitCommands.every((r) => r instanceof RegExp));
    assert.ok(p.omitCommands[0]?.test("systemd-journal") && !p.omitCommands[0]?.test("my-systemd"));
    assert.deepEqual(p.omitExecutables.map((x) => x.pattern), ["/usr/sbin/sshd", "/usr/lib/openssh/sshd-session"]);
    assert.ok(p.omitExecutables[0]?.regex.test("/usr/sbin/sshd") && !p.omitExecutables[0]?.regex.test("/usr/sbin/sshd2"));
    assert.deepEqual(p.trustedUids, [0]);
    assert.deepEqual(p.omitXattrs, ["user.oomd_omit", "trusted.oomd_omit", "user.oomkit.omit", "trusted.oomkit.omit"]);
    assert.deepEqual(p.tmpfsRoots, ["/dev/shm"]);
    assert.deepEqual(c.kill, {
      rateLimit: { maxKills: 5, perMs: 60_000 },
      postActionDelayMs: 2000,
      victimTimeoutMs: 10_000,
      sigtermGraceMs: 0,
      killProcessGroup: false,
      preKillHook: undefined,
    });
    assert.equal(c.dryRun, false);
    assert.equal(c.logLevel, "info");
    assert.deepEqual(c.warnings, []);

    const [memLow, fullStall, services, band, events] = c.triggers;
    assert.match(memLow?.origin ?? "", /^trigger\[0\] \(oomkit\.toml:\d+\)$/);
    assert.deepEqual({ ...memLow, origin: undefined }, {
      where: { kind: "machine" },
      origin: undefined,
      kind: "memory-threshold",
      name: "memory-low",
      memAvailable: { belowPercent: 10, belowBytes: undefined },
      swapFree: { belowPercent: 10, belowBytes: undefined },
      sustainedMs: undefined,
    });
    assert.equal(fullStall?.kind, "psi");
    if (fullStall?.kind === "psi") {
      assert.deepEqual([fullStall.stall, fullStall.thresholdUsec, fullStall.windowUsec], ["full", 200_000, 2_000_000]);
    }
    assert.equal(services?.kind, "psi");
    assert.equal(services?.name, "psi:memory some 300ms/2000ms", "a name is made up when none is given");
    assert.equal(services?.kind === "psi" && services.sustainedMs, 4000);
    assert.equal(services?.where.kind, "glob");
    if (services?.where.kind === "glob") {
      assert.ok(services.where.regex.test("/system.slice/cron.service"));
      assert.ok(!services.where.regex.test("/user.slice/x"));
    }
    assert.deepEqual(band && { kind: band.kind, where: band.where, margin: band.kind === "guard-band" && band.margin }, {
      kind: "guard-band",
      where: { kind: "cgroup", path: "/batch.slice" },
      margin: { bytes: 64 * MiB },
    });
    assert.equal(events?.kind === "memory-events" && events.events.join(","), "max,oom");
  });

  test("the engine pieces build an Engine as they are", async () => {
    const { Engine } = await import("../../../src/engine/engine.js");
    const c = compile(EXAMPLE);
    const engine = new Engine(c.engine);
    assert.deepEqual(engine.chainFor("/batch.slice/job1" as never).map((l) => l.policy.name), ["largest-leaf", "rules", "kernel"]);
  });

  test("unknown policy: placed, with a suggestion and the list", () => {
    const [i, ...rest] = compileIssues(lines(TRIGGER, "[[attach]]", 'cgroup = "/"', 'policy = "larget-leaf"'));
    assert.equal(rest.length, 0);
    assert.equal(i?.line, 6);
    assert.equal(i?.path, "attach[0].policy");
    assert.match(i?.message ?? "", /^unknown policy "larget-leaf" \(did you mean "largest-leaf"\?\); built-in policies: kernel, largest-leaf, rules, priority$/);
  });

  test("a path given as policy is pointed at file =", () => {
    const [i] = compileIssues(lines(TRIGGER, "[[attach]]", 'cgroup = "/"', 'policy = "/etc/oomkit/p.ts"'));
    assert.match(i?.message ?? "", /for a policy file, write file = "\/etc\/oomkit\/p\.ts"/);
  });

  test("options a policy rejects: zod errors placed key by key, other errors at the options table", () => {
    const text = lines(
      TRIGGER, // 1-3
      "[[attach]]", // 4
      'cgroup = "/a"', // 5
      'policy = "largest-leaf"', // 6
      "[attach.options]", // 7
      'min_bytes = "lots"', // 8
      "[[attach]]", // 9
      'cgroup = "/b"', // 10
      'policy = "rules"', // 11
      'options = { prefer = "nothing" }', // 12
      "[[attach]]", // 13
      'cgroup = "/c"', // 14
      'policy = "priority"', // 15
      "options = { level = 3 }", // 16
    );
    const issues = compileIssues(text);
    assert.deepEqual(
      issues.map((i) => [i.line, i.path]),
      [
        [8, "attach[0].options.min_bytes"],
        [12, "attach[1].options"],
        [16, "attach[2].options"],
      ],
    );
    assert.match(issues[0]?.message ?? "", /^policy "largest-leaf": /);
    assert.equal(issues[1]?.message, 'policy "rules": prefer must name something');
    assert.equal(issues[2]?.message, 'policy "priority" takes no options');
  });

  test("policy files: resolved against baseDir, loaded with the ownership rule given, failures placed", () => {
    const calls: { file: string; enforceOwnership: boolean }[] = [];
    const text = lines(TRIGGER, "[[attach]]", 'cgroup = "/a"', 'file = "policies/a.ts"', "[[attach]]", 'cgroup = "/b"', 'file = "/broken/b.ts"');
    const issues = compileIssues(text, { loadPolicyFile: stubLoader(calls), baseDir: "/ok" });
    assert.deepEqual(calls, [
      { file: "/ok/policies/a.ts", enforceOwnership: true },
      { file: "/broken/b.ts", enforceOwnership: true },
    ]);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.line, 9);
    assert.equal(issues[0]?.path, "attach[1].file");
    assert.match(issues[0]?.message ?? "", /^\/broken\/b\.ts: its default export is not a policy/);
  });

  test("ownership not enforced: the loader's complaint becomes a placed warning", () => {
    const c = compile(lines(TRIGGER, "[[attach]]", 'cgroup = "/a"', 'file = "/ok/a.ts"'), { enforceOwnership: false });
    assert.deepEqual(c.engine.attachments.map((a) => [a.policy.name, a.origin]), [["batch-first", { kind: "file", file: "/ok/a.ts" }]]);
    assert.deepEqual(c.warnings, ["oomkit.toml:6:1: attach[0].file: /ok/a.ts is writable by group (the daemon would refuse it)"]);
  });

  test("standing decisions on by default; kernel_fallback: off by default; follow needs standing decisions", () => {
    assert.equal(compile(lines(TRIGGER)).standingDecisions, true);
    assert.equal(compile(lines("standing_decisions = false", TRIGGER)).standingDecisions, false);
    assert.equal(compile(lines(TRIGGER)).kernelFallback, "off");
    assert.equal(compile(lines("standing_decisions = true", 'kernel_fallback = "follow"', TRIGGER)).kernelFallback, "follow");
    assert.equal(compile(lines('kernel_fallback = "follow"', TRIGGER)).kernelFallback, "follow", "standing decisions by default");
    const issues = compileIssues(lines('kernel_fallback = "follow"', "standing_decisions = false", TRIGGER));
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [["kernel_fallback", 1]],
    );
    assert.match(issues[0]?.message ?? "", /needs standing_decisions = true/);
  });

  test("every compile error at once", () => {
    const text = lines(TRIGGER, "[[attach]]", 'cgroup = "/a"', 'policy = "nope"', "[[attach]]", 'cgroup = "/b"', 'file = "/broken/x.js"');
    assert.equal(compileIssues(text).length, 2);
  });

  test("without a source, errors still name the key", () => {
    const { config } = parseConfig(lines(TRIGGER, "[[attach]]", 'cgroup = "/"', 'policy = "nope"'), "x.toml");
    assert.throws(
      () => compileConfig(config, { builtins: BUILTINS, loadPolicyFile: stubLoader(), enforceOwnership: true }),
      (err: unknown) => err instanceof ConfigError && err.issues[0]?.path === "attach[0].policy" && err.issues[0]?.line === undefined,
    );
  });

  test("trigger names, thresholds in bytes, guard band in percent", () => {
    const c = compile(
      lines(
        "[[trigger]]",
        'cgroup = "/"',
        'mem_available = { below_percent = 5, below_bytes = "1G" }',
        "sustained_ms = 500",
        "[[trigger]]",
        'cgroup = "/"',
        "swap_free = { below_percent = 20 }",
        "[[trigger]]",
        'cgroup = "/work"',
        "guard_band = { margin_percent = 2.5 }",
        "[[trigger]]",
        'cgroup = "/work"',
        'memory_events = ["oom_kill", "max"]',
      ),
    );
    assert.deepEqual(
      c.triggers.map((t) => [t.kind, t.name]),
      [
        ["memory-threshold", "mem_available<=5%|1073741824B"],
        ["memory-threshold", "swap_free<=20%"],
        ["guard-band", "guard_band:2.5%"],
        ["memory-events", "memory.events:oom_kill,max"],
      ],
    );
    const [t0, t1, t2] = c.triggers;
    assert.ok(t0?.kind === "memory-threshold" && t0.sustainedMs === 500 && t0.memAvailable?.belowBytes === 1024 * MiB && t0.swapFree === undefined);
    assert.ok(t1?.kind === "memory-threshold" && t1.memAvailable === undefined);
    assert.ok(t2?.kind === "guard-band" && "percent" in t2.margin && t2.margin.percent === 2.5);
  });
});

describe("the built-in default configuration", () => {
  test("is valid, attaches rules at / with no options, kernel behind it", () => {
    const parsed = defaultConfig();
    assert.deepEqual(parsed.warnings, [], "the default needs no warning: its PSI window works without CAP_SYS_RESOURCE");
    assert.equal(parsed.source.fileName, DEFAULT_CONFIG_NAME);
    assert.deepEqual(parsed.config.attach, [{ cgroup: "/", policy: "rules" }]);
    const c = compileConfig(parsed.config, { builtins: BUILTINS, loadPolicyFile: stubLoader(), enforceOwnership: true, source: parsed.source });
    assert.deepEqual(c.engine.attachments.map((a) => [a.cgroup, a.policy.name, a.options]), [["/", "rules", {}]]);
    assert.equal(c.engine.defaultPolicy.policy.name, "kernel");
    assert.deepEqual(c.engine.protections.omitXattrs, ["user.oomd_omit", "trusted.oomd_omit", "user.oomkit.omit", "trusted.oomkit.omit"]);
    assert.equal(c.dryRun, false);
  });

  test("has the documented triggers: earlyoom's 10 %/10 % and a 2 s full-stall PSI trigger on the machine", () => {
    const parsed = defaultConfig();
    const c = compileConfig(parsed.config, { builtins: BUILTINS, loadPolicyFile: stubLoader(), enforceOwnership: true });
    assert.equal(c.triggers.length, 2);
    const [mem, psi] = c.triggers;
    assert.ok(mem?.kind === "memory-threshold");
    assert.deepEqual(mem.where, { kind: "machine" });
    assert.deepEqual(mem.memAvailable, { belowPercent: 10, belowBytes: undefined });
    assert.deepEqual(mem.swapFree, { belowPercent: 10, belowBytes: undefined });
    assert.equal(mem.sustainedMs, undefined, "acts at once, like earlyoom");
    assert.ok(psi?.kind === "psi");
    assert.deepEqual(psi.where, { kind: "machine" });
    assert.equal(psi.stall, "full");
    assert.equal(psi.windowUsec % 2_000_000, 0, "a multiple of 2 s: accepted without CAP_SYS_RESOURCE on 6.5+");
    assert.ok(psi.thresholdUsec > 0 && psi.thresholdUsec < psi.windowUsec);
    assert.equal(psi.sustainedMs, undefined);
  });
});
