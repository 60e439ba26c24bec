/**
 * Fixture machines shared by the policy tests: each one built on disk by buildFixture, plus the
 * engine helpers those tests use.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine, type EngineOptions } from "../../../src/engine/engine.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { takeSnapshot, type Snapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import { cgroupPath } from "../../../src/os/paths.js";
import type { OomCause, Policy } from "../../../src/engine/policy.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture, type FixtureCgroup, type FixtureSpec } from "../../support/fixture.js";

export const MB = 1024 * 1024;
export const KB_PER_MB = 1024;
export const cause: OomCause = { kind: "cgroup", trigger: "test", message: "test", figures: {} };

export { OOM_TEST } from "../../support/machines.js";

const U = "/user.slice/user-1000.slice";

/** A desktop: systemd slices, oomkit in its own service, marks from systemd-oomd and oomd, swap in use. */
export const DESKTOP: FixtureSpec = {
  memTotalKb: 8_000_000,
  swapTotalKb: 2_000_000,
  swapFreeKb: 1_500_000,
  selfPid: 50,
  cgroups: {
    "/": { anon: 3600 * MB, file: 400 * MB, pgscan: 6050 },
    "/init.scope": { anon: 5 * MB },
    "/system.slice": {},
    "/system.slice/oomkit.service": { anon: 40 * MB },
    "/system.slice/sshd.service": { anon: 5 * MB, xattrs: { "user.oomd_omit": "1" } },
    "/system.slice/db.service": { anon: 900 * MB, file: 300 * MB, swapCurrent: 100 * MB, pgscan: 1000, xattrs: { "user.oomd_avoid": "1" } },
    "/user.slice": {},
    "/user.slice/user-1000.slice": {},
    [`${U}/session-1.scope`]: { anon: 200 * MB, file: 100 * MB, pgscan: 50 },
    [`${U}/app-browser.scope`]: { anon: 1500 * MB, swapCurrent: 300 * MB, pgscan: 5000, xattrs: { "trusted.oomd_prefer": "1" } },
    [`${U}/app-build.scope`]: { anon: 800 * MB, oomGroup: true },
    [`${U}/app-build.scope/make`]: { anon: 100 * MB },
    [`${U}/app-build.scope/cc1`]: { anon: 700 * MB },
    [`${U}/empty.scope`]: {},
  },
  tasks: [
    { pid: 1, comm: "systemd", cgroup: "/init.scope", rssAnonKb: 5 * KB_PER_MB },
    { pid: 2, comm: "kthreadd", kthread: true, cgroup: "/" },
    { pid: 3, comm: "kworker/0:0", kthread: true, cgroup: "/" },
    { pid: 50, comm: "oomkit", cgroup: "/system.slice/oomkit.service", rssAnonKb: 40 * KB_PER_MB },
    { pid: 60, comm: "sshd", cgroup: "/system.slice/sshd.service", rssAnonKb: 5 * KB_PER_MB },
    { pid: 70, comm: "postgres", cgroup: "/system.slice/db.service", rssAnonKb: 900 * KB_PER_MB, swapKb: 100 * KB_PER_MB },
    { pid: 71, comm: "postgres", cgroup: "/system.slice/db.service", rssAnonKb: 10 * KB_PER_MB, oomScoreAdj: -1000 },
    { pid: 100, comm: "bash", cgroup: `${U}/session-1.scope`, uid: 1000, rssAnonKb: 5 * KB_PER_MB },
    { pid: 101, comm: "gnome-shell", cgroup: `${U}/session-1.scope`, uid: 1000, rssAnonKb: 195 * KB_PER_MB },
    { pid: 200, comm: "firefox", cgroup: `${U}/app-browser.scope`, uid: 1000, rssAnonKb: 1200 * KB_PER_MB, swapKb: 250 * KB_PER_MB, cmdline: ["/usr/lib/firefox/firefox", "--no-remote"] },
    { pid: 201, comm: "Web Content (1)", cgroup: `${U}/app-browser.scope`, uid: 1000, rssAnonKb: 300 * KB_PER_MB, swapKb: 50 * KB_PER_MB },
    { pid: 300, comm: "make", cgroup: `${U}/app-build.scope/make`, uid: 1000, rssAnonKb: 100 * KB_PER_MB },
    { pid: 301, comm: "cc1", cgroup: `${U}/app-build.scope/cc1`, uid: 1000, rssAnonKb: 700 * KB_PER_MB, oomScoreAdj: 200 },
    { pid: 400, comm: "defunct", cgroup: `${U}/session-1.scope`, uid: 1000, state: "Z" },
  ],
};

