/** The worked example in docs/writing-a-policy.md, loaded and run as a policy author would. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine } from "../../src/engine/engine.js";
import { takeSnapshot } from "../../src/engine/snapshot.js";
import { FixtureHost } from "../../src/os/fixture-host.js";
import { cgroupPath } from "../../src/os/paths.js";
import { kernelPolicy } from "../../src/policy/kernel.js";
import { loadPolicyFile } from "../../src/policy/loader.js";
import { buildFixture } from "../support/fixture.js";
import { workedExampleFile as example } from "../support/worked-example.js";

const MB = 1024 * 1024;

test("the worked example in docs/writing-a-policy.md does what the doc says", async () => {
  const policy = loadPolicyFile(example(), { enforceOwnership: true, warn: () => {} });
  const options = policy.parseOptions?.({ marker: "/batch/" });
  const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy, options }], defaultPolicy: { policy: kernelPolicy, options: {} } });
  const cause = { kind: "system" as const, trigger: "test", message: "t", figures: {} };
  const machine = (batch: boolean) =>
    takeSnapshot(
      new FixtureHost(
        buildFixture({
          cgroups: {
            "/web": { current: 900 * MB, anon: 900 * MB },
            ...(batch
              ? {
                  "/batch": {},
                  "/batch/small": { anon: 8 * MB },
                  "/batch/big": { anon: 100 * MB, swapCurrent: 50 * MB },
                  "/batch/cached": { anon: 20 * MB, file: 500 * MB },
                }
              : {}),
          },
          tasks: [
            { pid: 10, comm: "web", cgroup: "/web", rssAnonKb: 900 * 1024 },
            ...(batch
              ? [
                  { pid: 20, comm: "small", cgroup: "/batch/small", rssAnonKb: 8 * 1024 },
                  { pid: 21, comm: "big", cgroup: "/batch/big", rssAnonKb: 100 * 1024 },
                  { pid: 22, comm: "cached", cgroup: "/batch/cached", rssAnonKb: 20 * 1024 },
                ]
              : []),
          ],
        }),
      ),
    );
  const r = await engine.explain(machine(true), "/", cause);
  assert.equal(r.policy, "batch-first");
  assert.deepEqual(r.plan.map((a) => a.kind === "kill-cgroup" && a.cgroup), ["/batch/big"], "anon + swap, not page cache");
  assert.match(r.candidates.find((c) => c.cgroup === "/batch/small")?.skipped ?? "", /only 8388608 bytes/);
  const none = await engine.explain(machine(false), "/", cause);
  assert.deepEqual(none.chain.map((c) => [c.policy, c.outcome]), [["batch-first", "passed"], ["kernel", "handled"]]);
  assert.deepEqual(none.plan.map((a) => a.kind === "kill-task" && a.pid), [10]);
});
