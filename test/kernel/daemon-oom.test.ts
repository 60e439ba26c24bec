// `oomkit run` in the VM against the kernel's own selftests, for real: the BPF OOM selftest
// (oom_test: largest-leaf behind a guard band acts before the kernel's OOM killer), the PSI
// selftest (psi_test: a policy's handlePressure declares the OOM from a full 100 ms / 1 s
// trigger), and priorities under a parent limit (the kernel kills the larger, important job;
// oomkit the unimportant one). Outcomes are asserted, never timings; the figures are printed
// and kept in the run folder (daemon-figures-oom.json) for BENCHMARKS.md.
//
// The daemon decides ahead (standing decisions: the default, and said in each configuration). Where the victim exists before
// the trouble starts (psi_test, priority: it is started in a frozen cgroup, and the cgroup is
// thawed once the daemon's standing plan names it), the episode must take the standing path.
// oom_test cannot be made so: every unit starts from nothing at the thaw, so a plan made before
// names no victim (or a tie), and the one the policy chooses exists only as the units grow.
//
// With OOMKIT_BENCH_KILL=1 each scenario runs a second time with `standing_decisions = false`
// (every trigger decides afresh), in the same guest: BENCHMARKS.md "Standing against fresh in the
// VM" compares the two (bench/vm-figures.ts).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { TestTree, type Hog, readKeyed, vmSkip, waitFor, waitForKey } from "./helpers.js";
import { addFigure, decisionOf, exists, idleUsage, planPids, rel, setOomScoreAdj, startDaemon, stopAllDaemons, tempDir, vmstatOomKills, writeFigures, writePolicy } from "./daemon-helpers.js";

const GENEROUS_MS = 90_000;
/**
 * Under TCG a built-in policy's first call (cold code, lazy /proc and cgroup reads) took up to
 * ~290 ms: past the default policy_deadline_ms of 250, when the chain falls through to the
 * kernel's badness. The scenarios here are about the policies' choices, so they allow 2 s.
 */
const DEADLINE = "policy_deadline_ms = 2000";

/** Each scenario on the standing path; with OOMKIT_BENCH_KILL=1 also afresh, for the figures. */
const MODES: readonly Mode[] = process.env.OOMKIT_BENCH_KILL === "1" ? ["standing", "fresh"] : ["standing"];
type Mode = "standing" | "fresh";
/** The configuration's first line for a mode. */
const modeLine = (mode: Mode) => (mode === "fresh" ? "standing_decisions = false" : "standing_decisions = true");
/** A test's name, a cgroup's name: the fresh run's carry a suffix. */
const named = (name: string, mode: Mode) => (mode === "fresh" ? `${name} (standing_decisions = false)` : name);
const cgName = (name: string, mode: Mode) => (mode === "fresh" ? `${name}-fresh` : name);

/** Waits until every pid is listed in its cgroup's cgroup.procs (the hog joined it). */
async function joined(hogs: { hog: Hog; cg: string }[]): Promise<void> {
  await waitFor(() => (hogs.every(({ hog, cg }) => readFileSync(path.join(cg, "cgroup.procs"), "utf8").split("\n").includes(String(hog.pid))) ? true : undefined), {
    timeoutMs: 20_000,
    what: "the hogs to join their cgroups",
  });
}

/** Records the order in which hogs die. */
function deathOrder(hogs: Record<string, Hog>): string[] {
  const order: string[] = [];
  for (const [name, h] of Object.entries(hogs)) void h.exited.then(() => order.push(name));
  return order;
}

