/**
 * The `kubernetes` built-in on fixture nodes in both of kubelet's layouts: QoS order, usage above
 * request (from oom_score_adj and memory.min), the sandbox never alone, container or pod kills,
 * the original values under the kernel fallback's follow mode, and cgroup v1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { OriginalAdjView, type RaisedTask } from "../../../src/daemon/follow-view.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { kubernetes } from "../../../src/policy/kubernetes.js";
import { containerPath, kubeCgroup } from "../../../src/policy/kubernetes-layout.js";
import { requestFromMemoryMin, requestFromOomScoreAdj, sumRequests } from "../../../src/policy/kubernetes-request.js";
import type { OomkitError } from "../../../src/errors.js";
import { NO_PROTECTIONS } from "../../../src/engine/verify.js";
import { Engine } from "../../../src/engine/engine.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import type { Host } from "../../../src/os/host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { CGROUPFS, HYBRID, MB, POD, SYSTEMD, type KubeNames, cause, chainOf, cid, engineWith, kubeNode, machine, snapshotOf } from "./machines.js";

const killed = (r: EpisodeRecord): string[] => r.plan.map((a) => (a.kind === "kill-cgroup" ? a.cgroup : a.kind));

describe("kubelet's layouts, from paths", () => {
  const table: [string, unknown][] = [
    ["/kubepods", undefined],
    ["/kubepods/burstable", undefined],
    [`/kubepods/pod${POD.db}`, { kind: "pod", layout: "cgroupfs", qos: "guaranteed", uid: POD.db }],
    [`/kubepods/besteffort/pod${POD.api}`, { kind: "pod", layout: "cgroupfs", qos: "besteffort", uid: POD.api }],
    [`/kubepods/burstable/pod${POD.api}/${cid("b1")}`, { kind: "container", layout: "cgroupfs", qos: "burstable", uid: POD.api, pod: `/kubepods/burstable/pod${POD.api}`, runtime: undefined, id: cid("b1"), monitor: false }],
    [`/kubepods/burstable/pod${POD.api}/crio-conmon-${cid("b1")}`, { kind: "container", layout: "cgroupfs", qos: "burstable", uid: POD.api, pod: `/kubepods/burstable/pod${POD.api}`, runtime: "crio", id: cid("b1"), monitor: true }],
    ["/kubelet/kubepods/pod6a3be0c1f2d34e5f6a7b8c9d0e1f2a3b", { kind: "pod", layout: "cgroupfs", qos: "guaranteed", uid: "6a3be0c1f2d34e5f6a7b8c9d0e1f2a3b" }],
    [`/kubepods.slice/kubepods-pod${POD.db.replaceAll("-", "_")}.slice`, { kind: "pod", layout: "systemd", qos: "guaranteed", uid: POD.db }],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD.api.replaceAll("-", "_")}.slice/cri-containerd-${cid("b1")}.scope`,
      { kind: "container", layout: "systemd", qos: "burstable", uid: POD.api, pod: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD.api.replaceAll("-", "_")}.slice`, runtime: "containerd", id: cid("b1"), monitor: false },
    ],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD.api.replaceAll("-", "_")}.slice/crio-${cid("1")}.scope`, { runtime: "crio", monitor: false }],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD.api.replaceAll("-", "_")}.slice/crio-conmon-${cid("1")}.scope`, { runtime: "crio", monitor: true }],
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD.api.replaceAll("-", "_")}.slice/docker-${cid("1")}.scope`, { runtime: "docker", monitor: false }],
    ["/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-podab_cd.slice", { kind: "pod", qos: "besteffort", uid: "ab-cd" }],
    // A QoS slice that does not match its pod's name, a pod folder without "pod", other trees.
    ["/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-podab.slice", undefined],
    ["/kubepods/burstable/notapod", undefined],
    ["/system.slice/kubelet.service", undefined],
    ["/user.slice/kubepods-x", undefined],
  ];
  for (const [p, want] of table) {
    test(`${p} → ${want === undefined ? "nothing" : JSON.stringify(want).slice(0, 60)}`, () => {
      const got = kubeCgroup(p);
      if (want === undefined) assert.equal(got, undefined);
      else assert.deepEqual({ ...got, ...(want as object) }, got, `${JSON.stringify(got)} is not ${JSON.stringify(want)}`);
    });
  }

  test("a folder below a container belongs to that container (crun's nested cgroup)", () => {
    const p = `/kubepods.slice/kubepods-pod${POD.db.replaceAll("-", "_")}.slice/crio-${cid("d")}.scope/container`;
    const k = kubeCgroup(p);
    assert.ok(k && k.kind === "container");
    assert.equal(containerPath(p, k), `/kubepods.slice/kubepods-pod${POD.db.replaceAll("-", "_")}.slice/crio-${cid("d")}.scope`);
  });
});

describe("the request kubelet's values imply", () => {
  /** kubelet's GetContainerOOMScoreAdjust for a Burstable container. */
  const kubelet = (request: number, capacity: number): number => {
    const adj = 1000 - Math.trunc((1000 * request) / capacity);
    if (adj < 3) return 3;
    if (adj === 1000) return 999;
    return adj;
  };

  test("the formula's inverse holds every request, to within capacity / 1000", () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const capacity = Math.floor(1e9 + rand() * 6e10);
      const request = Math.floor(rand() * capacity * (i % 10 === 0 ? 0.003 : 1.02));
      const e = requestFromOomScoreAdj(kubelet(request, capacity), capacity);
      assert.ok(e, `adj ${kubelet(request, capacity)}`);
      assert.ok(e.bytes <= request && request < e.upToBytes, `${request} not in [${e.bytes}, ${e.upToBytes}) for capacity ${capacity}`);
      // Within one point (capacity / 1000) of the request; two at the 999 clamp; unbounded at 3.
      const adj = kubelet(request, capacity);
      if (adj !== 3) assert.ok(e.bytes > request - ((adj === 999 ? 2 : 1) * capacity) / 1000 - 1, `the lower bound ${e.bytes} is within a point of ${request}`);
    }
  });

  test("the clamps bound one side only, and kubelet's other values imply no Burstable request", () => {
    const cap = 1_000_000_000;
    assert.deepEqual(requestFromOomScoreAdj(900, cap), { bytes: 100_000_000, upToBytes: 101_000_000, exact: false, source: "oom_score_adj 900" });
    assert.deepEqual(requestFromOomScoreAdj(999, cap), { bytes: 0, upToBytes: 2_000_000, exact: false, source: "oom_score_adj 999, at kubelet's clamp" });
    assert.equal(requestFromOomScoreAdj(3, cap)?.bytes, 997_000_000);
    assert.equal(requestFromOomScoreAdj(3, cap)?.upToBytes, Number.POSITIVE_INFINITY);
    for (const adj of [1000, -997, -998, -999, -1000, 0, 2, 1.5]) assert.equal(requestFromOomScoreAdj(adj, cap), undefined, `adj ${adj}`);
    assert.equal(requestFromOomScoreAdj(900, 0), undefined);
  });

  test("memory.min is exact when set; a pod sums its containers'", () => {
    assert.deepEqual(requestFromMemoryMin(64 * MB), { bytes: 64 * MB, upToBytes: 64 * MB, exact: true, source: "memory.min" });
    assert.equal(requestFromMemoryMin(0), undefined);
    assert.equal(requestFromMemoryMin(undefined), undefined);
    const sum = sumRequests([requestFromMemoryMin(10), requestFromOomScoreAdj(900, 1000)]);
    assert.deepEqual({ bytes: sum?.bytes, upTo: sum?.upToBytes, exact: sum?.exact }, { bytes: 110, upTo: 111, exact: false });
    assert.equal(sumRequests([undefined, requestFromMemoryMin(10)])?.upToBytes, Number.POSITIVE_INFINITY);
    assert.equal(sumRequests([undefined]), undefined);
  });
});

