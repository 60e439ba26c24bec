/** Prometheus metrics: documented names, counting episodes, capped labels, a real HTTP scrape. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";

import { EPISODE_SCHEMA, type EpisodeRecord } from "../../../src/engine/episode.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { type CgroupPath, cgroupPath } from "../../../src/os/paths.js";
import { METRIC, Metrics, reasonClass, serveMetrics } from "../../../src/report/metrics.js";
import { buildFixture } from "../../support/fixture.js";

const here = path.dirname(new URL(import.meta.url).pathname);
const MB = 1024 * 1024;

function rec(over: Partial<EpisodeRecord> = {}): EpisodeRecord {
  const decided = Date.UTC(2026, 0, 1);
  const kill = { kind: "kill-task" as const, pid: 42, startTimeTicks: 1, comm: "leak", cgroup: cgroupPath("/oom_test/leak"), reason: "r" };
  return {
    schema: EPISODE_SCHEMA, id: "ep-1", mode: "live", kind: "cgroup", scope: "/oom_test/leak",
    cause: { kind: "cgroup", trigger: "psi-oom_test", message: "m", figures: {} }, source: "test", policy: "largest-leaf", handled: true,
    chain: [
      { policy: "mine", attachedTo: "/oom_test", outcome: "threw", error: "Error: x", durationMs: 0.5, verdicts: [] },
      { policy: "largest-leaf", attachedTo: "/", outcome: "handled", durationMs: 1, verdicts: [{ action: kill, ok: false, reason: "outside the scope /oom_test/leak" }, { action: kill, ok: true }] },
    ],
    candidates: [], candidatesTotal: 0, plan: [kill],
    actions: [{ action: kill, ok: true, freed: true, freedBytes: 100 * MB, dryRun: false, startedAtMs: decided + 5, finishedAtMs: decided + 45 }],
    times: { declaredAt: new Date(decided - 2).toISOString(), decidedAt: new Date(decided).toISOString(), finishedAt: new Date(decided + 45).toISOString(), signalToDecisionMs: 12, decisionMs: 2, actionMs: 45 },
    ...over,
  };
}

test("the metrics use prom-client's own classes, loaded from its files without its index (a prom-client that moves them fails here)", async () => {
  const prom = await import("prom-client");
  const m = new Metrics({ maxCgroupLabels: 10 });
  assert.ok(m.registry instanceof prom.Registry);
  const kinds = new Set(m.registry.getMetricsAsArray().map((x) => (x instanceof prom.Counter ? "counter" : x instanceof prom.Gauge ? "gauge" : x instanceof prom.Histogram ? "histogram" : "other")));
  assert.deepEqual([...kinds].sort(), ["counter", "gauge", "histogram"]);
});

test("every registered metric is documented in docs/metrics.md, and every documented one registered", async () => {
  const doc = fs.readFileSync(path.join(here, "../../../../docs/metrics.md"), "utf8");
  const documented = new Set([...doc.matchAll(/^\| `(oomkit_[a-z0-9_]+)` \|/gm)].map((m) => m[1]));
  const registered = new Set((await new Metrics().registry.getMetricsAsJSON()).map((m) => m.name));
  assert.ok(registered.size >= 20);
  for (const name of registered) assert.ok(documented.has(name), `${name} is registered but not in docs/metrics.md`);
  for (const name of documented) assert.ok(registered.has(name as string), `${name} is in docs/metrics.md but not registered`);
  for (const name of Object.values(METRIC)) assert.ok(registered.has(name), `${name} in METRIC is registered`);
});

test("observeEpisode: episodes, kills, freed bytes, failures, rejections, latencies; local and hierarchical", async () => {
  const m = new Metrics();
  m.observeEpisode(rec());
  m.observeEpisode(rec({ mode: "dry-run", actions: [{ ...rec().actions[0]!, dryRun: true }] }));
  const text = await m.scrape();
  assert.match(text, /oomkit_episodes_total\{kind="cgroup",scope="\/oom_test\/leak",cause="psi-oom_test",policy="largest-leaf",mode="live"\} 1/);
  assert.match(text, /oomkit_episodes_total\{[^}]*mode="dry-run"\} 1/);
  assert.match(text, /oomkit_kills_total\{kind="cgroup",policy="largest-leaf",scope="\/oom_test\/leak",target="task"\} 1\n/);
  assert.match(text, /oomkit_freed_bytes_total\{[^}]*\} 104857600/);
  assert.match(text, /oomkit_policy_failures_total\{policy="mine",outcome="threw"\} 2/);
  assert.match(text, /oomkit_verifier_rejections_total\{policy="largest-leaf",reason="outside the scope P"\} 2/);
  assert.match(text, /oomkit_cgroup_ooms_total\{cgroup="\/oom_test\/leak",counting="local"\} 2/);
  assert.match(text, /oomkit_cgroup_ooms_total\{cgroup="\/oom_test",counting="hierarchical"\} 2/);
  assert.match(text, /oomkit_cgroup_ooms_total\{cgroup="\/",counting="hierarchical"\} 2/);
  assert.doesNotMatch(text, /oomkit_cgroup_ooms_total\{cgroup="\/oom_test",counting="local"\}/);
  assert.match(text, /oomkit_signal_to_decision_seconds_count\{kind="cgroup"\} 2/);
  assert.match(text, /oomkit_decision_to_kill_seconds_sum\{kind="cgroup"\} 0.005\n/);
  assert.match(text, /oomkit_kill_to_freed_seconds_sum\{kind="cgroup"\} 0.04\n/);
  assert.match(text, /oomkit_process_resident_memory_bytes \d+/);
  assert.match(text, /oomkit_process_cpu_seconds_total\{mode="user"\} [\d.e-]+/);
});

test("a kernel kill counts as kind kernel, policy kernel", async () => {
  const m = new Metrics();
  m.observeEpisode(rec({
    kind: "kernel", scope: "/oom_test", policy: null, chain: [], plan: [], actions: [],
    cause: { kind: "kernel", trigger: "kernel", message: "m", figures: {} },
    kernelKill: { seenBy: ["kmsg"], pid: 7, anonRssBytes: 1024, fileRssBytes: 1024, shmemRssBytes: 0 },
  }));
  const text = await m.scrape();
  assert.match(text, /oomkit_kills_total\{kind="kernel",policy="kernel",scope="\/oom_test",target="task"\} 1/);
  assert.match(text, /oomkit_freed_bytes_total\{kind="kernel",policy="kernel",scope="\/oom_test"\} 2048/);
});

test("a plan dropped because the trouble was gone, and a decision cut short by its deadline, are counted", async () => {
  const m = new Metrics();
  const kill = rec().plan[0]!;
  m.observeEpisode(rec({
    policy: null, handled: false, plan: [], actions: [],
    chain: [{ policy: "slow", attachedTo: "/", outcome: "dropped", reason: "r", durationMs: 1, verdicts: [{ action: kill, ok: true }] }],
    dropped: { clearedBy: "memory.events", reason: "the kernel's OOM killer killed in /oom_test since the signal (memory.events oom_kill 0→1)" },
  }));
  m.observeEpisode(rec({ chain: [{ policy: "kernel", attachedTo: null, outcome: "handled", durationMs: 1000, verdicts: [{ action: kill, ok: true }], cutShort: "ran past its deadline of 1000 ms after 3 of the 9 tasks; acting on its best so far" }] }));
  const text = await m.scrape();
  assert.match(text, /oomkit_dropped_plans_total\{cleared_by="memory.events"\} 1\n/);
  assert.match(text, /oomkit_episodes_total\{[^}]*policy="none"[^}]*\} 1\n/);
  assert.match(text, /oomkit_cut_short_decisions_total\{policy="kernel"\} 1\n/);
  assert.doesNotMatch(text, /oomkit_policy_failures_total\{policy="kernel"/, "cut short and carried out is no failure");
  assert.doesNotMatch(text, /oomkit_kills_total\{[^}]*policy="none"/, "a dropped plan killed nothing");
});

test("cgroup label values are capped: thousands of short-lived cgroups, at most N+1 series", async () => {
  const m = new Metrics({ maxCgroupLabels: 10 });
  for (let i = 0; i < 5000; i++) m.observeEpisode(rec({ scope: `/jobs/run-${i}` }));
  const text = await m.scrape();
  const scopes = new Set([...text.matchAll(/oomkit_episodes_total\{[^}]*scope="([^"]*)"/g)].map((x) => x[1]));
  assert.ok(scopes.size <= 11, `${scopes.size} scope values`);
  assert.ok(scopes.has("other"));
  const local = [...text.matchAll(/oomkit_cgroup_ooms_total\{cgroup="([^"]*)",counting="local"\} (\d+)/g)];
  assert.equal(local.reduce((s, x) => s + Number(x[2]), 0), 5000, "nothing is lost, only folded");
  assert.match(text, /oomkit_label_overflow_total\{label="cgroup"\} \d+/);
  assert.equal(reasonClass("omit: cgroup /a/b is protected by configuration"), "omit: cgroup P is protected by configuration");
  assert.equal(reasonClass("omit: command matches /^sshd$/"), "omit: command matches /re/");
});

test("updateFromSnapshot: machine and monitored cgroups, capped, gone cgroups removed", async () => {
  const host = new FixtureHost(
    buildFixture({
      memAvailableKb: 512 * 1024,
      swapFreeKb: 0,
      cgroups: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`/c${i}`, { current: (i + 1) * MB, max: 64 * MB, pressureSome10: 12.5 }])),
    }),
  );
  const m = new Metrics({ maxCgroupLabels: 5 });
  const snap = takeSnapshot(host);
  const all: CgroupPath[] = Array.from({ length: 30 }, (_, i) => cgroupPath(`/c${i}`));
  m.updateFromSnapshot(snap, all);
  let text = await m.scrape();
  assert.match(text, /oomkit_memory_available_bytes 536870912/);
  assert.match(text, /oomkit_cgroup_memory_current_bytes\{cgroup="\/c0"\} 1048576/);
  assert.match(text, /oomkit_cgroup_memory_pressure_avg10_ratio\{cgroup="\/c0",kind="some"\} 0.125/);
  assert.equal([...text.matchAll(/^oomkit_cgroup_memory_current_bytes\{/gm)].length, 5);
  m.updateFromSnapshot(snap, [cgroupPath("/c7")]);
  text = await m.scrape();
  assert.equal([...text.matchAll(/^oomkit_cgroup_memory_current_bytes\{/gm)].length, 1);
  assert.match(text, /oomkit_cgroup_memory_current_bytes\{cgroup="\/c7"\} 8388608/);
});

function get(port: number, method = "GET", url = "/metrics"): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: url }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a real scrape over HTTP on 127.0.0.1, an ephemeral port; read-only", async () => {
  const m = new Metrics();
  m.addDropSource("event_log", () => 3);
  m.observeEpisode(rec());
  const server = await serveMetrics(m, { port: 0 });
  try {
    assert.equal(server.host, "127.0.0.1");
    assert.ok(server.port > 0);
    const ok = await get(server.port);
    assert.equal(ok.status, 200);
    assert.match(ok.type, /^text\/plain; version=0\.0\.4/);
    assert.match(ok.body, /# TYPE oomkit_episodes_total counter/);
    assert.match(ok.body, /oomkit_dropped_records\{sink="event_log"\} 3/);
    assert.equal((await get(server.port, "POST")).status, 405);
    assert.equal((await get(server.port, "DELETE")).status, 405);
    assert.equal((await get(server.port, "GET", "/")).status, 404);
    assert.equal((await get(server.port, "HEAD")).status, 200);
  } finally {
    await server.close();
  }
});
