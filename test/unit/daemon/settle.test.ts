// The daemon's settled moment (DaemonOptions.onSettled, src/daemon/daemon.ts): once, after the
// first standing decisions are made, never while an episode waits or runs.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compileConfig, parseConfig } from "../../../src/config/index.js";
import { REDECIDE_MS } from "../../../src/daemon/standing.js";
import { BUILTIN_POLICIES } from "../../../src/policy/builtins.js";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import { cgroupPath } from "../../../src/os/paths.js";
import type { KillBackend } from "../../../src/os/kill-port.js";
import { type FixtureSpec } from "../../support/fixture.js";
import { fixtureDaemon } from "../../support/fixture-daemon.js";

const MB = 1024 * 1024;
const MACHINE: FixtureSpec = {
  memTotalKb: 1_000_000,
  memAvailableKb: 500_000,
  cgroups: { "/jobs/a": { current: 400 * MB } },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 400 * 1024 },
  ],
};
const TRIGGER = `[[trigger]]\nname = "low"\ncgroup = "/"\nmem_available = { below_percent = 10 }\n`;

/** A backend whose kills wait until `release` is called: an episode that stays under way. */
function heldBackend(): { backend: KillBackend; release: () => void; issued: () => boolean } {
  let release = () => {};
  let issued = false;
  const held = new Promise<void>((r) => (release = r));
  const backend: KillBackend = {
    killTask: async () => {
      issued = true;
      await held;
      return { kind: "vanished" };
    },
    killCgroup: async () => ({ emptied: false }),
    reclaim: async () => {},
    currentBytes: () => undefined,
    removeFile: async () => 0,
  };
  return { backend, release: () => release(), issued: () => issued };
}

const declareLow = (t: ReturnType<typeof fixtureDaemon>) => t.daemon.declare({ scope: cgroupPath("/"), trigger: "low", cause: { kind: "system", trigger: "low", message: "MemAvailable low", figures: {} } });

describe("onSettled", () => {
  test("is called once, at the end of the round that made the first standing plan, and never again", async () => {
    const seen: number[] = [];
    const t = fixtureDaemon(MACHINE, `standing_decisions = true\n${TRIGGER}`, { onSettled: () => seen.push(t.daemon.standing().length) });
    await t.daemon.start();
    assert.deepEqual(seen, [], "not at start: no plan yet");
    await t.step(100);
    assert.deepEqual(seen, [1], "after the round that made the plan for /, which stood when it was called");
    assert.ok(t.daemon.standing()[0]?.plan !== undefined);
    for (let i = 0; i < 5; i++) await t.step(REDECIDE_MS);
    await t.daemon.reload(compileConfig(parseConfig(`standing_decisions = true\n${TRIGGER}`, "test.toml").config, { builtins: new Map(BUILTIN_POLICIES), loadPolicyFile, enforceOwnership: false }));
    await t.step(REDECIDE_MS);
    assert.deepEqual(seen, [1], "plans made again, and a reload's first plans, do not call it again");
  });

  test("waits while an episode is under way, and comes after it, once the first plans are made", async () => {
    const seen: { plans: number; issued: boolean }[] = [];
    const h = heldBackend();
    const t = fixtureDaemon(MACHINE, `standing_decisions = true\n${TRIGGER}`, { backend: h.backend, onSettled: () => seen.push({ plans: t.daemon.standing().length, issued: h.issued() }) });
    await t.daemon.start();
    declareLow(t);
    t.clock.advance(100);
    await t.daemon.tick(); // the episode holds the daemon: no plan ahead, nothing released
    await t.daemon.tick();
    assert.equal(h.issued(), true, "the episode's kill is under way");
    assert.deepEqual(seen, []);
    h.release();
    await t.daemon.settled();
    assert.equal(t.episodes.length, 1);
    assert.deepEqual(seen, [], "the episode's end is not the settled moment: no plan stands yet");
    await t.step(100);
    assert.deepEqual(seen, [{ plans: 1, issued: true }]);
  });

  test("without standing decisions, the first round with no episode under way", async () => {
    let calls = 0;
    const h = heldBackend();
    const t = fixtureDaemon(MACHINE, `standing_decisions = false\n${TRIGGER}`, { backend: h.backend, onSettled: () => calls++ });
    await t.daemon.start();
    declareLow(t);
    t.clock.advance(100);
    await t.daemon.tick();
    assert.equal(calls, 0, "an episode is under way");
    h.release();
    await t.daemon.settled();
    await t.step(100);
    await t.step(100);
    assert.equal(calls, 1);
  });

  test("one that throws is logged, and the daemon goes on ticking", async () => {
    const t = fixtureDaemon(MACHINE, `standing_decisions = true\n${TRIGGER}`, {
      onSettled: () => {
        throw new Error("no gc here");
      },
    });
    await t.daemon.start();
    await t.step(100);
    assert.ok(t.log.lines.some((l) => l === "warn: after start-up: no gc here"), t.log.lines.join("\n"));
    await t.step(REDECIDE_MS);
    assert.ok(t.daemon.standing()[0]?.plan !== undefined);
  });
});
