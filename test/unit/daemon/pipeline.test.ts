/** A policy hook that failed outside an episode reaches the report pipeline: a warning and the failures counter. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReportPipeline } from "../../../src/daemon/pipeline.js";
import type { HookCall } from "../../../src/engine/hooks.js";
import { MemoryLogger } from "../../../src/log.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { buildFixture } from "../../support/fixture.js";

test("policyFault: a warning naming the policy and hook, counted in oomkit_policy_failures_total", async () => {
  const log = new MemoryLogger();
  const lines: string[] = [];
  const pipeline = new ReportPipeline({
    // An endpoint configured (the pipeline is not started: nothing listens) makes the counters.
    settings: { eventLog: undefined, metrics: { host: "127.0.0.1", port: 0 }, kernelKills: false, maxCgroupLabels: 10 },
    log,
    line: (t) => lines.push(t),
    host: new FixtureHost(buildFixture({})),
    stateDir: undefined,
  });
  const call: HookCall = { policy: "steer", attachedTo: "/jobs", hook: "handlePressure", cgroup: "/jobs", outcome: "timeout", durationMs: 250.1, error: "ran past its deadline of 250 ms" };
  pipeline.policyFault(call);
  pipeline.policyFault({ ...call, hook: "handleCgroupOffline", outcome: "threw", error: "Error: x" });
  pipeline.policyFault({ ...call, outcome: "ok", error: undefined });
  assert.equal(log.lines.length, 2, "a call that went well is not a fault");
  assert.equal(log.lines[0], "warn: policy steer (attached to /jobs) handlePressure for /jobs timeout: ran past its deadline of 250 ms (250.1 ms)");
  assert.deepEqual(lines, [], "not an episode: no episode line");
  const text = (await pipeline.metrics?.scrape()) ?? "no metrics";
  assert.match(text, /oomkit_policy_failures_total\{policy="steer",outcome="timeout"\} 1\n/);
  assert.match(text, /oomkit_policy_failures_total\{policy="steer",outcome="threw"\} 1\n/);
  assert.doesNotMatch(text, /outcome="ok"/);
});

test("without a metrics endpoint there are no counters to keep: faults are still said, episodes still reported", () => {
  const log = new MemoryLogger();
  const lines: string[] = [];
  const pipeline = new ReportPipeline({
    settings: { eventLog: undefined, metrics: undefined, kernelKills: false, maxCgroupLabels: 10 },
    log,
    line: (t) => lines.push(t),
    host: new FixtureHost(buildFixture({})),
    stateDir: undefined,
  });
  assert.equal(pipeline.metrics, undefined);
  pipeline.policyFault({ policy: "steer", attachedTo: "/jobs", hook: "handlePressure", cgroup: "/jobs", outcome: "threw", durationMs: 1, error: "Error: x" });
  assert.equal(log.lines.length, 1);
  assert.match(log.lines[0] ?? "", /^warn: policy steer/);
});
