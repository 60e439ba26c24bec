/**
 * `kubernetes`: a node's OOM decided by pod QoS classes, as kubelet means them.
 *
 * Contract: the candidates are the containers of the pods under the scope (kubelet's cgroupfs and
 * systemd layouts, ./kubernetes-layout.ts), or with `kill = "pod"` the pods themselves. They rank
 * BestEffort first, then Burstable, then Guaranteed and node-critical pods last. BestEffort and
 * Guaranteed rank by usage (anon + swap: what the kill frees), Burstable by usage above request,
 * the request being memory.min where MemoryQoS writes it, else the lower bound kubelet's
 * oom_score_adj allows (./kubernetes-request.ts), else 0 (usage alone). A pod's sandbox ("pause")
 * container and CRI-O's conmon are never candidates on their own, and a pod with nothing else
 * alive is not a candidate either. The first candidate is killed whole (its cgroup); the verifier
 * spares protected tasks in it. Cgroups that are no pod's are not this policy's to rank.
 *
 * Cut short by its deadline, the best candidate so far is carried out (oc.bestSoFar).
 * Passes when the scope holds no pod, when none is killable, and on cgroup v1 / hybrid nodes
 * (system-level mode): there kubelet's oom_score_adj values already order the kernel's badness by
 * QoS class, and the next policy (ultimately `kernel`) decides by them.
 *
 * oom_score_adj is read as the snapshot gives it: when `kernel_fallback = "follow"` has raised a
 * standing victim to 1000, the daemon's snapshots show the value from before (src/daemon/follow-view.ts).
 */
import * as z from "zod";
import { type CgroupNode, type TaskNode, definePolicy, type OomControl } from "./face.js";
import { byText, memoryWithoutCache, mib, optionsOf, parseOptionsWith, unitRefusal } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";
import { type KubeCgroup, type QosClass, containerPath, kubeCgroup } from "./kubernetes-layout.js";
import { KUBELET_ADJ, type RequestEstimate, requestFromMemoryMin, requestFromOomScoreAdj, sumRequests } from "./kubernetes-request.js";

const NAME = "kubernetes";

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    /** What is killed: the chosen container's cgroup, or its whole pod. */
    kill: z.enum(["container", "pod"]).default("container"),
    /** "estimate": Burstable ranks by usage above request; "ignore": by usage alone. */
    requests: z.enum(["estimate", "ignore"]).default("estimate"),
    /** The node's memory capacity as kubelet counts it (default: MemTotal, as cadvisor reads it). */
    capacityBytes: z.number().int().positive().optional(),
  }),
);

export type KubernetesOptions = z.output<ReturnType<typeof optionsSchema>>;

type Tier = 0 | 1 | 2;

interface Container {
  readonly node: CgroupNode;
  /** kubelet's value for it: the oom_score_adj of its oldest live task. */
  readonly adj: number | undefined;
  readonly sandbox: boolean;
  readonly monitor: boolean;
  readonly live: boolean;
}

interface Pod {
  readonly path: string;
  readonly qos: QosClass;
  /** The pod's cgroup when it lies in the scope (not when the scope is one of its containers). */
  node: CgroupNode | undefined;
  readonly containers: Container[];
}

interface Candidate {
  readonly unit: CgroupNode;
  readonly tier: Tier;
  readonly label: string;
  readonly usage: number;
  readonly request: RequestEstimate | undefined;
  /** Usage above request (Burstable), or usage. */
  readonly key: number;
}

/** The oldest live task: the container's first process, whose value the runtime set for kubelet. */
function oldest(tasks: readonly TaskNode[]): TaskNode | undefined {
  let best: TaskNode | undefined;
  for (const t of tasks) if (!best || t.startTimeTicks < best.startTimeTicks || (t.startTimeTicks === best.startTimeTicks && t.pid < best.pid)) best = t;
  return best;
}

function describeContainer(node: CgroupNode, k: Extract<KubeCgroup, { kind: "container" }>): Container {
  const tasks = node.allTasks().filter((t) => !t.exiting && !t.kernelThread);
  const first = oldest(tasks);
  const adj = first?.oomScoreAdj;
  // By kubelet's value, not by name: a container's tasks choose their comm, but none can go
  // below the value the runtime wrote without CAP_SYS_RESOURCE.
  const sandbox = tasks.length > 0 && tasks.every((t) => t.oomScoreAdj === KUBELET_ADJ.sandbox);
  return { node, adj, sandbox, monitor: k.monitor, live: tasks.length > 0 };
}

/** The pods under the scope, each with its containers (the folders right below it). */
function podsIn(oc: OomControl<unknown>): Pod[] {
  const pods = new Map<string, Pod>();
  for (const c of oc.cgroups()) {
    const k = kubeCgroup(c.path);
    if (!k) continue;
    const podPath = k.kind === "pod" ? c.path : k.pod;
    let pod = pods.get(podPath);
    if (!pod) pods.set(podPath, (pod = { path: podPath, qos: k.qos, node: undefined, containers: [] }));
    if (k.kind === "pod") pod.node = c;
    else if (containerPath(c.path, k) === c.path) pod.containers.push(describeContainer(c, k));
  }
  return [...pods.values()];
}