const MISSING: readonly string[] = [
  "memory.stat",
  "memory.current",
  "memory.swap.current",
  "memory.swap.max",
  "memory.oom.group",
  "memory.pressure",
  "memory.events",
  "memory.min",
  "memory.low",
  "memory.max",
  "cgroup.events",
];
const sparse = (c: FixtureCgroup = {}): FixtureCgroup => ({ ...c, omit: MISSING });

/** An old or locked-down kernel: most memory files are missing, and a listed pid has no /proc entry. */
export const MISSING_FILES: FixtureSpec = {
  cgroups: {
    "/": sparse(),
    "/work": sparse(),
    "/work/a": sparse({ anon: 300 * MB }),
    "/work/b": sparse({ anon: 100 * MB, oomGroup: true }),
    "/work/b/inner": sparse(),
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "a", cgroup: "/work/a", rssAnonKb: 300 * KB_PER_MB, swapKb: 5 * KB_PER_MB },
    { pid: 11, comm: "b", cgroup: "/work/b/inner", rssAnonKb: 100 * KB_PER_MB },
  ],
};

/** Hybrid cgroups (v1 memory controller): system-level mode, no per-cgroup figures. */
export const HYBRID: FixtureSpec = {
  mode: "hybrid",
  swapTotalKb: 1_000_000,
  swapFreeKb: 800_000,
  selfPid: 5,
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 2, comm: "kthreadd", kthread: true },
    { pid: 5, comm: "oomkit", cgroup: "/system.slice/oomkit.service", rssAnonKb: 40 * KB_PER_MB },
    { pid: 20, comm: "leak", cgroup: "/user.slice/leak", rssAnonKb: 500 * KB_PER_MB, swapKb: 150 * KB_PER_MB },
    { pid: 21, comm: "editor", cgroup: "/user.slice/editor", rssAnonKb: 600 * KB_PER_MB, swapKb: 10 * KB_PER_MB },
    { pid: 22, comm: "guard", cgroup: "/system.slice/guard", rssAnonKb: 900 * KB_PER_MB, oomScoreAdj: -1000 },
  ],
};

/** Builds a machine on disk; `files` are written under the fixture (machine path → size in bytes). */
export function machine(spec: FixtureSpec, files: Readonly<Record<string, number>> = {}): string {
  const dir = buildFixture(spec);
  for (const [p, size] of Object.entries(files)) {
    const local = path.join(dir, p);
    fs.mkdirSync(path.dirname(local), { recursive: true });
    fs.writeFileSync(local, Buffer.alloc(size));
  }
  return dir;
}

export function snapshotOf(dir: string): Snapshot {
  return takeSnapshot(new FixtureHost(dir));
}

