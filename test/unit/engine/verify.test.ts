/**
 * The verifier's protections by name, from an unprivileged user's side. A user chooses a task's
 * comm (prctl, argv[0], the name of a copied binary) and its executable (any binary they can
 * read, with their own code preloaded; PR_SET_MM_MAP in a user namespace of their own), but not
 * its real uid: `[protect] commands` and `executables` spare only tasks of a trusted uid.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../../src/engine/engine.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { NO_PROTECTIONS, type Protections, taskProtection } from "../../../src/engine/verify.js";
import { VictimRegistry } from "../../../src/engine/victims.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import type { Host } from "../../../src/os/host.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { pathGlobToRegExp } from "../../../src/config/glob.js";
import { buildFixture } from "../../support/fixture.js";
import { FaultyHost } from "../../support/faulty-host.js";

const MB_KB = 1024;
const USER = 1000;
const POSTGRES = 110;

const machine = buildFixture({
  tasks: [
    { pid: 1, comm: "systemd", exe: "/usr/lib/systemd/systemd", rssAnonKb: 10 * MB_KB },
    { pid: 300, comm: "systemd-journal", exe: "/usr/lib/systemd/systemd-journald", rssAnonKb: 50 * MB_KB },
    { pid: 400, comm: "sshd", exe: "/usr/sbin/sshd", rssAnonKb: 20 * MB_KB },
    // Root's sshd after a package upgrade replaced its file: the link reads "... (deleted)".
    { pid: 401, comm: "sshd", exe: "/usr/sbin/sshd (deleted)", rssAnonKb: 20 * MB_KB },
    // A root task named sshd that runs something else.
    { pid: 402, comm: "sshd", exe: "/opt/tools/sshd", rssAnonKb: 20 * MB_KB },
    { pid: 500, comm: "postgres", exe: "/usr/lib/postgresql/16/bin/postgres", uid: POSTGRES, rssAnonKb: 400 * MB_KB },
    // The user's: `cp /usr/bin/sleep ~/systemd-hog`, a copy of sshd, and the real sshd run with LD_PRELOAD.
    { pid: 1000, comm: "systemd-hog", exe: "/home/u/systemd-hog", uid: USER, rssAnonKb: 900 * MB_KB },
    { pid: 1001, comm: "sshd", exe: "/home/u/sshd", uid: USER, rssAnonKb: 800 * MB_KB },
    { pid: 1002, comm: "sshd", exe: "/usr/sbin/sshd", uid: USER, cmdline: ["/usr/sbin/sshd", "-D"], rssAnonKb: 700 * MB_KB },
  ],
});

const exe = (...patterns: string[]) => patterns.map((pattern) => ({ pattern, regex: pathGlobToRegExp(pattern) }));

/** Why the verifier spares each of these pids under these protections ("" when it does not). */
function spared(protections: Protections, pids: readonly number[], host: Host = new FixtureHost(machine)): Record<number, string> {
  const snapshot = takeSnapshot(host);
  const ctx = { snapshot, scope: undefined, protections, victims: new VictimRegistry() };
  return Object.fromEntries(pids.map((pid) => {
    const t = snapshot.task(pid);
    assert.ok(t, `pid ${pid}`);
    return [pid, taskProtection(t, ctx) ?? ""];
  }));
}

describe("[protect] commands and executables, from a user's side", () => {
  test('a user\'s copy of sleep named systemd-hog is not spared by commands = ["^systemd"]; root\'s systemd-journald is', () => {
    const p: Protections = { ...NO_PROTECTIONS, omitCommands: [/^systemd/, /^sshd$/] };
    assert.deepEqual(spared(p, [300, 1000, 400, 1001]), {
      300: "omit: command matches /^systemd/",
      1000: "",
      400: "omit: command matches /^sshd$/",
      1001: "",
    });
  });

  test("an executable rule spares root's /usr/sbin/sshd, not a user's copy at /home/u/sshd, nor the real sshd run by a user", () => {
    const p: Protections = { ...NO_PROTECTIONS, omitExecutables: exe("/usr/sbin/sshd") };
    assert.deepEqual(spared(p, [400, 402, 1001, 1002]), {
      400: "omit: executable /usr/sbin/sshd is protected by configuration",
      402: "",
      1001: "",
      1002: "",
    });
  });

  test("a deleted executable matches nothing: root's sshd after an upgrade replaced its file is not spared by path", () => {
    const p: Protections = { ...NO_PROTECTIONS, omitExecutables: exe("/usr/sbin/sshd", "/usr/sbin/sshd (deleted)") };
    assert.deepEqual(spared(p, [400, 401]), { 400: "omit: executable /usr/sbin/sshd is protected by configuration", 401: "" });
  });

  test("trusted uids: a service's own uid can be trusted, globs reach versioned paths, and no trusted uid spares no one by name", () => {
    const postgres = exe("/usr/lib/postgresql/*/bin/postgres");
    assert.deepEqual(spared({ ...NO_PROTECTIONS, omitExecutables: postgres }, [500]), { 500: "" }, "root's alone by default");
    assert.deepEqual(spared({ ...NO_PROTECTIONS, omitExecutables: postgres, trustedUids: [0, POSTGRES] }, [500]), {
      500: "omit: executable /usr/lib/postgresql/16/bin/postgres is protected by configuration",
    });
    const none: Protections = { ...NO_PROTECTIONS, omitCommands: [/^systemd/], omitExecutables: exe("/usr/sbin/sshd"), trustedUids: [] };
    assert.deepEqual(spared(none, [300, 400]), { 300: "", 400: "" });
  });

  test("the default loop kills the user's largest task, whatever it is called or runs", async () => {
    const protections: Protections = { ...NO_PROTECTIONS, omitCommands: [/^systemd/, /^sshd$/], omitExecutables: exe("/usr/sbin/sshd") };
    const engine = new Engine({ defaultPolicy: { policy: kernelPolicy, options: {} }, protections });
    const r = await engine.explain(takeSnapshot(new FixtureHost(machine)), "/", { kind: "system", trigger: "test", message: "t", figures: {} });
    assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [1000]);
  });

  test("a name that cannot be checked is refused, not ignored: a trusted task whose exe or status could not be read", () => {
    const p: Protections = { ...NO_PROTECTIONS, omitExecutables: exe("/usr/sbin/sshd") };
    const host = new FaultyHost(new FixtureHost(machine)).fail("/proc/400/exe", "EIO").fail("/proc/1001/status", "EIO");
    assert.deepEqual(spared(p, [400, 1001, 402], host), {
      400: "exe unreadable: EIO: whether [protect] executables spare it cannot be checked",
      1001: "status unreadable: EIO: whether [protect] names spare it cannot be checked",
      402: "",
    });
    // Without a protection by name the unreadable files change nothing here.
    assert.deepEqual(spared(NO_PROTECTIONS, [400, 1001], new FaultyHost(new FixtureHost(machine)).fail("/proc/400/exe", "EIO").fail("/proc/1001/status", "EIO")), { 400: "", 1001: "" });
  });
});