describe("oomkit run against the kernel selftests", { skip: vmSkip() }, () => {
  let t: TestTree;
  before(async () => {
    t = await TestTree.create("daemon-oom");
  });
  // A failed test leaves no daemon behind to act in the next one.
  afterEach(stopAllDaemons);
  after(async () => {
    await stopAllDaemons();
    await t?.teardown();
    writeFigures("oom");
  });

  for (const mode of MODES) {
    test(named("oom_test: largest-leaf behind a 4M guard band kills cg4 before the kernel's OOM killer", mode), async () => {
      const top = t.mk(cgName("oom_test", mode), { "memory.max": "80M", "memory.swap.max": "0" });
      writeFileSync(path.join(top, "cgroup.freeze"), "1");
      await waitForKey(path.join(top, "cgroup.events"), "frozen", (v) => v === 1, 10_000);
      const cg = {
        cg1: t.mk(`${cgName("oom_test", mode)}/cg1`),
        cg2: t.mk(`${cgName("oom_test", mode)}/cg2`),
        cg4: t.mk(`${cgName("oom_test", mode)}/cg3/cg4`),
        cg5: t.mk(`${cgName("oom_test", mode)}/cg3/cg5`),
      };
      const d = await startDaemon({
        name: "oom_test",
        keepLog: "daemon-oom.log",
        config: `
${modeLine(mode)}
${DEADLINE}

[[attach]]
cgroup = "${rel(top)}"
policy = "largest-leaf"

[[trigger]]
name = "oom_test-guard"
cgroup = "${rel(top)}"
guard_band = { margin_bytes = "4M" }
`,
      });
      assert.equal(readFileSync(path.join(top, "memory.high"), "utf8").trim(), String(76 * 1024 * 1024), "the guard band set memory.high 4M below memory.max");
      const idle = await idleUsage(d, 3000);
      const kernelBefore = vmstatOomKills();

      // Sizes as in the selftest; each hog allocates at a rate proportional to its size, so that
      // while they charge together after the thaw their shares stay those of the sizes, and the
      // 100 MB they want together cross memory.high (76 MB) and memory.max (80 MB).
      const sizes = { cg1: 10, cg2: 40, cg4: 30, cg5: 20 } as const;
      const hogs: Record<string, Hog> = {};
      for (const [name, mib] of Object.entries(sizes)) hogs[name] = t.hog({ cgroup: cg[name as keyof typeof cg], mib, rateMibPerS: mib / 4, noHugePages: true });
      await joined(Object.entries(hogs).map(([name, hog]) => ({ hog, cg: cg[name as keyof typeof cg] })));
      setOomScoreAdj(hogs.cg1!.pid, 1000);
      setOomScoreAdj(hogs.cg2!.pid, -1000);
      const order = deathOrder(hogs);

      const during = d.sample();
      writeFileSync(path.join(top, "cgroup.freeze"), "0");
      const rec = await d.waitRecord((r) => r.plan.length > 0, GENEROUS_MS);
      const episode = during.stop();

      assert.equal(rec.policy, "largest-leaf", `${decisionOf(rec)}: ${JSON.stringify(rec.chain)}`);
      assert.deepEqual(
        rec.plan.map((a) => (a.kind === "kill-cgroup" ? a.cgroup : a.kind)),
        [rel(cg.cg4)],
      );
      // The plan made while every unit was empty (a tie, broken by path) is refused at the trigger
      // because the scope grew outside it; a plan made while the units grew may stand.
      const dec = rec.decision;
      if (mode === "fresh") assert.equal(dec, undefined, "standing decisions off: no path to tell");
      else assert.ok(dec !== undefined, "standing decisions are on: the record says which path");
      if (dec?.path === "fresh") assert.match(dec.standingRefused ?? "", /grew by .* outside the plan's targets|no policy's plan passed the verifier/, decisionOf(rec));
      assert.equal((await hogs.cg4!.exited).signal, "SIGKILL");
      // The others finish allocating (70 MB < 76 MB) and live on.
      await Promise.all([hogs.cg1!.ready, hogs.cg2!.ready, hogs.cg5!.ready]);
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(order, ["cg4"], "cg4's task is the first and only test task to die");
      for (const n of ["cg1", "cg2", "cg5"]) assert.ok(exists(hogs[n]!.pid), `${n}'s task lives`);
      const events = readKeyed(path.join(top, "memory.events"));
      assert.equal(events.oom_kill, 0, `the kernel's OOM killer never ran in /oom_test: ${JSON.stringify(events)}`);
      assert.ok((events.high ?? 0) > 0, "the guard band throttled");
      assert.equal(vmstatOomKills(), kernelBefore, "no kernel OOM kill anywhere");
      assert.equal(d.records().filter((r) => r.plan.length > 0).length, 1, `one action: ${d.episodeLines().join("\n")}`);
      assert.ok(d.episodeLines().some((l) => /oom_policy=largest-leaf /.test(l)), `the human line: ${d.lines().join("\n")}`);
      addFigure("oom_test (guard band 4M, largest-leaf)", rec, { idle, episode });

      await d.stop();
      assert.equal(readFileSync(path.join(top, "memory.high"), "utf8").trim(), "max", "the guard band is restored when oomkit stops");
    });

    test(named("psi_test: a policy's handlePressure declares the OOM from a full 100ms/1s trigger on cg2", mode), async () => {
      const top = t.mk(cgName("psi_test", mode));
      const cg1 = t.mk(`${cgName("psi_test", mode)}/cg1`);
      const cg2 = t.mk(`${cgName("psi_test", mode)}/cg2`, { "memory.high": "40M", "memory.swap.max": "0" });
      const dir = tempDir("psi_test");
      const policy = writePolicy(
        dir,
        "psi-declare.ts",
        `import { definePolicy } from "oomkit";
export default definePolicy({
    name: "psi-declare",
    description: "declares an OOM in the cgroup whose PSI trigger fired (the kernel's PSI selftest)",
    handlePressure(event, pc) {
      pc.declareOom(event.cgroup, \`\${event.stall} stall over \${event.stallUsec / 1000} ms within \${event.windowUsec / 1000} ms\`);
    },
    evaluateTask: () => "default",
});
`,
      );
      const d = await startDaemon({
        dir,
        keepLog: "daemon-oom.log",
        config: `
${modeLine(mode)}
${DEADLINE}

[[attach]]
cgroup = "${rel(top)}"
file = "${policy}"

[[trigger]]
name = "psi_test-full"
cgroup = "${rel(cg2)}"
psi = { stall = "full", threshold_ms = 100, window_ms = 1000 }
`,
      });
      assert.ok((await d.status()).watches.some((w) => w.includes("kernel trigger")), `a kernel PSI trigger, not the fallback: ${JSON.stringify((await d.status()).watches)}`);
      const idle = await idleUsage(d, 3000);
      const quiet = t.hog({ cgroup: cg1, mib: 4, noHugePages: true });
      await quiet.ready;
      // The hog that will cause the pressure is started frozen; the trouble starts at the thaw,
      // once the daemon's standing plan for cg2 names it.
      writeFileSync(path.join(cg2, "cgroup.freeze"), "1");
      await waitForKey(path.join(cg2, "cgroup.events"), "frozen", (v) => v === 1, 10_000);
      const big = t.hog({ cgroup: cg2, mib: 500, noHugePages: true });
      await joined([{ hog: big, cg: cg2 }]);
      const standing = mode === "standing" ? await d.waitStanding(rel(cg2), (v) => planPids(v.record).includes(big.pid) && v.policy !== null, GENEROUS_MS) : undefined;
      const during = d.sample();
      writeFileSync(path.join(cg2, "cgroup.freeze"), "0");
      const rec = await d.waitRecord((r) => r.plan.length > 0, GENEROUS_MS);
      const episode = during.stop();
      assert.equal(rec.decision?.path, mode === "standing" ? "standing" : undefined, `${decisionOf(rec)}; the plan before the thaw: ${JSON.stringify(standing?.record.plan)}`);

      assert.equal(rec.policy, "psi-declare", decisionOf(rec));
      assert.match(rec.cause.trigger, /psi_test-full → psi-declare\.handlePressure/);
      assert.equal(rec.scope, rel(cg2));
      assert.deepEqual(
        rec.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind)),
        [big.pid],
      );
      assert.equal((await big.exited).signal, "SIGKILL", "cg2's task dies");
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(exists(quiet.pid), "cg1's task survives");
      addFigure("psi_test (full 100ms/1s, handlePressure)", rec, { idle, episode });
      await d.stop();
    });

    test(named("priority: under a parent limit the kernel kills the larger important job; oomkit the unimportant one", mode), async () => {
      // Without oomkit: the kernel's choice (once).
      if (mode === "standing") {
        const k = t.mk("prio-kernel", { "memory.max": "160M", "memory.swap.max": "0" });
        const kHigh = t.mk("prio-kernel/high");
        const kLow = t.mk("prio-kernel/low");
        const kh = t.hog({ cgroup: kHigh, mib: 100, noHugePages: true });
        await kh.ready;
        const kl = t.hog({ cgroup: kLow, mib: 70, rateMibPerS: 20, noHugePages: true });
        assert.equal((await kh.exited).signal, "SIGKILL", "the kernel kills the larger, important job");
        assert.equal(readKeyed(path.join(k, "memory.events")).oom_kill, 1);
        kl.kill();
      }

      // With oomkit: priority behind a guard band.
      const top = t.mk(cgName("prio", mode), { "memory.max": "160M", "memory.swap.max": "0" });
      const high = t.mk(`${cgName("prio", mode)}/high`);
      const low = t.mk(`${cgName("prio", mode)}/low`);
      const d = await startDaemon({
        name: "prio",
        keepLog: "daemon-oom.log",
        config: `
${modeLine(mode)}
${DEADLINE}

[[attach]]
cgroup = "${rel(top)}"
policy = "priority"
[attach.options.cgroups]
"${rel(high)}" = 10
"${rel(low)}" = -10

[[trigger]]
name = "prio-guard"
cgroup = "${rel(top)}"
guard_band = { margin_bytes = "8M" }
`,
      });
      const idle = await idleUsage(d, 2000);
      const kernelBefore = vmstatOomKills();
      const h = t.hog({ cgroup: high, mib: 100, noHugePages: true });
      await h.ready;
      // The low-priority job is started frozen; the trouble starts at the thaw, once the daemon's
      // standing plan for the scope names it (by priority, although it is the smaller).
      writeFileSync(path.join(low, "cgroup.freeze"), "1");
      await waitForKey(path.join(low, "cgroup.events"), "frozen", (v) => v === 1, 10_000);
      const l = t.hog({ cgroup: low, mib: 70, rateMibPerS: 20, noHugePages: true });
      await joined([{ hog: l, cg: low }]);
      const standing = mode === "standing" ? await d.waitStanding(rel(top), (v) => planPids(v.record).includes(l.pid) && v.policy === "priority", GENEROUS_MS) : undefined;
      const during = d.sample();
      writeFileSync(path.join(low, "cgroup.freeze"), "0");
      const rec = await d.waitRecord((r) => r.plan.length > 0, GENEROUS_MS);
      const episode = during.stop();
      assert.equal(rec.decision?.path, mode === "standing" ? "standing" : undefined, `${decisionOf(rec)}; the plan before the thaw: ${JSON.stringify(standing?.record.plan)}`);

      assert.equal(rec.policy, "priority", `${decisionOf(rec)}: ${JSON.stringify(rec.chain)}\n${d.lines().filter((l) => /standing|oom_policy/.test(l)).join("\n")}`);
      assert.deepEqual(
        rec.plan.map((a) => (a.kind === "kill-task" ? a.pid : a.kind)),
        [l.pid],
      );
      assert.equal((await l.exited).signal, "SIGKILL", "the low-priority job is killed");
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(exists(h.pid), "the important job lives");
      assert.equal(readKeyed(path.join(top, "memory.events")).oom_kill, 0, "before the kernel");
      assert.equal(vmstatOomKills(), kernelBefore);
      addFigure("priority (guard band 8M)", rec, { idle, episode });
      await d.stop();
    });
  }
});