/** BestEffort 0, Burstable 1, Guaranteed or node-critical 2 (kubelet gives critical pods −997 whatever their class). */
function tierOf(qos: QosClass, adjs: readonly (number | undefined)[]): { tier: Tier; label: string } {
  if (qos === "guaranteed") return { tier: 2, label: "Guaranteed" };
  if (adjs.includes(KUBELET_ADJ.guaranteed)) return { tier: 2, label: "node-critical" };
  return qos === "besteffort" ? { tier: 0, label: "BestEffort" } : { tier: 1, label: "Burstable" };
}

function containerRequest(c: Container, capacity: number | undefined): RequestEstimate | undefined {
  const min = requestFromMemoryMin(c.node.memory.minBytes);
  if (min) return min;
  return c.adj === undefined || capacity === undefined ? undefined : requestFromOomScoreAdj(c.adj, capacity);
}

function candidate(unit: CgroupNode, t: { tier: Tier; label: string }, request: RequestEstimate | undefined): Candidate {
  const usage = memoryWithoutCache(unit).bytes;
  const key = t.tier === 1 ? usage - (request?.bytes ?? 0) : usage;
  return { unit, tier: t.tier, label: t.label, usage, request: t.tier === 1 ? request : undefined, key };
}

/** The candidates of one pod: its app containers, or the pod whole (or, when the scope lies inside the pod, its containers). */
function candidatesOf(oc: OomControl<unknown>, pod: Pod, opts: KubernetesOptions, capacity: number | undefined): Candidate[] {
  const apps = pod.containers.filter((c) => !c.sandbox && !c.monitor);
  const live = apps.filter((c) => c.live);
  if (live.length === 0) {
    const node = pod.node ?? pod.containers[0]?.node;
    if (node && pod.containers.some((c) => c.live)) oc.skip(node, "only the pod's sandbox (pause) or runtime monitor is alive: never chosen alone");
    return [];
  }
  const request = (c: Container) => (opts.requests === "estimate" ? containerRequest(c, capacity) : undefined);
  const podNode = pod.node;
  if (opts.kill === "pod" && podNode) {
    const own = opts.requests === "estimate" ? requestFromMemoryMin(podNode.memory.minBytes) : undefined;
    const req = own ?? (opts.requests === "estimate" ? sumRequests(apps.map(request)) : undefined);
    return [candidate(podNode, tierOf(pod.qos, apps.map((c) => c.adj)), req)];
  }
  return live.map((c) => candidate(c.node, tierOf(pod.qos, [c.adj]), request(c)));
}

/** QoS tier, then usage above request (Burstable) or usage, then usage, then path. */
function order(a: Candidate, b: Candidate): number {
  return a.tier - b.tier || b.key - a.key || b.usage - a.usage || byText(a.unit.path, b.unit.path);
}

function note(c: Candidate): string {
  if (c.tier !== 1) return `${c.label}; ${mib(c.usage)} anon + swap`;
  if (!c.request) return `Burstable; request unknown (counted as 0): ${mib(c.usage)} anon + swap`;
  const r = c.request;
  const bound = r.exact ? mib(r.bytes) : r.upToBytes === Number.POSITIVE_INFINITY ? `at least ${mib(r.bytes)}` : `${mib(r.bytes)}–${mib(r.upToBytes)}`;
  return `Burstable; ${mib(c.usage)} anon + swap, request ${bound} (${r.source}): ${mib(c.key)} above it`;
}

export const kubernetes = definePolicy<KubernetesOptions>({
  name: NAME,
  description: "pod QoS classes: BestEffort first, Burstable by usage above request, Guaranteed last; a container's cgroup or its whole pod",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const opts = optionsOf(NAME, optionsSchema, oc.options);
    if (!oc.scope) return oc.pass("cgroup v1 node (system-level mode): kubelet's oom_score_adj already orders the kernel's badness by QoS class");
    const pods = podsIn(oc);
    if (pods.length === 0) return oc.pass(`no kubelet pod cgroups under ${oc.scopePath}`);
    const capacity = opts.capacityBytes ?? oc.snapshot.system.meminfo?.memTotalBytes;
    const ranked: Candidate[] = [];
    const plan = (c: Candidate) => oc.killCgroup(c.unit, `${note(c)}; ${opts.kill === "pod" ? "the whole pod" : "the container"} goes first by QoS class`);
    let lead: Candidate | undefined;
    for (const pod of pods) {
      for (const c of candidatesOf(oc, pod, opts, capacity)) {
        const refusal = unitRefusal(oc, c.unit, false);
        if (refusal) oc.skip(c.unit, refusal);
        else {
          oc.consider(c.unit, c.key, note(c));
          ranked.push(c);
          // Cut short by its deadline (a node with many pods, a machine thrashing), it acts on the best so far.
          if (!lead || order(c, lead) < 0) oc.bestSoFar(plan((lead = c)));
        }
      }
    }
    ranked.sort(order);
    oc.ranked(ranked.map((c) => c.unit));
    const best = ranked[0];
    if (!best) return oc.pass(`no killable pod under ${oc.scopePath}`);
    return plan(best);
  },
});

export default kubernetes;
