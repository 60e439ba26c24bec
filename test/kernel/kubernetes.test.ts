// The kubernetes policy on a real kernel: kubelet-shaped cgroup trees (cgroupfs and systemd
// layouts, under the test tree as under a --cgroup-root) holding real processes with the
// oom_score_adj values kubelet's runtime writes, and the engine carrying out the policy's plans
// with the live kill backend: BestEffort first, then Burstable by usage above request, the pause
// container never on its own, and the whole pod with kill = "pod".
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import type { EpisodeRecord } from "../../src/engine/episode.js";
import { LiveExecutor } from "../../src/engine/executor.js";
import type { OomCause } from "../../src/engine/policy.js";
import { takeSnapshot } from "../../src/engine/snapshot.js";
import { VictimRegistry } from "../../src/engine/victims.js";
import { LinuxBackend } from "../../src/os/backend.js";
import { LinuxHost } from "../../src/os/linux-host.js";
import { cgroupPath } from "../../src/os/paths.js";
import { CGROUP_ROOT, type Hog, TestTree, vmSkip } from "./helpers.js";
import { kernelPolicy } from "../../src/policy/kernel.js";
import { kubernetes } from "../../src/policy/kubernetes.js";

const cause: OomCause = { kind: "manual", trigger: "test", message: "kubernetes policy test", figures: {} };

interface Layout {
  readonly name: string;
  pod(qos: "besteffort" | "burstable" | "guaranteed", uid: string): string;
  container(pod: string, id: string): string;
}

const CGROUPFS: Layout = {
  name: "cgroupfs",
  pod: (qos, uid) => (qos === "guaranteed" ? `kubepods/pod${uid}` : `kubepods/${qos}/pod${uid}`),
  container: (pod, id) => `${pod}/${id.padEnd(64, "0")}`,
};

const SYSTEMD: Layout = {
  name: "systemd",
  pod: (qos, uid) => {
    const u = uid.replaceAll("-", "_");
    return qos === "guaranteed" ? `kubepods.slice/kubepods-pod${u}.slice` : `kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${u}.slice`;
  },
  container: (pod, id) => `${pod}/cri-containerd-${id.padEnd(64, "0")}.scope`,
};

const UID = { be: "0b8c0f5e-1d1a-4b6e-9f3a-5c2f1e4d7a01", api: "1c9d1a6f-2e2b-4c7f-8a4b-6d3a2f5e8b02", worker: "2dae2b70-3f3c-4d80-9b5c-7e4b3a6f9c03", db: "3ebf3c81-4a4d-4e91-8c6d-8f5c4b7a0d04" };

/** A hog in `rel` with the oom_score_adj kubelet's runtime would have written, once it holds its memory. */
async function container(t: TestTree, rel: string, mib: number, adj: number): Promise<Hog> {
  const h = t.hog({ cgroup: t.mk(rel), mib });
  await h.ready;
  writeFileSync(`/proc/${h.pid}/oom_score_adj`, String(adj));
  return h;
}

const alive = (h: Hog): boolean => {
  try {
    process.kill(h.pid, 0);
    return true;
  } catch {
    return false;
  }
};

const killed = (r: EpisodeRecord): string[] => r.plan.map((a) => (a.kind === "kill-cgroup" ? a.cgroup : a.kind));

for (const layout of [CGROUPFS, SYSTEMD]) {
  describe(`kubernetes policy, ${layout.name} layout, on a real kernel`, { skip: vmSkip() }, () => {
    test("BestEffort, then Burstable furthest above its request, then with kill = \"pod\" a whole pod; the pause container never alone", async (ctx) => {
      const t = await TestTree.create(`k8s-${layout.name}`);
      try {
        const scope = `/${path.relative(CGROUP_ROOT, t.root)}`;
        const rel = (p: string) => `${scope}/${p}`;
        const be = layout.pod("besteffort", UID.be);
        const api = layout.pod("burstable", UID.api);
        const worker = layout.pod("burstable", UID.worker);
        const db = layout.pod("guaranteed", UID.db);
        // kubelet's values: BestEffort 1000, pause -998, Guaranteed -997; Burstable 1000 - 1000 ×
        // request / MemTotal: api 900 (request ≥ 10 % of the guest's memory, more than its 64 MiB),
        // worker 990 (request ≥ 1 %, under its 40 MiB): worker is further above its request.
        const hogs = {
          bePause: await container(t, layout.container(be, "a0"), 1, -998),
          beApp: await container(t, layout.container(be, "a1"), 16, 1000),
          apiPause: await container(t, layout.container(api, "b0"), 1, -998),
          api: await container(t, layout.container(api, "b1"), 64, 900),
          workerPause: await container(t, layout.container(worker, "c0"), 1, -998),
          worker: await container(t, layout.container(worker, "c1"), 40, 990),
          db: await container(t, layout.container(db, "d1"), 96, -997),
        };
        const host = new LinuxHost();
        const victims = new VictimRegistry();
        const backend = new LinuxBackend({ host, cgroupMount: CGROUP_ROOT });
        const engineWith = (kill: "container" | "pod") =>
          // A generous deadline: under TCG reading the tree takes many times what it does on hardware,
          // and this test is about the choice (the time each call took is printed below).
          new Engine({
            attachments: [{ cgroup: cgroupPath(scope), policy: kubernetes, options: kubernetes.parseOptions?.({ kill }) }],
            defaultPolicy: { policy: kernelPolicy, options: {} },
            victims,
            policyDeadlineMs: 10_000,
          });
        const oom = async (kill: "container" | "pod") => {
          const r = await engineWith(kill).handleOom({ snapshot: takeSnapshot(host), scope, cause, mode: "live", executor: new LiveExecutor(backend, victims) });
          const own = r.chain.find((c) => c.policy === "kubernetes");
          ctx.diagnostic(`kill = ${kill}: kubernetes ${own?.outcome} in ${own?.durationMs.toFixed(1)} ms`);
          return r;
        };
        const why = (r: EpisodeRecord) => JSON.stringify({ chain: r.chain.map((c) => [c.policy, c.outcome, c.reason, c.error, c.durationMs]), candidates: r.candidates.filter((c) => c.policy === "kubernetes") });

        const first = await oom("container");
        assert.deepEqual(killed(first), [rel(layout.container(be, "a1"))], why(first));
        assert.equal((await hogs.beApp.exited).signal, "SIGKILL");
        assert.ok(alive(hogs.bePause), "the BestEffort pod's pause container is not killed with its app container");

        const second = await oom("container");
        assert.deepEqual(killed(second), [rel(layout.container(worker, "c1"))], why(second));
        assert.equal((await hogs.worker.exited).signal, "SIGKILL");
        assert.ok(alive(hogs.api), "api, larger but within its request, is spared");
        assert.ok(alive(hogs.workerPause) && alive(hogs.bePause), "pause containers are never chosen alone");

        const third = await oom("pod");
        assert.deepEqual(killed(third), [rel(api)], why(third));
        assert.equal((await hogs.api.exited).signal, "SIGKILL");
        assert.equal((await hogs.apiPause.exited).signal, "SIGKILL", "the whole pod goes, its sandbox with it");
        assert.ok(alive(hogs.db), "the Guaranteed pod stays while a Burstable one is left");
        for (const r of [first, second, third]) assert.equal(r.actions[0]?.freed, true, JSON.stringify(r.actions));
      } finally {
        await t.teardown();
      }
    });
  });
}