for (const n of [CGROUPFS, SYSTEMD] as const) {
  describe(`kubernetes on a ${n.layout} node`, () => {
    const dir = machine(kubeNode(n));
    const noBe = machine(kubeNode(n, { bestEffort: false }));
    const decide = (d: string, options: unknown = {}, scope = "/") => engineWith(kubernetes, "/", options).explain(snapshotOf(d), scope, cause);
    const pod = (qos: "besteffort" | "burstable" | "guaranteed", uid: string) => n.pod(qos, uid);

    test("BestEffort goes first, the container and never its pause", async () => {
      const r = await decide(dir);
      assert.deepEqual(chainOf(r), ["kubernetes:handled"]);
      assert.deepEqual(killed(r), [n.container(pod("besteffort", POD.bestEffort), cid("a1"))]);
    });

    test("then Burstable by usage above request: worker (300 MiB, request ≥ 39 MiB) before the larger api (500 MiB, request ≥ 391 MiB)", async () => {
      const r = await decide(noBe);
      assert.deepEqual(killed(r), [n.container(pod("burstable", POD.worker), cid("c1"), "docker")]);
      const api = r.candidates.find((c) => c.cgroup === n.container(pod("burstable", POD.api), cid("b1"), "crio"));
      assert.match(api?.note ?? "", /request 390\.6 MiB–394\.5 MiB \(oom_score_adj 900\): 109\.4 MiB above it/);
    });

    test("the ranking: BestEffort, Burstable by excess, Guaranteed and node-critical last; sandbox, conmon and pods with only a pause are never candidates", async () => {
      const r = await decide(dir);
      const order = r.candidates.filter((c) => c.policy === "kubernetes" && c.skipped === undefined).sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0)).map((c) => c.cgroup);
      assert.deepEqual(order, [
        n.container(pod("besteffort", POD.bestEffort), cid("a1")),
        n.container(pod("burstable", POD.worker), cid("c1"), "docker"),
        n.container(pod("burstable", POD.api), cid("b1"), "crio"),
        n.container(pod("guaranteed", POD.db), cid("d1")),
        n.container(pod("burstable", POD.dns), cid("e1")),
      ]);
      const idle = r.candidates.find((c) => c.cgroup === pod("burstable", POD.idle));
      assert.match(idle?.skipped ?? "", /only the pod's sandbox/);
    });

    test("requests = \"ignore\": Burstable by usage alone", async () => {
      const r = await decide(noBe, { requests: "ignore" });
      assert.deepEqual(killed(r), [n.container(pod("burstable", POD.api), cid("b1"), "crio")]);
    });

    test("memory.min (MemoryQoS) is the exact request and wins over oom_score_adj", async () => {
      const d = machine(kubeNode(n, { bestEffort: false }));
      // api's request is really 50 MiB: 450 MiB above it, more than worker's.
      fs.writeFileSync(path.join(d, "sys/fs/cgroup", n.container(pod("burstable", POD.api), cid("b1"), "crio"), "memory.min"), `${50 * MB}\n`);
      const r = await decide(d);
      assert.deepEqual(killed(r), [n.container(pod("burstable", POD.api), cid("b1"), "crio")]);
      assert.match(r.candidates.find((c) => c.rank === 1)?.note ?? "", /request 50\.0 MiB \(memory\.min\)/);
    });

    test("kill = \"pod\": the whole pod's cgroup", async () => {
      assert.deepEqual(killed(await decide(dir, { kill: "pod" })), [pod("besteffort", POD.bestEffort)]);
      assert.deepEqual(killed(await decide(noBe, { kill: "pod" })), [pod("burstable", POD.worker)]);
    });

    test("an OOM inside a pod (its memory.max) kills in that pod; the pod mode kills the pod when it is the scope", async () => {
      const scope = pod("burstable", POD.worker);
      assert.deepEqual(killed(await decide(dir, {}, scope)), [n.container(scope, cid("c1"), "docker")]);
      assert.deepEqual(killed(await decide(dir, { kill: "pod" }, scope)), [scope]);
      const inner = n.container(pod("burstable", POD.api), cid("b1"), "crio");
      assert.deepEqual(killed(await decide(dir, { kill: "pod" }, inner)), [inner], "a scope inside the pod: only the container is in reach");
    });

    test("Guaranteed pods go only when nothing else is left", async () => {
      const r = await decide(dir, {}, pod("guaranteed", POD.db));
      assert.deepEqual(killed(r), [n.container(pod("guaranteed", POD.db), cid("d1"))]);
    });

    test("no pod in the scope: passes, and the next policy decides", async () => {
      const r = await decide(dir, {}, "/system.slice");
      assert.deepEqual(chainOf(r), ["kubernetes:passed", "kernel:handled"]);
    });

    test("an omit-marked pod is never killed: the next one goes", async () => {
      const d = machine(kubeNode(n));
      const fx = path.join(d, "oomkit-fixture.json");
      const meta = JSON.parse(fs.readFileSync(fx, "utf8")) as { xattrs: Record<string, Record<string, string>> };
      meta.xattrs[`/sys/fs/cgroup${pod("besteffort", POD.bestEffort)}`] = { "trusted.oomd_omit": "1" };
      fs.writeFileSync(fx, JSON.stringify(meta));
      const r = await engineWith(kubernetes, "/", {}, { protections: { ...NO_PROTECTIONS, omitXattrs: ["trusted.oomd_omit"] } }).explain(snapshotOf(d), "/", cause);
      assert.deepEqual(killed(r), [n.container(pod("burstable", POD.worker), cid("c1"), "docker")]);
    });

    test("under kernel_fallback = \"follow\", the original oom_score_adj decides, not the raised 1000", async () => {
      const d = machine(kubeNode(n, { bestEffort: false }));
      // The kernel fallback raised api (900) to 1000: read raw, its request would look unknown (0) and it would go first.
      fs.writeFileSync(path.join(d, "proc/201/oom_score_adj"), "1000\n");
      const raw = await engineWith(kubernetes, "/").explain(takeSnapshot(new FixtureHost(d)), "/", cause);
      assert.deepEqual(killed(raw), [n.container(pod("burstable", POD.api), cid("b1"), "crio")], "the raised value misleads a raw read");
      const raised = new Map<number, RaisedTask>([[201, { pid: 201, startTimeTicks: 1201, original: 900 }]]);
      const r = await engineWith(kubernetes, "/").explain(takeSnapshot(new OriginalAdjView(new FixtureHost(d), raised)), "/", cause);
      assert.deepEqual(killed(r), [n.container(pod("burstable", POD.worker), cid("c1"), "docker")]);
    });
  });
}

