import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { OomkitError } from "../../../src/errors.js";
import { ConfigError, type ConfigIssue } from "../../../src/config/issues.js";
import { parseConfig } from "../../../src/config/load.js";
import { DEFAULT_CONFIG_TOML } from "../../../src/config/defaults.js";
import { configSchema } from "../../../src/config/schema.js";

const MiB = 1024 * 1024;
const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const EXAMPLE = fs.readFileSync(`${REPO}deploy/oomkit.toml`, "utf8");

/** The issues parseConfig throws for a text (failing the test if it does not throw). */
function issuesOf(text: string): readonly ConfigIssue[] {
  try {
    parseConfig(text, "oomkit.toml");
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.ok(err instanceof OomkitError);
    assert.equal(err.code, "E_CONFIG");
    for (const i of err.issues) assert.ok(err.message.includes(i.message), "the message lists every issue");
    return err.issues;
  }
  assert.fail("expected a configuration error");
}

/** Asserts exactly one issue, at this line, on this path, matching the message. */
function oneIssue(text: string, line: number, path: string, message: RegExp): ConfigIssue {
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join("\n"));
  const [i] = issues;
  assert.ok(i);
  assert.equal(i.line, line, `line of ${i.path}: ${i.message}`);
  assert.equal(i.path, path);
  assert.match(i.message, message);
  return i;
}

const lines = (...ls: string[]) => `${ls.join("\n")}\n`;
/** A valid trigger, three lines (so that files without other triggers give no warning). */
const TRIGGER = ["[[trigger]]", 'cgroup = "/"', 'psi = { stall = "full", threshold_ms = 200, window_ms = 2000 }'].join("\n");

describe("parseConfig: a valid file", () => {
  test("the example in deploy/oomkit.toml, every default filled in", () => {
    const { config, warnings } = parseConfig(EXAMPLE, "oomkit.toml");
    assert.deepEqual(warnings, []);
    assert.equal(config.dry_run, false);
    assert.equal(config.policy_deadline_ms, 250);
    assert.equal(config.log_level, "info");
    assert.deepEqual(config.attach, [
      { cgroup: "/", policy: "rules", options: { prefer: { cgroup: ["^/batch\\.slice/"] } } },
      { cgroup: "/batch.slice", policy: "largest-leaf" },
    ]);
    const prefer = (config.attach[0]?.options as { prefer: object }).prefer;
    assert.equal(Object.getPrototypeOf(prefer), Object.prototype, "policies get ordinary objects, not smol-toml's null-prototype tables");
    assert.deepEqual(config.protect, {
      cgroups: ["/system.slice/sshd.service"],
      executables: ["/usr/sbin/sshd", "/usr/lib/openssh/sshd-session"],
      commands: ["^systemd"],
      trusted_uids: [0],
      xattrs: ["user.oomd_omit", "trusted.oomd_omit", "user.oomkit.omit", "trusted.oomkit.omit"],
      tmpfs_roots: ["/dev/shm"],
    });
    assert.deepEqual(config.kill, {
      max_kills: 5,
      per_seconds: 60,
      post_action_delay_ms: 2000,
      victim_timeout_ms: 10000,
      sigterm_grace_ms: 0,
      kill_process_group: false,
    });
    assert.equal(config.trigger.length, 5);
    assert.deepEqual(config.trigger[0], { name: "memory-low", cgroup: "/", mem_available: { below_percent: 10 }, swap_free: { below_percent: 10 } });
    assert.deepEqual(config.trigger[2], { cgroup: "/system.slice/*", psi: { stall: "some", threshold_ms: 300, window_ms: 2000 }, sustained_ms: 4000 });
    assert.deepEqual(config.trigger[3], { cgroup: "/batch.slice", guard_band: { margin_bytes: 64 * MiB } }, "sizes become bytes");
    assert.deepEqual(config.trigger[4]?.memory_events, ["max", "oom"]);
  });

  test("an empty file takes every default (and warns that nothing triggers)", () => {
    const { config, warnings } = parseConfig("", "empty.toml");
    assert.deepEqual(config.attach, []);
    assert.deepEqual(config.trigger, []);
    assert.deepEqual(config.protect.xattrs, ["user.oomd_omit", "trusted.oomd_omit", "user.oomkit.omit", "trusted.oomkit.omit"]);
    assert.deepEqual([config.protect.executables, config.protect.trusted_uids], [[], [0]], "names spare root's tasks alone by default");
    assert.equal(config.kill.max_kills, 5);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^empty\.toml: no \[\[trigger\]\]/);
  });

  test("cgroup paths are normalised; inline arrays of tables work too", () => {
    const { config } = parseConfig(lines('attach = [{ cgroup = "/work/", policy = "kernel" }, { cgroup = "/a//b", policy = "kernel" }]'), "x.toml");
    assert.deepEqual(config.attach.map((a) => a.cgroup), ["/work", "/a/b"]);
  });

  test("hook, process group and grace", () => {
    const { config } = parseConfig(
      lines("[kill]", "sigterm_grace_ms = 1500", "kill_process_group = true", 'pre_kill_hook = { command = ["/usr/bin/logger", "oom"] }', TRIGGER),
      "x.toml",
    );
    assert.deepEqual(config.kill.pre_kill_hook, { command: ["/usr/bin/logger", "oom"], timeout_ms: 1000 });
    assert.equal(config.kill.sigterm_grace_ms, 1500);
    assert.equal(config.kill.kill_process_group, true);
  });
});

