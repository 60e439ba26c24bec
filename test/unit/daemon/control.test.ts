/**
 * The control socket against hostile requests: every request is checked against its op's schema
 * before anything runs, a bad one gets an error and changes nothing, and the server stays up.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { compileConfig, parseConfig } from "../../../src/config/index.js";
import { ControlServer, request } from "../../../src/daemon/control.js";
import { daemonOps } from "../../../src/daemon/control-ops.js";
import { Daemon } from "../../../src/daemon/daemon.js";
import { ReportPipeline } from "../../../src/daemon/pipeline.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { MemoryLogger } from "../../../src/log.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import { buildFixture } from "../../support/fixture.js";

const MB = 1024 * 1024;
const PROTO_NAMES = ["__proto__", "toString", "constructor", "hasOwnProperty", "valueOf", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "__defineGetter__", "__lookupGetter__"];

/** Sends raw text; resolves with the reply lines once `n` arrived (or the peer closed). */
function raw(sock: string, text: string, n = 1): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock, () => c.write(text));
    let buf = "";
    const out: Record<string, unknown>[] = [];
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        out.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
      if (out.length >= n) {
        c.end();
        resolve(out);
      }
    });
    c.on("close", () => resolve(out));
    c.on("error", reject);
  });
}

describe("the control socket", () => {
  let sock = "";
  let server: ControlServer;
  const episodes: EpisodeRecord[] = [];
  let daemon: Daemon;
  let pipeline: ReportPipeline;

  before(async () => {
    const dir = buildFixture({
      cgroups: { "/jobs": { current: 100 * MB }, "/jobs/a": { current: 100 * MB, anon: 100 * MB } },
      tasks: [{ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 100 * 1024 }],
    });
    const parsed = parseConfig("", "empty.toml");
    const config = compileConfig(parsed.config, { builtins: new Map(BUILTIN_POLICIES), loadPolicyFile, enforceOwnership: false, source: parsed.source });
    const host = new FixtureHost(dir, { clock: new ManualClock(10_000) });
    const log = new MemoryLogger();
    daemon = new Daemon({ host, mode: detectCgroupMode(host), config, log, autoTick: false, dryRun: true, onEpisode: (r) => episodes.push(r) });
    await daemon.start();
    pipeline = new ReportPipeline({ settings: config.report, log, line: () => {}, host, stateDir: undefined });
    sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-ctl-")), "oomkit.sock");
    server = await ControlServer.listen(sock, { ...pipeline.handlers(), ...daemonOps(daemon) }, log);
  });
  after(async () => {
    await server.close();
    await daemon.stop();
  });

  test("Object.prototype's names are no ops: each gets an error, and the daemon answers after", async () => {
    for (const op of PROTO_NAMES) {
      const [r] = await raw(sock, `${JSON.stringify({ op })}\n`);
      assert.equal(r?.ok, false, op);
      assert.equal(r?.code, "E_USAGE", op);
      assert.match(String(r?.error), /unknown op/, op);
    }
    const [r] = await raw(sock, '{"__proto__":{"op":"status"}}\n');
    assert.equal(r?.ok, false, "an op inherited through __proto__ is no op");
    assert.equal((await request(sock, { op: "status" })).ok, true);
  });

  test("oom: a missing, null, numeric, relative or misspelt scope is refused, never read as the whole machine", async () => {
    const before = episodes.length;
    for (const req of [{ op: "oom" }, { op: "oom", scope: null }, { op: "oom", scope: 42 }, { op: "oom", scope: "" }, { op: "oom", scope: "jobs" }, { op: "oom", scop: "/jobs" }, { op: "oom", scope: "/jobs/../.." }, { op: "oom", scope: "/", extra: 1 }]) {
      const r = await request(sock, req);
      assert.equal(r.ok, false, JSON.stringify(req));
      assert.equal(r.code, "E_USAGE", JSON.stringify(req));
      assert.match(String(r.error), /^bad oom request: /);
    }
    assert.equal(episodes.length, before, "no episode ran");
    const ok = await request(sock, { op: "oom", scope: "/jobs" });
    assert.equal(ok.ok, true);
    assert.equal(episodes.length, before + 1);
  });

  test("oomkit oom on a cgroup that does not exist exits 3 with the daemon's reason", async () => {
    let err = "";
    const code = await runCli({ argv: ["oom", "/no/such/cgroup", "--socket", sock], stdout: () => {}, stderr: (t) => (err += t), makeHost: defaultMakeHost() });
    assert.equal(code, EXIT.path);
    assert.match(err, /the daemon refused: no cgroup \/no\/such\/cgroup/);
  });

  test("standing: the daemon's plan per scope; oomkit explain shows it, and --fresh decides afresh", async () => {
    await daemon.tick(); // upkeep: the machine's plan is made
    const r = await request(sock, { op: "standing" });
    assert.equal(r.ok, true);
    const list = r.standing as { scope: string; policy: string | null; record: EpisodeRecord }[];
    assert.deepEqual(list.map((e) => [e.scope, e.policy]), [["/", "kernel"]]);
    assert.equal((await request(sock, { op: "standing", scope: "/nowhere" })).ok, true);
    assert.equal((await request(sock, { op: "standing", scope: "nowhere" })).ok, false, "the scope is checked like oom's");
    let out = "";
    const code = await runCli({ argv: ["explain", "--socket", sock], stdout: (t) => (out += t), stderr: () => {}, makeHost: defaultMakeHost() });
    assert.equal(code, 0);
    assert.match(out, /the running daemon's standing decision for \/, made [0-9.]+ s ago: the plan of kernel stands/);
    assert.match(out, /kill pid 10/);
    let fresh = "";
    await runCli({ argv: ["explain", "--fresh", "--socket", sock], stdout: (t) => (fresh += t), stderr: () => {}, makeHost: defaultMakeHost() });
    assert.doesNotMatch(fresh, /standing decision/, "--fresh decides on this machine, not the daemon's fixture");
  });

  test("events: a bad since or follow is refused", async () => {
    for (const req of [{ op: "events", since: -1 }, { op: "events", since: {} }, { op: "events", follow: "yes" }]) {
      const r = await request(sock, req);
      assert.equal(r.ok, false, JSON.stringify(req));
    }
  });

  test("a line longer than the limit is refused and the connection closed", async () => {
    const replies = await raw(sock, `{"op":"status","pad":"${"x".repeat(70 * 1024)}"}\n`);
    assert.equal(replies[0]?.ok, false);
    assert.match(String(replies[0]?.error), /too large/);
  });

  test("fuzz: random requests get one well-formed reply each, start no episode and leave the server up", async () => {
    // mulberry32: a small seeded generator, so a failure can be replayed.
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const values: unknown[] = [null, true, 0, -1, 1e400, "", "/", "/jobs", "../x", "__proto__", [], {}, { op: "status" }, "x".repeat(300)];
    const keys = ["op", "scope", "reason", "since", "follow", "__proto__", "constructor", "x"];
    const ops = ["oom", "status", "events", "OOM", "", "toString", "__proto__", "constructor"];
    const before = episodes.length;
    let accepted = 0;
    for (let i = 0; i < 300; i++) {
      const req: Record<string, unknown> = {};
      if (rnd(5) > 0) req.op = ops[rnd(ops.length)];
      for (let k = rnd(3); k > 0; k--) Object.defineProperty(req, keys[rnd(keys.length)] as string, { value: values[rnd(values.length)], enumerable: true, configurable: true, writable: true });
      if (req.op === "oom" && req.scope === "/jobs") delete req.scope; // a valid manual OOM is not what this fuzzes
      if (req.op === "events" && req.follow === true) req.follow = false;
      const [r] = await raw(sock, `${JSON.stringify(req)}\n`);
      if (req.op === "events" && typeof r?.type === "string") {
        accepted++; // a stream line: the events op's own protocol
        continue;
      }
      assert.equal(typeof r?.ok, "boolean", `reply to ${JSON.stringify(req)}`);
      if (r?.ok === true) accepted++;
      else assert.equal(typeof r?.error, "string");
    }
    assert.ok(accepted < 300, "most random requests are refused");
    assert.ok(episodes.length - before <= accepted, "only accepted requests could have run an episode");
    assert.equal((await request(sock, { op: "status" })).ok, true, "still serving");
  });
});

test("--socket at an existing regular file refuses to start and leaves the file alone", async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-ctl-")), "precious");
  fs.writeFileSync(file, "keep me");
  await assert.rejects(ControlServer.listen(file, {}, new MemoryLogger()), (err: Error & { code?: string }) => err.code === "E_USAGE" && /is not a socket/.test(err.message));
  assert.equal(fs.readFileSync(file, "utf8"), "keep me");
});
