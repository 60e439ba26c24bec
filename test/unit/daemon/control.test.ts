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
import { type ControlHandler, ControlServer, MAX_CONNECTIONS, controlOp, request } from "../../../src/daemon/control.js";
import { STATUS_REQUEST, daemonOps } from "../../../src/daemon/control-ops.js";
import { Daemon } from "../../../src/daemon/daemon.js";
import { ReportPipeline } from "../../../src/daemon/pipeline.js";
import { EPISODE_SCHEMA, type EpisodeRecord } from "../../../src/engine/episode.js";
import type { StreamLine } from "../../../src/report/event-bus.js";
import { MemoryLogger } from "../../../src/log.js";
import { detectCgroupMode } from "../../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { ManualClock } from "../../../src/os/host.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import type { KillBackend } from "../../../src/os/kill-port.js";
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
    const parsed = parseConfig("standing_decisions = true\n", "standing.toml");
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

test("a manual OOM whose kill outlasts the client's timeout: the daemon's pending lines keep the client until the record comes", async () => {
  const dir = buildFixture({
    cgroups: { "/jobs": { current: 100 * MB }, "/jobs/a": { current: 100 * MB, anon: 100 * MB } },
    tasks: [{ pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 100 * 1024 }],
  });
  const parsed = parseConfig("[kill]\nsigterm_grace_ms = 60000\n", "grace.toml");
  const config = compileConfig(parsed.config, { builtins: new Map(BUILTIN_POLICIES), loadPolicyFile, enforceOwnership: false, source: parsed.source });
  const host = new FixtureHost(dir, { clock: new ManualClock(10_000) });
  const log = new MemoryLogger();
  // A victim that leaves 600 ms after its SIGTERM: six times the client's 100 ms of patience.
  const backend: KillBackend = {
    killTask: () => new Promise((r) => setTimeout(() => r({ kind: "exited", signalMs: 1, exitMs: 600, escalated: false, mrelease: "skipped" }), 600)),
    killCgroup: async () => ({ emptied: false }),
    reclaim: async () => {},
    currentBytes: () => undefined,
    removeFile: async () => 0,
  };
  const daemon = new Daemon({ host, mode: detectCgroupMode(host), config, log, autoTick: false, dryRun: false, backend });
  await daemon.start();
  const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-ctl-")), "oomkit.sock");
  const server = await ControlServer.listen(sock, daemonOps(daemon, { heartbeatMs: 20 }), log);
  try {
    const r = await request(sock, { op: "oom", scope: "/jobs" }, 100, { heartbeats: true });
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal((r.record as EpisodeRecord | undefined)?.actions[0]?.ok, true, JSON.stringify(r));
  } finally {
    await server.close();
    await daemon.settled();
    await daemon.stop();
  }
});

test("--socket at an existing regular file refuses to start and leaves the file alone", async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-ctl-")), "precious");
  fs.writeFileSync(file, "keep me");
  await assert.rejects(ControlServer.listen(file, {}, new MemoryLogger()), (err: Error & { code?: string }) => err.code === "E_USAGE" && /is not a socket/.test(err.message));
  assert.equal(fs.readFileSync(file, "utf8"), "keep me");
});