describe("parseConfig: every kind of error, at its line", () => {
  test("TOML syntax error: line and column from the parser", () => {
    const i = oneIssue(lines("dry_run = false", "[kill", "max_kills = 1"), 2, "", /^TOML syntax: /);
    assert.equal(i.file, "oomkit.toml");
    assert.equal(typeof i.column, "number");
  });

  test("hostile values: a number out of range, a __proto__ key, a tmpfs root that is no tmpfs", () => {
    oneIssue(lines(TRIGGER, "[kill]", "sigterm_grace_ms = 1e400"), 5, "kill.sigterm_grace_ms", /^must be a finite number; got Infinity/);
    oneIssue(lines(TRIGGER, "[[attach]]", 'cgroup = "/"', 'policy = "rules"', "[attach.options]", "__proto__ = { x = 1 }"), 8, "attach[0].options.__proto__", /"__proto__" is not allowed/);
    oneIssue(lines(TRIGGER, "[protect]", "[protect.__proto__]", "x = 1"), 5, "protect.__proto__", /"__proto__" is not allowed/);
    for (const root of ["/", "/etc", "/usr/share", "/proc/self", "/home"]) {
      oneIssue(lines(TRIGGER, "[protect]", `tmpfs_roots = ["${root}"]`), 5, "protect.tmpfs_roots[0]", /is not a tmpfs to clear/);
    }
    oneIssue(lines(TRIGGER, "[protect]", 'tmpfs_roots = ["/dev/shm/../../etc"]'), 5, "protect.tmpfs_roots[0]", /must be a plain path \("\/etc"\)/);
    for (const ok of ["/dev/shm", "/tmp", "/run/user/1000"]) assert.deepEqual(parseConfig(lines(TRIGGER, "[protect]", `tmpfs_roots = ["${ok}"]`), "t.toml").config.protect.tmpfs_roots, [ok]);
  });

  test("unknown key at the top, in a table, in an inline table: did you mean", () => {
    oneIssue(lines("dryrun = true", TRIGGER), 1, "dryrun", /unknown key "dryrun" \(did you mean "dry_run"\?\)/);
    oneIssue(lines(TRIGGER, "[kill]", "max_kill = 3"), 5, "kill.max_kill", /did you mean "max_kills"/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', 'psi = { stall = "full", threshold_ms = 100, windw_ms = 2000 }'), 3, "trigger[0].psi.windw_ms", /did you mean "window_ms"/);
    oneIssue(lines(TRIGGER, "[protect]", "bananas = 1"), 5, "protect.bananas", /^unknown key "bananas"$/);
    oneIssue(lines(TRIGGER, "[protect]", 'executable = ["/usr/sbin/sshd"]'), 5, "protect.executable", /^unknown key "executable" \(did you mean "executables"\?\)$/);
    oneIssue(lines(TRIGGER, "[protect]", "trusted_uid = [0]"), 5, "protect.trusted_uid", /did you mean "trusted_uids"/);
  });

  test("executables: an absolute, plain path or pattern, as /proc/PID/exe shows it; trusted uids are uids", () => {
    const at = (value: string, message: RegExp, path = "protect.executables[0]") => oneIssue(lines(TRIGGER, "[protect]", `executables = [${value}]`), 5, path, message);
    at('"sshd"', /^an executable is named by its absolute path, as \/proc\/PID\/exe shows it \(e\.g\. "\/usr\/sbin\/sshd"\); got "sshd"; a command name \(comm\) goes in commands$/);
    at('"bin/sshd"', /absolute path.*got "bin\/sshd"$/);
    at('"/usr/sbin/../bin/x"', /must be a plain path \("\/usr\/bin\/x"\)/);
    at('"/usr//sbin/sshd"', /must be a plain path \("\/usr\/sbin\/sshd"\)/);
    at('"/usr/sbin/"', /is a file, not a folder/);
    at('"/"', /is a file, not a folder/);
    at('"/opt/x**/app"', /"\*\*" must be a whole path component/);
    at('"/usr/sbin/sshd (deleted)"', /can never match: a deleted executable matches no rule/);
    at('"/usr/sbin/sshd", "relative"', /got "relative"/, "protect.executables[1]");
    oneIssue(lines(TRIGGER, "[protect]", "trusted_uids = [-1]"), 5, "protect.trusted_uids[0]", /must be at least 0/);
    oneIssue(lines(TRIGGER, "[protect]", 'trusted_uids = ["root"]'), 5, "protect.trusted_uids[0]", /expected a number, got a string/);
    const ok = parseConfig(lines(TRIGGER, "[protect]", 'executables = ["/usr/sbin/sshd", "/usr/lib/postgresql/*/bin/postgres", "/opt/**/bin/app"]', "trusted_uids = [0, 110]"), "t.toml").config.protect;
    assert.deepEqual([ok.executables, ok.trusted_uids], [["/usr/sbin/sshd", "/usr/lib/postgresql/*/bin/postgres", "/opt/**/bin/app"], [0, 110]]);
  });

  test("several unknown keys in one table: one issue each, each at its own line", () => {
    const issues = issuesOf(lines(TRIGGER, "[kill]", "a_key = 1", "b_key = 2"));
    assert.deepEqual(issues.map((i) => [i.line, i.path]), [[5, "kill.a_key"], [6, "kill.b_key"]]);
  });

  test("wrong type", () => {
    oneIssue(lines('dry_run = "yes"', TRIGGER), 1, "dry_run", /expected a boolean, got a string \("yes"\)/);
    oneIssue(lines(TRIGGER, "[kill]", "victim_timeout_ms = 1.5"), 5, "kill.victim_timeout_ms", /expected an integer/);
    oneIssue(lines(TRIGGER, "[protect]", 'cgroups = "/a"'), 5, "protect.cgroups", /expected an array, got a string/);
  });

  test("an enum value with a suggestion", () => {
    oneIssue(lines('log_level = "warning"', TRIGGER), 1, "log_level", /must be one of "debug", "info", "warn", "error"; got a string \("warning"\) \(did you mean "warn"\?\)/);
  });

  test("a missing key is placed at its table", () => {
    oneIssue(lines(TRIGGER, "", "[[attach]]", 'policy = "kernel"'), 5, "attach[0].cgroup", /missing: a string is required/);
  });

  test("two attachments on one cgroup: the error names both places", () => {
    const text = lines(TRIGGER, "[[attach]]", 'cgroup = "/work"', 'policy = "kernel"', "", "[[attach]]", 'cgroup = "/work/"', 'policy = "rules"');
    oneIssue(text, 9, "attach[1].cgroup", /cgroup \/work already has a policy attached by attach\[0\] \(line 4\)/);
  });

  test("policy and file together, or neither", () => {
    oneIssue(lines(TRIGGER, "[[attach]]", 'cgroup = "/"', 'policy = "kernel"', 'file = "/etc/oomkit/p.ts"'), 4, "attach[0]", /exactly one of policy/);
    oneIssue(lines(TRIGGER, "[[attach]]", 'cgroup = "/"'), 4, "attach[0]", /exactly one of policy/);
    oneIssue(lines(TRIGGER, "[[attach]]", 'cgroup = "/"', 'file = "/etc/oomkit/p.py"'), 6, "attach[0].file", /ends in \.ts, \.mts, \.js, \.mjs/);
  });

  test("cgroup paths: relative, .., a pattern where one cgroup is meant", () => {
    oneIssue(lines(TRIGGER, "[[attach]]", 'cgroup = "work"', 'policy = "kernel"'), 5, "attach[0].cgroup", /starts with "\/"/);
    oneIssue(lines(TRIGGER, "[[attach]]", 'cgroup = "/a/../b"', 'policy = "kernel"'), 5, "attach[0].cgroup", /may not contain "\.\."/);
    oneIssue(lines(TRIGGER, "[[attach]]", 'cgroup = "/a/*"', 'policy = "kernel"'), 5, "attach[0].cgroup", /allowed in trigger cgroups only/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/a/x**"', "memory_events = [\"oom\"]"), 2, "trigger[0].cgroup", /"\*\*" must be a whole path component/);
  });

  test("a bad regular expression", () => {
    const text = lines(TRIGGER, "[protect]", "commands = [", '  "^ok$",', '  "(unclosed",', "]");
    oneIssue(text, 7, "protect.commands[1]", /not a valid regular expression: .*Unterminated group/);
  });

  test("PSI window out of the kernel's range, threshold not below the window", () => {
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', 'psi = { stall = "some", threshold_ms = 100, window_ms = 20000 }'), 3, "trigger[0].psi.window_ms", /must be at most 10000; got a number \(20000\)/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', 'psi = { stall = "some", threshold_ms = 100, window_ms = 400 }'), 3, "trigger[0].psi.window_ms", /must be at least 500/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', 'psi = { stall = "some", threshold_ms = 2000, window_ms = 2000 }'), 3, "trigger[0].psi.threshold_ms", /must be less than the window/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', 'psi = { stall = "most", threshold_ms = 100, window_ms = 2000 }'), 3, "trigger[0].psi.stall", /must be one of "some", "full"/);
  });

  test("percent above 100", () => {
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', "mem_available = { below_percent = 101 }"), 3, "trigger[0].mem_available.below_percent", /must be at most 100/);
  });

  test("a bad size string", () => {
    oneIssue(lines("[[trigger]]", 'cgroup = "/a"', 'guard_band = { margin_bytes = "4MB" }'), 3, "trigger[0].guard_band.margin_bytes", /"4MB": write M or MiB/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', 'mem_available = { below_bytes = "a lot" }'), 3, "trigger[0].mem_available.below_bytes", /not a size/);
  });

  test("trigger kinds: none, two, machine-only figures on a cgroup, events on the root, sustained on events", () => {
    oneIssue(lines("[[trigger]]", 'cgroup = "/"'), 1, "trigger[0]", /needs one of: psi, mem_available \/ swap_free, memory_events, guard_band/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/a"', 'memory_events = ["oom"]', 'guard_band = { margin_percent = 5 }'), 1, "trigger[0]", /has memory_events and guard_band: split it/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/a"', "swap_free = { below_percent = 5 }"), 2, "trigger[0].cgroup", /figures of the whole machine/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/"', 'memory_events = ["oom"]'), 2, "trigger[0].cgroup", /root cgroup has no memory\.events/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/a"', 'memory_events = ["oom"]', "sustained_ms = 100"), 4, "trigger[0].sustained_ms", /applies to psi and mem_available/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/a"', 'memory_events = ["oom", "kill"]'), 3, "trigger[0].memory_events[1]", /must be one of .*"oom_kill"/);
    oneIssue(lines("[[trigger]]", 'cgroup = "/a"', 'guard_band = { margin_bytes = 1, margin_percent = 5 }'), 3, "trigger[0].guard_band", /exactly one of margin_bytes or margin_percent/);
  });

  test("hook: program must be an absolute path", () => {
    oneIssue(lines(TRIGGER, "[kill]", 'pre_kill_hook = { command = ["notify-send", "oom"] }'), 5, "kill.pre_kill_hook.command[0]", /absolute path/);
  });

  test("every error in the file at once, in the order of the file", () => {
    const text = lines(
      "dryrun = true", // 1
      'log_level = "loud"', // 2
      "[[attach]]", // 3
      'cgroup = "/"', // 4
      'policy = "kernel"', // 5
      "[[attach]]", // 6
      'cgroup = "/"', // 7
      'policy = "rules"', // 8
      "[protect]", // 9
      'commands = ["("]', // 10
      "[[trigger]]", // 11
      'cgroup = "/"', // 12
      "mem_available = { below_percent = 200 }", // 13
      "[[trigger]]", // 14
      'cgroup = "/"', // 15
      'psi = { stall = "full", threshold_ms = 100, window_ms = 100 }', // 16
    );
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => [i.line, i.path]),
      [
        [1, "dryrun"],
        [2, "log_level"],
        [7, "attach[1].cgroup"],
        [10, "protect.commands[0]"],
        [13, "trigger[0].mem_available.below_percent"],
        [16, "trigger[1].psi.threshold_ms"], // 100 ms is not less than a 100 ms window either
        [16, "trigger[1].psi.window_ms"],
      ],
    );
    try {
      parseConfig(text, "oomkit.toml");
    } catch (err) {
      assert.match((err as Error).message, /^oomkit\.toml: 7 errors in the configuration:\n {2}oomkit\.toml:1:1: dryrun: unknown key/);
    }
  });
});

