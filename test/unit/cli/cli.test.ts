import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { wireDaemon } from "../../../src/cli/run.js";
import { OomkitError } from "../../../src/errors.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { DUMP_SCHEMA, type Dump } from "../../../src/report/dump.js";
import { buildFixture } from "../../support/fixture.js";

const MiB = 1024 * 1024;

async function cli(argv: string[], clock = new ManualClock(5_000, Date.UTC(2026, 10, 21, 12, 0, 0))) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost(clock), clock });
  return { code, stdout, stderr };
}

const fixture = buildFixture({
  memTotalKb: 1_000_000,
  cgroups: {
    "/work": { max: 600 * MiB, current: 500 * MiB, pressureSome10: 7.25 },
    "/work/a": { current: 400 * MiB, max: 400 * MiB, events: { oom_kill: 3 } },
    "/work/b": { current: 100 * MiB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/", rssAnonKb: 2000 },
    { pid: 10, comm: "big (leak) x", cgroup: "/work/a", rssAnonKb: 400_000 },
    { pid: 11, comm: "small", cgroup: "/work/b", rssAnonKb: 100_000, oomScoreAdj: 400, exe: "/usr/bin/small" },
    { pid: 12, comm: "guarded", cgroup: "/work/b", rssAnonKb: 300_000, oomScoreAdj: -1000 },
  ],
});

describe("oomkit dump", () => {
  test("text: tree, limits, pressure and the top tasks", async () => {
    const r = await cli(["dump", "--root", fixture]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pure cgroup v2 at \/sys\/fs\/cgroup: per-cgroup mode/);
    assert.match(r.stdout, /^ {2}work +500 MiB +max +600 MiB/m);
    assert.match(r.stdout, /^ {4}a +400 MiB +max +400 MiB +0 B +1 +3 /m);
    assert.match(r.stdout, /7\.25\//);
    const tasksPart = r.stdout.slice(r.stdout.indexOf("top tasks"));
    // small (100 MB, adj +400) outranks big (400 MB) on a 1 GB machine: 25,000 + 400 * 250 > 100,000 pages
    assert.ok(tasksPart.indexOf("small") < tasksPart.indexOf("big (leak) x"));
    assert.match(tasksPart, /\(oom-score-adj-min\).*guarded/);
    assert.match(tasksPart, /\(init\).*init/);
  });

  test("--json follows the documented schema", async () => {
    const r = await cli(["dump", "--root", fixture, "--json"]);
    assert.equal(r.code, 0);
    const d = JSON.parse(r.stdout) as Dump;
    assert.equal(d.schema, DUMP_SCHEMA);
    assert.equal(d.takenAt, "2026-11-21T12:00:00.000Z", "the injected clock is used");
    assert.equal(d.cgroupMode.mode, "v2");
    assert.equal(d.system.memTotalBytes, 1_000_000 * 1024);
    assert.equal(d.system.totalPages, 250_000);
    const work = d.cgroups.find((c) => c.path === "/work");
    assert.equal(work?.memory.maxBytes, 600 * MiB);
    assert.equal(work?.memory.highBytes, "max");
    assert.equal(work?.pressure.memory?.some.avg10, 7.25);
    assert.equal(d.cgroups.find((c) => c.path === "/")?.memory.currentBytes, null);
    assert.deepEqual(d.tasks.map((t) => t.pid), [11, 10, 1, 12]);
    const small = d.tasks[0];
    assert.equal(small?.badness, 25_000 + 400 * 250 + 12);
    assert.equal(small?.cgroup, "/work/b");
  });

  test("--cgroup ranks for an OOM inside that cgroup, with its limit as totalpages", async () => {
    const r = await cli(["dump", "--root", fixture, "--json", "--cgroup", "/work"]);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as Dump;
    assert.equal(d.scope, "/work");
    assert.deepEqual(d.cgroups.map((c) => c.path), ["/work", "/work/a", "/work/b"]);
    assert.deepEqual(d.tasks.map((t) => t.pid), [10, 11, 12]);
    // totalpages = memory.max (600 MiB = 153,600 pages): adj 400 * 153 no longer lifts small above big
    assert.equal(d.tasks[1]?.badness, 25_000 + 12 + 400 * 153);
    assert.equal(d.scopeTotalPages, 153_600, "the totalpages it ranks by is the scope's");
    assert.equal(d.system.totalPages, 250_000);
    const text = await cli(["dump", "--root", fixture, "--cgroup", "/work"]);
    assert.match(text.stdout, /top tasks by badness for an OOM in \/work \(totalpages 153600, the scope's; the machine's is 250000\)/);
  });

  test("--top limits the task list", async () => {
    const d = JSON.parse((await cli(["dump", "--root", fixture, "--json", "--top", "2"])).stdout) as Dump;
    assert.equal(d.tasks.length, 2);
  });
});

describe("oomkit doctor", () => {
  test("a v2 fixture: per-cgroup mode, every piece present", async () => {
    const r = await cli(["doctor", "--root", fixture, "--json"]);
    assert.equal(r.code, 0);
    const report = JSON.parse(r.stdout) as { checks: { id: string; status: string }[]; usable: boolean };
    const status = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
    assert.equal(status["cgroup-mode"], "ok");
    assert.equal(status["memory-controller"], "ok");
    assert.equal(status["psi-cgroup"], "ok");
    assert.equal(status["cgroup-kill"], "ok");
    assert.equal(status["memory-reclaim"], "ok");
    assert.equal(status["cap-sys-resource"], "ok");
    assert.equal(report.usable, true);
  });
  test("cgroup.kill on a v2 tree without child cgroups: judged by the kernel version", async () => {
    const bare = buildFixture({});
    const r = JSON.parse((await cli(["doctor", "--root", bare, "--json"])).stdout) as { checks: { id: string; status: string; detail: string }[] };
    const kill = r.checks.find((c) => c.id === "cgroup-kill");
    assert.equal(kill?.status, "ok");
    assert.match(kill?.detail ?? "", /kernel 5\.14 or later; no child cgroup/);
  });

  test("a hybrid fixture: system-level mode, said plainly", async () => {
    const r = await cli(["doctor", "--root", buildFixture({ mode: "hybrid" })]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\[warn\] cgroup mode: hybrid cgroups/);
    assert.match(r.stdout, /system-level mode/);
    assert.match(r.stdout, /\[MISS\] cgroup.kill/);
  });
});

describe("oomkit record", () => {
  test("a fixture recorded from a fixture dumps the same", async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-rec-")), "capture");
    const r = await cli(["record", "--root", fixture, "--fixture", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /recorded \d+ files \(4 cgroups\)/);
    const a = JSON.parse((await cli(["dump", "--root", fixture, "--json"])).stdout) as Dump;
    const b = JSON.parse((await cli(["dump", "--root", out, "--json"])).stdout) as Dump;
    assert.deepEqual({ ...b, source: "" }, { ...a, source: "" });
    assert.equal(b.tasks.find((t) => t.pid === 11)?.exe, "/usr/bin/small", "the executable's link is recorded as a link");
    assert.equal(fs.readlinkSync(path.join(out, "proc/11/exe")), "/usr/bin/small");
  });
  test("--cgroup keeps to a subtree", async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-rec-")), "capture");
    assert.equal((await cli(["record", "--root", fixture, "--fixture", out, "--cgroup", "/work/b"])).code, 0);
    assert.ok(fs.existsSync(path.join(out, "sys/fs/cgroup/work/b/memory.current")));
    assert.ok(fs.existsSync(path.join(out, "proc/11/status")));
    assert.ok(!fs.existsSync(path.join(out, "sys/fs/cgroup/work/a/memory.current")));
    assert.ok(!fs.existsSync(path.join(out, "proc/10")));
  });
  test("refuses to write into a folder that is not empty", async () => {
    const r = await cli(["record", "--root", fixture, "--fixture", fixture]);
    assert.equal(r.code, EXIT.usage);
    assert.match(r.stderr, /not empty/);
  });
  test("from the live machine: a process we started reads back from the capture", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-rec-")), "live");
      const r = await cli(["record", "--fixture", out, "--pid", String(child.pid)]);
      assert.equal(r.code, 0, r.stderr);
      const d = JSON.parse((await cli(["dump", "--root", out, "--json", "--top", "50"])).stdout) as Dump;
      const t = d.tasks.find((x) => x.pid === child.pid);
      assert.equal(t?.comm, "sleep");
      const onPath = (process.env.PATH ?? "").split(":").map((d) => path.join(d, "sleep")).find((f) => fs.existsSync(f));
      assert.equal(t?.exe, onPath && fs.realpathSync(onPath), "the executable, as /proc/PID/exe shows it");
      assert.equal(t?.oomScore, t?.kernelOomScore, "the capture holds the kernel's oom_score and it agrees");
      assert.ok(d.system.memTotalBytes !== null && d.system.memTotalBytes > 0);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("errors and exit codes", () => {
  const rows: { argv: string[]; code: number; stderr: RegExp }[] = [
    { argv: [], code: EXIT.usage, stderr: /usage: oomkit <command>/ },
    { argv: ["frobnicate"], code: EXIT.usage, stderr: /unknown command "frobnicate"/ },
    { argv: ["dump", "--bogus"], code: EXIT.usage, stderr: /^oomkit dump: Unknown option '--bogus'.*\n$/ },
    { argv: ["dump", "--root", "/nonexistent/oomkit"], code: EXIT.path, stderr: /^oomkit dump: fixture folder \/nonexistent\/oomkit does not exist\n$/ },
    { argv: ["dump", "--root", fixture, "--top", "0"], code: EXIT.usage, stderr: /--top must be a positive integer/ },
    { argv: ["dump", "--root", fixture, "--cgroup", "/nope"], code: EXIT.path, stderr: /no cgroup \/nope/ },
    { argv: ["record"], code: EXIT.usage, stderr: /--fixture DIR is required/ },
    { argv: ["explain", "--root", fixture, "--scope", "/../x"], code: EXIT.usage, stderr: /^oomkit explain: a cgroup path may not contain "\.\.": \/\.\.\/x\n$/ },
    { argv: ["dump", "--root", fixture, "--cgroup", "/a/../../x"], code: EXIT.usage, stderr: /may not contain "\.\."/ },
    { argv: ["oom", "--socket", "/nonexistent/oomkit.sock"], code: EXIT.path, stderr: /^oomkit oom: no oomkit daemon answers on \/nonexistent\/oomkit.sock/ },
    { argv: ["events", "--socket", "/nonexistent/oomkit.sock"], code: EXIT.path, stderr: /^oomkit events: no oomkit daemon answers on \/nonexistent\/oomkit.sock/ },
    { argv: ["events", "--log", "/nonexistent/oomkit.jsonl"], code: EXIT.path, stderr: /^oomkit events: no event log at \/nonexistent\/oomkit.jsonl/ },
  ];
  for (const r of rows) {
    test(`oomkit ${r.argv.join(" ") || "(nothing)"} → exit ${r.code}, one clear line`, async () => {
      const out = await cli(r.argv);
      assert.equal(out.code, r.code);
      assert.match(out.stderr, r.stderr);
      assert.doesNotMatch(out.stderr, /at .*\.js:\d+/, "no stack trace for a user error");
    });
  }
  test("--help prints a command's usage", async () => {
    const r = await cli(["dump", "--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /usage: oomkit dump/);
  });
  test("a bug prints a stack and exits 1", async () => {
    let stderr = "";
    const code = await runCli({
      argv: ["dump"],
      stdout: () => {},
      stderr: (t) => (stderr += t),
      makeHost: () => {
        throw new TypeError("boom");
      },
    });
    assert.equal(code, EXIT.internal);
    assert.match(stderr, /internal error[\s\S]*TypeError: boom\n\s+at /);
  });
});

describe("oomkit events --log on a log with bad lines", () => {
  test("prints the good records and says on stderr what it skipped, with --json too", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-events-"));
    const file = path.join(dir, "oomkit.jsonl");
    const at = "2026-01-01T00:00:00.000Z";
    const good = {
      schema: "oomkit.episode/1", id: "ep-1", mode: "live", kind: "cgroup", scope: "/work", source: "test", policy: "p", handled: true,
      cause: { kind: "cgroup", trigger: "manual", message: "m", figures: {} }, chain: [], candidates: [], candidatesTotal: 0, plan: [], actions: [],
      times: { declaredAt: at, decidedAt: at, finishedAt: at, decisionMs: 1, actionMs: 2 },
    };
    const { chain: _c, ...missing } = good;
    fs.writeFileSync(file, [JSON.stringify(good), JSON.stringify(missing), "{torn"].join("\n"));
    fs.writeFileSync(`${file}.0x10`, "stray");
    for (const json of [false, true]) {
      const r = await cli(["events", "--log", file, ...(json ? ["--json"] : [])]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split("\n").length, 1, "one good record");
      assert.match(r.stderr, /skipped 1 torn line/);
      assert.match(r.stderr, /skipped 1 record\(s\) missing what a record must have \(first: chain: /);
    }
  });
});

describe("oom and events meet the same socket problem: the same message, the same exit code", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-clients-"));
  fs.writeFileSync(path.join(dir, "file"), "");
  fs.mkdirSync(path.join(dir, "folder"));
  const MAIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../src/cli/main.js");

  /** Runs `oomkit <cmd> --socket sock` in-process, or as another user in a child process. */
  async function both(sock: string, asUid?: number): Promise<{ oom: { code: number; stderr: string }; events: { code: number; stderr: string } }> {
    const one = async (cmd: string) => {
      if (asUid === undefined) return await cli([cmd, "--socket", sock]);
      const child = spawn(process.execPath, [MAIN, cmd, "--socket", sock], { uid: asUid, gid: asUid, stdio: ["ignore", "ignore", "pipe"], cwd: "/" });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const code = await new Promise<number>((r) => child.on("exit", (c) => r(c ?? -1)));
      return { code, stderr };
    };
    return { oom: await one("oom"), events: await one("events") };
  }
  /** The message without the command's name, first line only (a command may add a hint below). */
  const said = (stderr: string, cmd: string) => stderr.split("\n")[0]?.replace(`oomkit ${cmd}: `, "");

  const cases: { what: string; sock: () => Promise<string>; code: number; message: RegExp; asNobody?: boolean }[] = [
    { what: "no socket there", sock: async () => path.join(dir, "missing.sock"), code: EXIT.path, message: /^no oomkit daemon answers on .*missing\.sock \(is `oomkit run` running\?\)$/ },
    { what: "a folder that does not exist", sock: async () => "/nonexistent/oomkit.sock", code: EXIT.path, message: /^no oomkit daemon answers on \/nonexistent\/oomkit\.sock/ },
    { what: "a path through a regular file", sock: async () => path.join(dir, "file", "oomkit.sock"), code: EXIT.path, message: /^no oomkit daemon answers on .*file\/oomkit\.sock/ },
    { what: "a regular file", sock: async () => path.join(dir, "file"), code: EXIT.path, message: /^no oomkit daemon answers on / },
    { what: "a folder", sock: async () => path.join(dir, "folder"), code: EXIT.path, message: /^no oomkit daemon answers on / },
    {
      what: "a socket left by a daemon that died",
      sock: async () => {
        const p = path.join(dir, "stale.sock");
        const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(p)}, () => process.kill(process.pid, "SIGKILL"))`], { stdio: "ignore" });
        await new Promise((r) => child.on("exit", r));
        assert.ok(fs.lstatSync(p).isSocket(), "a socket file with no one behind it");
        return p;
      },
      code: EXIT.path,
      message: /^no oomkit daemon answers on .*stale\.sock/,
    },
    {
      what: "a daemon that closes the connection without answering (full, or stopping)",
      sock: async () => {
        const p = path.join(dir, "full.sock");
        const server = net.createServer((c) => c.destroy());
        await new Promise<void>((r) => server.listen(p, r));
        server.unref();
        return p;
      },
      code: EXIT.path,
      message: /the daemon closed the connection without answering/,
    },
    {
      what: "a user who may not use the socket (root's 0600 socket in a 0700 folder)",
      sock: async () => {
        const locked = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-locked-"));
        fs.chmodSync(locked, 0o700);
        const p = path.join(locked, "oomkit.sock");
        const server = net.createServer((c) => c.end(`${JSON.stringify({ ok: true, status: {} })}\n`));
        await new Promise<void>((r) => server.listen(p, r));
        server.unref();
        fs.chmodSync(p, 0o600);
        // Root passes any mode: as root, the commands run as nobody; otherwise the folder is closed to us.
        if (process.getuid?.() !== 0) fs.chmodSync(locked, 0o000);
        return p;
      },
      code: EXIT.unsupported,
      message: /^.*oomkit\.sock: permission denied \(only root may talk to the daemon\)$/,
      asNobody: process.getuid?.() === 0,
    },
  ];
  for (const c of cases) {
    test(c.what, async () => {
      const sock = await c.sock();
      const r = await both(sock, c.asNobody ? 65534 : undefined);
      assert.equal(r.oom.code, c.code, r.oom.stderr);
      assert.equal(r.events.code, c.code, r.events.stderr);
      assert.match(said(r.oom.stderr, "oom") ?? "", c.message, r.oom.stderr);
      assert.equal(said(r.events.stderr, "events"), said(r.oom.stderr, "oom"), "the same message");
      assert.doesNotMatch(`${r.oom.stderr}${r.events.stderr}`, /at .*\.js:\d+/, "no stack trace");
    });
  }
});

describe("oomkit run: wired in one place", () => {
  /** A fixture that claims this machine's processes: the live wiring, on files a test controls (always with --dry-run). */
  class LiveLikeFixture extends FixtureHost {
    override readonly capabilities = { liveProcesses: true, pollableFds: false };
  }
  const machine = (spec: Parameters<typeof buildFixture>[0] = {}) => {
    const dir = buildFixture({ cgroups: { "/oomkit": { current: 10 * MiB }, "/jobs": { current: 3 * MiB } }, ...spec });
    if (spec.mode !== "hybrid") fs.writeFileSync(path.join(dir, "sys/fs/cgroup/jobs/memory.reclaim"), "");
    return dir;
  };

  test("wireDaemon: the cgroup mode first, then a kill path under that mode's mount", async () => {
    const host = new LiveLikeFixture(machine());
    const w = wireDaemon(host, { preKillHook: undefined });
    assert.equal(w.mode.mode, "v2");
    assert.equal(w.poller, undefined, "this Host's fds cannot be polled");
    assert.ok(w.backend, "a Host with live processes gets a kill path");
    assert.equal(w.backend.currentBytes(cgroupPath("/jobs")), 3 * MiB, "read under the detected mount");
    await w.backend.reclaim(cgroupPath("/jobs"), 4096);
    assert.deepEqual(host.writes, [{ path: "/sys/fs/cgroup/jobs/memory.reclaim", data: "4096" }]);

    const hybrid = wireDaemon(new LiveLikeFixture(machine({ mode: "hybrid" })), { preKillHook: undefined });
    assert.equal(hybrid.mode.perCgroup, false);
    await assert.rejects(hybrid.backend!.reclaim(cgroupPath("/jobs"), 4096), (e: unknown) => e instanceof OomkitError && e.code === "E_UNSUPPORTED", "system-level mode: no cgroup actions");

    const fixtureOnly = wireDaemon(new FixtureHost(machine()), { preKillHook: undefined });
    assert.deepEqual([fixtureOnly.mode.mode, fixtureOnly.backend, fixtureOnly.poller], ["v2", undefined, undefined], "a fixture's pids are not processes: no kill path");
  });

  async function runUntilWatching(argv: string[], makeHost: () => FixtureHost) {
    const handlers = new Map<string, () => void>();
    let stderr = "";
    let watching!: () => void;
    const ready = new Promise<void>((resolve) => (watching = resolve));
    const running = runCli({
      argv: ["run", "--dry-run", "--socket", "none", "--event-log", "none", "--metrics-listen", "none", ...argv],
      stdout: () => {},
      stderr: (t) => {
        stderr += t;
        if (stderr.includes("oomkit: watching\n")) watching();
      },
      makeHost,
      onSignal: (sig, fn) => handlers.set(sig, fn),
    });
    await Promise.race([ready, running.then((code) => assert.fail(`run exited early with ${code}:\n${stderr}`))]);
    const stop = async () => {
      const term = handlers.get("SIGTERM");
      assert.ok(term, "run listens for SIGTERM");
      term();
      return await running;
    };
    return { stderr: () => stderr, stop };
  }

  test("--dry-run --root: runs on the fixture in the mode found there, and stops on SIGTERM", async () => {
    const dir = machine();
    const host = new FixtureHost(dir);
    const r = await runUntilWatching(["--root", dir], () => host);
    assert.match(r.stderr(), /running in dry-run \(nothing will be killed\) on fixture .*: pure cgroup v2 at \/sys\/fs\/cgroup/);
    assert.equal(await r.stop(), 0);
    assert.match(r.stderr(), /SIGTERM: stopping/);
    assert.deepEqual(host.writes, [], "a fixture is not oomkit's own machine: no self-protection written");
  });

  test("a Host with live processes: oomkit protects itself there, in the cgroup the mode names", async () => {
    const dir = machine();
    fs.writeFileSync(path.join(dir, "proc/self/oom_score_adj"), "0\n");
    fs.writeFileSync(path.join(dir, "proc/self/cgroup"), "0::/oomkit\n");
    const host = new LiveLikeFixture(dir);
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-run-state-"));
    const r = await runUntilWatching(["--memory-min", "64M", "--state-dir", state], () => host);
    assert.equal(await r.stop(), 0, r.stderr());
    assert.deepEqual(host.writes, [
      { path: "/proc/self/oom_score_adj", data: "-1000" },
      { path: "/sys/fs/cgroup/oomkit/memory.min", data: String(64 * MiB) },
    ]);
  });
});

describe("files root obeys: the configuration and the pre-kill hook program", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-trust-"));
  fs.chmodSync(dir, 0o755);
  const hook = path.join(dir, "hook.sh");
  fs.writeFileSync(hook, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const conf = path.join(dir, "oomkit.toml");
  fs.writeFileSync(conf, `[[trigger]]\ncgroup = "/"\nmem_available = { below_percent = 5 }\n[kill.pre_kill_hook]\ncommand = ["${hook}"]\n`, { mode: 0o644 });

  test("safe files pass; a configuration others may write is refused by run and warned about by check", async () => {
    assert.equal((await cli(["check", "--config", conf])).code, 0);
    fs.chmodSync(conf, 0o666);
    try {
      const checked = await cli(["check", "--config", conf]);
      assert.equal(checked.code, 0, checked.stderr);
      assert.match(checked.stderr, /configuration file .*oomkit\.toml: the file .* is writable by others .*\(the daemon would refuse it\)/);
      const run = await cli(["run", "--dry-run", "--root", fixture, "--config", conf, "--socket", "none"]);
      assert.equal(run.code, EXIT.unsupported, run.stderr);
      assert.match(run.stderr, /configuration file .* is writable by others.*refusing to run as root/);
    } finally {
      fs.chmodSync(conf, 0o644);
    }
  });

  test("a pre-kill hook program in a folder others may write is refused by run", async () => {
    const open = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-open-"));
    fs.chmodSync(open, 0o777);
    const bad = path.join(open, "hook.sh");
    fs.writeFileSync(bad, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const c2 = path.join(dir, "hook.toml");
    fs.writeFileSync(c2, `[kill.pre_kill_hook]\ncommand = ["${bad}"]\n`, { mode: 0o644 });
    const run = await cli(["run", "--dry-run", "--root", fixture, "--config", c2, "--socket", "none"]);
    assert.equal(run.code, EXIT.unsupported, run.stderr);
    assert.match(run.stderr, /pre-kill hook program .*hook\.sh: the folder .* is writable by others \(mode 777\)/);
  });
});
