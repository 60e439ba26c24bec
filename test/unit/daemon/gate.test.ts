import { test } from "node:test";
import assert from "node:assert/strict";
import { ActionGate } from "../../../src/daemon/gate.js";
import { VictimRegistry } from "../../../src/engine/victims.js";
import { cgroupPath } from "../../../src/os/paths.js";
import type { KillSettings } from "../../../src/config/index.js";

const settings: KillSettings = { rateLimit: { maxKills: 2, perMs: 60_000 }, postActionDelayMs: 2000, victimTimeoutMs: 10_000, sigtermGraceMs: 0, killProcessGroup: false, preKillHook: undefined };
const p = cgroupPath;

test("the post-action delay holds the scope, its ancestors and descendants, not its siblings", () => {
  const g = new ActionGate(new VictimRegistry(), settings);
  g.acted(p("/a/b"), 1000, false);
  assert.match(g.check(p("/a/b"), 1500)?.why ?? "", /post-action delay of the last action in \/a\/b/);
  assert.ok(g.check(p("/a"), 1500), "an ancestor");
  assert.ok(g.check(p("/a/b/c"), 1500), "a descendant");
  assert.equal(g.check(p("/a/x"), 1500), undefined, "a sibling");
  assert.equal(g.check(p("/a/b"), 3000), undefined, "after the delay");
});

test("a declaration whose evidence window began before the hold ended is held; one whose window began after it is not", () => {
  const g = new ActionGate(new VictimRegistry(), settings);
  g.acted(p("/a"), 1000, true);
  // The hold ends at 3000. A PSI event at 3500 with a 2000 ms window counted stall from 1500.
  assert.match(g.check(p("/a/b"), 3500, 1500)?.why ?? "", /its pressure window began 1500 ms before the post-action delay of the last action in \/a ended/);
  assert.equal(g.check(p("/a/b"), 3500), undefined, "a declaration with no window (a threshold) goes ahead after the delay");
  assert.equal(g.check(p("/a/b"), 5000, 3000), undefined, "a window that began as the hold ended");
  assert.equal(g.check(p("/x"), 3500, 1500), undefined, "a scope the action did not touch");
  // Kept past its end for a while, then forgotten by a later action.
  g.acted(p("/z"), 70_000, false);
  assert.equal(g.check(p("/a"), 70_500, 0), undefined, "forgotten a minute after it ended");
});

test("the rate limit counts kills in a sliding window, and only kills", () => {
  const g = new ActionGate(new VictimRegistry(), settings);
  g.acted(p("/a"), 0, true);
  g.acted(p("/b"), 10_000, false);
  assert.equal(g.check(p("/c"), 20_000), undefined);
  g.acted(p("/c"), 20_000, true);
  assert.deepEqual(g.check(p("/d"), 30_000), { why: "the kill rate limit is reached", rate: true });
  assert.equal(g.check(p("/d"), 60_001), undefined, "the first kill left the window");
});

test("a pending victim holds off overlapping scopes; one whose cgroup is unknown, every scope", () => {
  const victims = new VictimRegistry();
  const g = new ActionGate(victims, settings);
  victims.add({ kind: "cgroup", cgroup: p("/a"), by: "oomkit", sinceMonoMs: 0, deadlineMonoMs: 5000 });
  assert.match(g.check(p("/a/b"), 100)?.why ?? "", /victim \(\/a\) is still exiting/);
  assert.equal(g.check(p("/z"), 100), undefined);
  victims.add({ kind: "task", pid: 43, cgroup: p("/k/job"), by: "kernel", sinceMonoMs: 0, deadlineMonoMs: 5000 });
  assert.match(g.check(p("/k"), 100)?.why ?? "", /pid 43/, "a task victim in a known cgroup holds off scopes around it");
  assert.equal(g.check(p("/z"), 100), undefined, "and not the others");
  victims.add({ kind: "task", pid: 42, by: "kernel", sinceMonoMs: 0, deadlineMonoMs: 5000 });
  assert.match(g.check(p("/z"), 100)?.why ?? "", /pid 42/, "a task victim whose cgroup is unknown holds off every scope");
});

test("after an action, a PSI declaration is taken only when the held scope reclaimed since: stall without reclaim is pages read back in", () => {
  const g = new ActionGate(new VictimRegistry(), settings);
  let scanned = 5000;
  const read = (s: ReturnType<typeof p>) => (s === p("/") ? scanned : undefined);
  g.acted(p("/"), 1000, true, 5000);
  // After the delay, a window that began after it: the stall alone does not say memory is short.
  assert.match(g.check(p("/"), 8000, 4000, read)?.why ?? "", /no reclaim in \/ since the last action there took effect \(pgscan 5000 → 5000\)/);
  assert.match(g.check(p("/jobs"), 8000, 4000, read)?.why ?? "", /no reclaim in \//, "a scope inside the held one: its counter is the held scope's");
  assert.equal(g.check(p("/"), 8000, undefined, read), undefined, "a threshold trigger (no window) is not held by it");
  scanned = 5001;
  assert.equal(g.check(p("/"), 8000, 4000, read), undefined, "the kernel scanned since: a shortage again");
  scanned = 5000;
  assert.equal(g.check(p("/"), 8000, 4000, () => undefined), undefined, "a counter that cannot be read holds nothing back");
  assert.equal(g.check(p("/"), 64_000, 60_000, read)?.why, undefined, "forgotten a minute after the hold ended");
  // An action whose counter was unknown holds nothing back either.
  const h = new ActionGate(new VictimRegistry(), settings);
  h.acted(p("/a"), 1000, true);
  assert.equal(h.check(p("/a"), 8000, 4000, () => 0), undefined);
});