/** A snapshot of `dir` whose host notes every file read, and the pids whose /proc files were read so far. */
export function snapshotNotingReads(dir: string): { snapshot: Snapshot; pidsRead: () => ReadonlySet<number> } {
  const read: string[] = [];
  class Reads extends HostDecorator {
    override readFile(p: string): string {
      read.push(p);
      return super.readFile(p);
    }
  }
  return { snapshot: takeSnapshot(new Reads(new FixtureHost(dir))), pidsRead: () => new Set(read.flatMap((p) => /^\/proc\/(\d+)\//.exec(p)?.[1] ?? []).map(Number)) };
}

/**
 * An engine with `policy` attached at `scope` (parsed options), and the kernel as the default.
 * The deadline is generous: these tests are about what a policy decides, and a loaded test
 * machine must not turn a decision into a timeout (deadlines have tests of their own).
 */
export function engineWith(policy: Policy | undefined, scope: string, rawOptions: unknown = {}, extra: Partial<EngineOptions> = {}): Engine {
  const attachments = policy ? [{ cgroup: cgroupPath(scope), policy, options: policy.parseOptions ? policy.parseOptions(rawOptions) : rawOptions }] : [];
  return new Engine({ attachments, defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 10_000, ...extra });
}

/** The chain as "policy:outcome" strings, for compact assertions. */
export function chainOf(r: EpisodeRecord): string[] {
  return r.chain.map((c) => `${c.policy}:${c.outcome}`);
}

/** Pod uids as kubelet names them (a static pod's is a hash without dashes). */
export const POD = {
  bestEffort: "0b8c0f5e-1d1a-4b6e-9f3a-5c2f1e4d7a01",
  api: "1c9d1a6f-2e2b-4c7f-8a4b-6d3a2f5e8b02",
  worker: "2dae2b70-3f3c-4d80-9b5c-7e4b3a6f9c03",
  db: "3ebf3c81-4a4d-4e91-8c6d-8f5c4b7a0d04",
  dns: "4fc04d92-5b5e-4fa2-9d7e-9a6d5c8b1e05",
  idle: "50d15ea3-6c6f-40b3-8e8f-0b7e6d9c2f06",
};

/** How kubelet names a pod's and a container's cgroups in each layout (tests build both from one list). */
export interface KubeNames {
  readonly layout: "cgroupfs" | "systemd";
  pod(qos: "besteffort" | "burstable" | "guaranteed", uid: string): string;
  container(pod: string, id: string, runtime?: "cri-containerd" | "crio" | "docker" | "crio-conmon"): string;
}

export const CGROUPFS: KubeNames = {
  layout: "cgroupfs",
  pod: (qos, uid) => (qos === "guaranteed" ? `/kubepods/pod${uid}` : `/kubepods/${qos}/pod${uid}`),
  // CRI-O names its folders crio-<id> (and crio-conmon-<id>) with cgroupfs too; the others use the bare id.
  container: (pod, id, runtime) => (runtime === "crio" || runtime === "crio-conmon" ? `${pod}/${runtime}-${id}` : `${pod}/${id}`),
};

export const SYSTEMD: KubeNames = {
  layout: "systemd",
  pod: (qos, uid) => {
    const u = uid.replaceAll("-", "_");
    return qos === "guaranteed" ? `/kubepods.slice/kubepods-pod${u}.slice` : `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${u}.slice`;
  },
  container: (pod, id, runtime = "cri-containerd") => `${pod}/${runtime}-${id}.scope`,
};

/** A container id as runtimes write them (64 hex digits), made from a short tag. */
export const cid = (tag: string): string => tag.padEnd(64, "0");

/**
 * A Kubernetes node (MemTotal 4 000 000 kB, so kubelet's capacity is 4 096 000 000 bytes and one
 * point of oom_score_adj is 4 096 000 bytes), with oom_score_adj values as kubelet writes them:
 * - a BestEffort pod (nginx, 1000) with its pause container (-998);
 * - Burstable "api" (900: request ≥ 100 points ≈ 390.6 MiB) using 500 MiB, and "worker" (990:
 *   request ≥ 10 points ≈ 39.1 MiB) using 300 MiB, with its pause: worker is further above its request;
 * - a Guaranteed "db" (-997) using 1500 MiB; a node-critical Burstable "coredns" (-997);
 * - a Burstable pod whose app container exited, only its pause alive;
 * - kubelet (-999) in system.slice, far larger than any pod.
 * Each pod's containers use the runtime `runtimes` names in turn (systemd layout).
 */
export function kubeNode(n: KubeNames, opts: { readonly bestEffort?: boolean } = {}): FixtureSpec {
  const be = n.pod("besteffort", POD.bestEffort);
  const api = n.pod("burstable", POD.api);
  const worker = n.pod("burstable", POD.worker);
  const db = n.pod("guaranteed", POD.db);
  const dns = n.pod("burstable", POD.dns);
  const idle = n.pod("burstable", POD.idle);
  const c = {
    nginx: n.container(be, cid("a1")),
    bePause: n.container(be, cid("a0")),
    api: n.container(api, cid("b1"), "crio"),
    apiConmon: n.container(api, cid("b1"), "crio-conmon"),
    worker: n.container(worker, cid("c1"), "docker"),
    workerPause: n.container(worker, cid("c0"), "docker"),
    db: n.container(db, cid("d1")),
    dns: n.container(dns, cid("e1")),
    idleApp: n.container(idle, cid("f1")),
    idlePause: n.container(idle, cid("f0")),
  };
  const withBe = opts.bestEffort !== false;
  const kubepods = n.layout === "cgroupfs" ? ["/kubepods", "/kubepods/besteffort", "/kubepods/burstable"] : ["/kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice", "/kubepods.slice/kubepods-burstable.slice"];
  return {
    memTotalKb: 4_000_000,
    selfPid: 40,
    cgroups: {
      "/": { anon: 4600 * MB, file: 150 * MB },
      "/system.slice": {},
      "/system.slice/oomkit.service": { anon: 40 * MB },
      "/system.slice/kubelet.service": { anon: 2000 * MB, file: 100 * MB },
      ...Object.fromEntries(kubepods.map((p) => [p, {}])),
      ...(withBe ? { [be]: {}, [c.nginx]: { anon: 50 * MB }, [c.bePause]: { anon: 1 * MB } } : {}),
      [api]: {},
      [c.api]: { anon: 500 * MB, file: 50 * MB },
      [c.apiConmon]: { anon: 1 * MB },
      [worker]: {},
      [c.worker]: { anon: 300 * MB },
      [c.workerPause]: { anon: 1 * MB },
      [db]: {},
      [c.db]: { anon: 1500 * MB },
      [dns]: {},
      [c.dns]: { anon: 100 * MB },
      [idle]: {},
      [c.idleApp]: {},
      [c.idlePause]: { anon: 1 * MB },
    },
    tasks: [
      { pid: 1, comm: "systemd", cgroup: "/" },
      { pid: 40, comm: "oomkit", cgroup: "/system.slice/oomkit.service", rssAnonKb: 40 * KB_PER_MB, oomScoreAdj: -1000 },
      { pid: 50, comm: "kubelet", cgroup: "/system.slice/kubelet.service", rssAnonKb: 2000 * KB_PER_MB, oomScoreAdj: -999 },
      ...(withBe
        ? [
            { pid: 100, comm: "pause", cgroup: c.bePause, rssAnonKb: 1 * KB_PER_MB, oomScoreAdj: -998 },
            { pid: 101, comm: "nginx", cgroup: c.nginx, rssAnonKb: 50 * KB_PER_MB, oomScoreAdj: 1000 },
          ]
        : []),
      { pid: 200, comm: "conmon", cgroup: c.apiConmon, rssAnonKb: 1 * KB_PER_MB, oomScoreAdj: -1000 },
      { pid: 201, comm: "api", cgroup: c.api, rssAnonKb: 500 * KB_PER_MB, oomScoreAdj: 900 },
      { pid: 300, comm: "pause", cgroup: c.workerPause, rssAnonKb: 1 * KB_PER_MB, oomScoreAdj: -998 },
      { pid: 301, comm: "worker", cgroup: c.worker, rssAnonKb: 250 * KB_PER_MB, oomScoreAdj: 990 },
      { pid: 302, comm: "worker-child", cgroup: c.worker, rssAnonKb: 50 * KB_PER_MB, oomScoreAdj: 1000 },
      { pid: 400, comm: "db", cgroup: c.db, rssAnonKb: 1500 * KB_PER_MB, oomScoreAdj: -997 },
      { pid: 500, comm: "coredns", cgroup: c.dns, rssAnonKb: 100 * KB_PER_MB, oomScoreAdj: -997 },
      { pid: 600, comm: "pause", cgroup: c.idlePause, rssAnonKb: 1 * KB_PER_MB, oomScoreAdj: -998 },
    ],
  };
}