describe("kubernetes elsewhere", () => {
  /** A host on which reading `file` never ends: only the deadline's watchdog stops it (a stuck read while thrashing). */
  class StuckRead extends HostDecorator {
    constructor(
      inner: Host,
      readonly file: string,
    ) {
      super(inner);
    }
    override readFile(p: string): string {
      if (p === this.file) {
        const giveUp = Date.now() + 20_000;
        while (Date.now() < giveUp) {
          /* stuck */
        }
        throw new Error(`nothing stopped the read of ${p}`);
      }
      return super.readFile(p);
    }
  }

  test("cut short by its deadline, it kills the best it got to (BestEffort before the stuck Guaranteed pod)", async () => {
    const d = machine(kubeNode(CGROUPFS));
    const stuck = `/sys/fs/cgroup${CGROUPFS.container(CGROUPFS.pod("guaranteed", POD.db), cid("d1"))}/memory.stat`;
    const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy: kubernetes, options: kubernetes.parseOptions?.({}) }], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 300 });
    const r = await engine.explain(takeSnapshot(new StuckRead(new FixtureHost(d), stuck)), "/", cause);
    assert.deepEqual(chainOf(r), ["kubernetes:handled"], "not handed on to the kernel's badness");
    assert.deepEqual(killed(r), [CGROUPFS.container(CGROUPFS.pod("besteffort", POD.bestEffort), cid("a1"))]);
    assert.match(r.chain[0]?.cutShort ?? "", /ran past its deadline of 300 ms/);
  });

  test("cgroup v1 / hybrid node: passes, and the kernel's badness (which kubelet's values order) decides", async () => {
    const r = await engineWith(kubernetes, "/").explain(snapshotOf(machine(HYBRID)), "/", cause);
    assert.deepEqual(chainOf(r), ["kubernetes:passed", "kernel:handled"]);
    assert.match(r.chain[0]?.reason ?? "", /cgroup v1/);
  });

  test("options are checked with the policy's name", () => {
    const parse = kubernetes.parseOptions as (raw: unknown) => unknown;
    assert.deepEqual(parse({}), { kill: "container", requests: "estimate" });
    assert.throws(() => parse({ kill: "node" }), (e: OomkitError) => e.code === "E_CONFIG" && /policy kubernetes: options\.kill/.test(e.message));
    assert.throws(() => parse({ capacityBytes: -1 }), /options\.capacityBytes/);
  });

  test("capacityBytes replaces MemTotal in the estimate", async () => {
    // With a capacity ten times smaller, api's 900 means a request ≥ 39 MiB: now it is furthest above it.
    const r = await engineWith(kubernetes, "/", { capacityBytes: 409_600_000 }).explain(snapshotOf(machine(kubeNode(CGROUPFS, { bestEffort: false }))), "/", cause);
    assert.deepEqual(killed(r), [CGROUPFS.container(CGROUPFS.pod("burstable", POD.api), cid("b1"), "crio")]);
  });
});

export type { KubeNames };