describe("followers that never read (the events op over a real socket)", () => {
  const at = "2026-01-01T00:00:00.000Z";
  /** A large record (a long cause message), as a bad day with many candidates makes them. */
  const big = (n: number): EpisodeRecord => ({
    schema: EPISODE_SCHEMA, id: `ep-big-${n}`, mode: "dry-run", kind: "manual", scope: "/",
    cause: { kind: "manual", trigger: "manual", message: "x".repeat(8 * 1024), figures: {} }, source: "test", policy: "p", handled: true,
    chain: [], candidates: [], candidatesTotal: 0, plan: [], actions: [], times: { declaredAt: at, decidedAt: at, finishedAt: at, decisionMs: 0, actionMs: 0 },
  });

  test("each connection's buffer stays bounded, drops are counted as they happen, and a follower that reads at last is told what it lost", async () => {
    const host = new FixtureHost(buildFixture({}));
    const log = new MemoryLogger();
    const parsed = parseConfig("", "empty.toml");
    const config = compileConfig(parsed.config, { builtins: new Map(BUILTIN_POLICIES), loadPolicyFile, enforceOwnership: false, source: parsed.source });
    const pipeline = new ReportPipeline({ settings: { ...config.report, eventLog: undefined, metrics: { host: "127.0.0.1", port: 0 }, kernelKills: false }, log, line: () => {}, host, stateDir: undefined });
    await pipeline.start();
    // The server's side of each connection, to read its userland write buffer.
    const served: net.Socket[] = [];
    const events = pipeline.handlers().events as ControlHandler;
    const handlers = { events: controlOp(events.schema, (req, reply, socket) => (served.push(socket), events.handle(req, reply, socket))) };
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-follow-")), "oomkit.sock");
    const server = await ControlServer.listen(sock, handlers, log);
    const followers: net.Socket[] = [];
    try {
      await followAndCheck();
    } finally {
      for (const f of followers) f.destroy();
      await server.close();
      await pipeline.stop();
    }

    async function followAndCheck() {
      followers.push(...await Promise.all(
        Array.from({ length: MAX_CONNECTIONS }, () => new Promise<net.Socket>((resolve, reject) => {
          const c = net.connect(sock, () => {
            c.write(`${JSON.stringify({ op: "events", follow: true })}\n`);
            c.pause(); // and never reads
            resolve(c);
          });
          c.once("error", reject);
        })),
      ));
      while (pipeline.bus.subscribers < MAX_CONNECTIONS) await new Promise((r) => setImmediate(r));

      const published = 5000;
      const lineBytes = Buffer.byteLength(`${JSON.stringify({ type: "record", seq: published, record: big(published) })}\n`);
      let most = 0;
      for (let i = 1; i <= published; i++) {
        pipeline.report(big(i));
        if (i % 25 === 0) {
          await new Promise((r) => setImmediate(r)); // the writers get their turn
          for (const s of served) most = Math.max(most, s.writableLength);
        }
      }
      assert.equal(served.length, MAX_CONNECTIONS);
      const bound = (served[0] as net.Socket).writableHighWaterMark + lineBytes;
      assert.ok(most > 0 && most <= bound, `the most one connection held: ${most} bytes, bound ${bound}`);
      const sent = published * lineBytes;
      assert.ok(sent > 1000 * bound, "far more was published than any buffer could hold");

      // Counted now, while no follower has read anything: the metric shows it.
      const lost = pipeline.bus.droppedTotal;
      assert.ok(lost > MAX_CONNECTIONS * (published - 1000), `dropped ${lost}`);
      assert.match((await pipeline.metrics?.scrape()) ?? "no metrics", new RegExp(`\\noomkit_dropped_records\\{sink="stream"\\} ${lost}\\n`));

      // One follower reads at last: a gap line tells it how many it lost; nothing is unaccounted for.
      const c = followers[0] as net.Socket;
      const lines = await new Promise<StreamLine[]>((resolve) => {
        const out: StreamLine[] = [];
        let buf = "";
        c.setEncoding("utf8");
        c.on("data", (d: string) => {
          buf += d;
          for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
            const l = JSON.parse(buf.slice(0, nl)) as StreamLine;
            buf = buf.slice(nl + 1);
            out.push(l);
            if (l.type === "record" && l.seq === published) resolve(out);
          }
        });
        c.resume();
      });
      const gaps = lines.filter((l) => l.type === "gap");
      const records = lines.filter((l) => l.type === "record");
      assert.ok(gaps.length >= 1 && gaps.every((g) => g.type === "gap" && g.reason === "slow-reader" && g.count > 0), JSON.stringify(gaps));
      assert.equal(records.length + gaps.reduce((n, g) => n + (g.type === "gap" ? g.count : 0), 0), published, "every record was delivered or counted in a gap");
      assert.equal(pipeline.bus.droppedTotal, lost, "telling the follower does not count its loss twice");
      // Waiting for the reader to drain, many times over, left nothing behind on its socket.
      const s0 = served[0] as net.Socket;
      assert.ok(s0.listenerCount("close") <= 2 && s0.listenerCount("error") <= 2 && s0.listenerCount("drain") <= 1, `listeners: close ${s0.listenerCount("close")}, error ${s0.listenerCount("error")}, drain ${s0.listenerCount("drain")}`);

      for (const f of followers) f.destroy();
      while (pipeline.bus.subscribers > 0) await new Promise((r) => setImmediate(r));
      assert.ok(pipeline.bus.droppedTotal >= lost, "a follower that leaves keeps its losses counted");
    }
  });

  test("a client that sends requests and does not read the replies: the server stops reading it and holds a bounded backlog", async () => {
    const log = new MemoryLogger();
    let served: net.Socket | undefined;
    const status = controlOp(STATUS_REQUEST, (_req, reply, socket) => {
      served = socket;
      reply({ ok: true, status: { padding: "y".repeat(1024) } });
    });
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-flood-")), "oomkit.sock");
    const server = await ControlServer.listen(sock, { status }, log);
    const c = net.connect(sock);
    await new Promise((r) => c.once("connect", r));
    c.pause();
    // 5,000 requests (about 80 KiB) at once, each asking for a 1 KiB reply (about 5 MiB in all).
    const n = 5000;
    c.write(`${JSON.stringify({ op: "status" })}\n`.repeat(n));
    const replyBytes = Buffer.byteLength(`${JSON.stringify({ ok: true, status: { padding: "y".repeat(1024) } })}\n`);
    // Until the server waits on the peer (paused, its replies not drained) — or has buffered
    // more than it may, which is the failure this test is for.
    const bound = () => (served?.writableHighWaterMark ?? 0) + replyBytes;
    while (!(served && ((served.isPaused() && served.writableNeedDrain) || served.writableLength > bound()))) await new Promise((r) => setImmediate(r));
    assert.ok(served.writableLength <= bound(), `the server held ${served.writableLength} bytes of replies for a peer that does not read (bound ${bound()})`);
    // The peer reads at last: every request is answered, in order, none lost.
    let got = 0;
    let buf = "";
    c.setEncoding("utf8");
    await new Promise<void>((resolve) => {
      c.on("data", (d: string) => {
        buf += d;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          assert.equal((JSON.parse(buf.slice(0, nl)) as { ok: boolean }).ok, true);
          buf = buf.slice(nl + 1);
          if (++got === n) resolve();
        }
      });
      c.resume();
    });
    c.destroy();
    await server.close();
  });
});