describe("parseConfig: warnings", () => {
  test("a PSI window that unprivileged kernels refuse", () => {
    const { warnings } = parseConfig(lines("[[trigger]]", 'cgroup = "/"', 'psi = { stall = "full", threshold_ms = 100, window_ms = 1000 }'), "w.toml");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^w\.toml:3:\d+: trigger\[0\]\.psi\.window_ms: window 1000 ms: without CAP_SYS_RESOURCE.*multiples of 2000 ms/);
  });

  test("a command pattern longer than comm can be", () => {
    const { warnings } = parseConfig(lines(TRIGGER, "[protect]", 'commands = ["^chromium-browser-stable$", "^short$"]'), "w.toml");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^w\.toml:5:\d+: protect\.commands\[0\]: .*can never match.*"chromium-browse"/);
  });

  test("names with no uid trusted spare no one", () => {
    const { warnings } = parseConfig(lines(TRIGGER, "[protect]", 'commands = ["^sshd$"]', "trusted_uids = []"), "w.toml");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /^w\.toml:6:\d+: protect\.trusted_uids: no trusted uids: \[protect\] commands spare no task/);
  });

  test("a cgroup path written with the mount point", () => {
    const { warnings } = parseConfig(lines(TRIGGER, "[[attach]]", 'cgroup = "/sys/fs/cgroup/work"', 'policy = "kernel"'), "w.toml");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /attach\[0\]\.cgroup: cgroup paths are relative to the cgroup v2 mount: did you mean "\/work"\?/);
  });
});

describe("docs/configuration.md", () => {
  const doc = fs.readFileSync(`${REPO}docs/configuration.md`, "utf8");
  const tomlBlocks = [...doc.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");

  test("shows the built-in default and the deploy example as they are", () => {
    assert.ok(tomlBlocks.includes(DEFAULT_CONFIG_TOML), "the default configuration, verbatim");
    assert.ok(tomlBlocks.includes(EXAMPLE), "deploy/oomkit.toml, verbatim");
  });

  test("names every key of the schema", () => {
    const keys = new Set<string>();
    const walk = (s: unknown): void => {
      const def = (s as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      if (!def) return;
      if (def.type === "object") {
        for (const [k, v] of Object.entries(def.shape as Record<string, unknown>)) {
          keys.add(k);
          walk(v);
        }
      }
      for (const inner of [def.innerType, def.element, def.in]) if (inner) walk(inner);
    };
    walk(configSchema());
    assert.ok(keys.size > 30, `walked the schema: ${[...keys].join(", ")}`);
    const missing = [...keys].filter((k) => ![`\`${k}\``, `\`[${k}]\``, `\`[[${k}]]\``].some((form) => doc.includes(form)));
    assert.deepEqual(missing, []);
  });
});
